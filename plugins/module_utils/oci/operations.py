"""What cnab_bundle does, decided by the forms of ``src`` and ``dest``:

    src                          dest                       operation
    bundle.json or its dir       host/repo:tag              push
    host/repo:tag|@digest        host/repo:tag              copy
    reference or bundle.json     *.tgz                      archive
    *.tgz                        host/repo:tag              publish
    host/repo:tag|@digest        directory or *.json        pull
    host/repo:tag|@digest        (none)                     inspect
"""

import json
import os
import tempfile

from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import looks_like_reference


def _is_archive(text):
    return isinstance(text, str) and text.endswith((".tgz", ".tar.gz", ".tar"))


def operation_for(src, dest):
    if _is_archive(src):
        if dest and looks_like_reference(dest):
            return "publish"
        raise BundleError("An archive src %s can only be published: set dest to host/repository:tag." % src)
    src_is_ref = looks_like_reference(src)
    if not dest:
        if src_is_ref:
            return "inspect"
        raise BundleError("dest is required unless src is a registry reference to inspect.")
    if _is_archive(dest):
        return "archive"
    if looks_like_reference(dest):
        return "copy" if src_is_ref else "push"
    if src_is_ref:
        return "pull"
    raise BundleError("Neither src %s nor dest %s is a registry reference (host[:port]/repository:tag)." % (src, dest))


def _local_document(src):
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle

    return load_bundle(src).document


def run(src, dest=None, registry_options=None, dest_registry_options=None, compression="gzip", check_mode=False,
        dependencies=None):
    """Run the operation; returns the module result (``changed``, ``operation``, digests, ``diff``).
    ``dependencies``: carry the bundle's dependencies along a push, copy or publish (when true, see
    oci/carry.py) or leave them out of an archive (when false); None is each operation's default."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution

    operation = operation_for(src, dest)
    if dependencies and operation in ("pull", "inspect"):
        raise BundleError("dependencies: true carries dependencies along a push, copy, publish or archive, not a %s."
                          % operation)
    carried = _carry(operation, src, dest, registry_options, dest_registry_options, check_mode) \
        if dependencies and operation in WRITES_DEPENDENCIES else None
    if operation == "push":
        result = distribution.push_bundle(_local_document(src), dest, registry_options, check_mode)
    elif operation == "copy":
        result = distribution.copy_bundle(src, dest, registry_options, dest_registry_options, check_mode)
    elif operation == "publish":
        result = archive.publish_archive(src, dest, dest_registry_options or registry_options, check_mode)
    elif operation == "archive":
        source = src if looks_like_reference(src) else _local_document(src)
        result = archive.write_archive(source, dest, registry_options, compression, check_mode,
                                       dependencies=dependencies is not False)
        return _archive_output(result)
    else:
        pulled = distribution.pull_bundle(src, registry_options)
        output = dict(changed=False, operation=operation, **pulled.as_dict())
        if operation == "pull":
            output["path"], output["changed"] = write_pulled(pulled, dest, check_mode)
        output["diff"] = dict(before="", after="") if not output["changed"] else \
            dict(before="", after="%s\n" % output["path"])
        return output
    output = _push_output(operation, result)
    if carried is not None:
        _add_carried(output, carried)
    return output


WRITES_DEPENDENCIES = ("push", "copy", "publish")


def _carry(operation, src, dest, registry_options, dest_registry_options, check_mode):
    """Every dependency to its placement next to ``dest``, before the root (oci/carry.py)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci import carry

    if operation == "publish":
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

        with ThickArchive(src, identify_only=True) as root:
            document = root.document
        return carry.from_archive(src, document, dest, dest_registry_options or registry_options, check_mode)
    if operation == "push":
        return carry.from_registries(_local_document(src), dest, registry_options, dest_registry_options, check_mode)
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import pull_bundle

    return carry.from_registries(pull_bundle(src, registry_options, verify_images=False).document, dest,
                                 registry_options, dest_registry_options, check_mode, near=src)


def _add_carried(output, carried):
    output["dependencies"] = carried
    output["changed"] = output["changed"] or any(entry["changed"] for entry in carried.values())
    moved = ["%s: %s\n" % (entry["reference"] or "", entry["digest"]) for _path, entry in sorted(carried.items())
             if entry["transfer"].get("tag_moved")]
    output["diff"]["after"] += "".join(moved)


def _push_output(operation, result):
    output = dict(changed=result.changed, operation=operation, **result.as_dict())
    before = result.stats.tag_before or "(none)"
    after = result.index_digest or "(new digest, known after the images are exported)"
    output["diff"] = dict(before="%s: %s\n" % (output["reference"] or "", before) if result.stats.tag_moved else "",
                          after="%s: %s\n" % (output["reference"] or "", after) if result.stats.tag_moved else "")
    return output


def _archive_output(result):
    output = dict(changed=result.changed, operation="archive", **result.as_dict())
    output["diff"] = dict(before="" if result.changed else "%s: %s\n" % (result.path, result.index_digest),
                          after="%s: %s\n" % (result.path, result.index_digest))
    return output


def write_pulled(pulled, dest, check_mode):
    """Write bundle.json (raw bytes as stored) and relocation-mapping.json; ``(path, changed)``."""
    dest = os.path.abspath(os.path.expanduser(dest))
    if dest.endswith(".json"):
        files = {dest: pulled.bundle_bytes}
    else:
        files = {os.path.join(dest, "bundle.json"): pulled.bundle_bytes,
                 os.path.join(dest, "relocation-mapping.json"):
                     json.dumps(pulled.relocation_mapping, indent=2, sort_keys=True).encode() + b"\n"}
    changed = False
    for path, data in files.items():
        try:
            with open(path, "rb") as handle:
                if handle.read() == data:
                    continue
        except OSError:
            pass
        changed = True
        if not check_mode:
            _atomic_write(path, data)
    return (dest if dest.endswith(".json") else os.path.join(dest, "bundle.json")), changed


def _atomic_write(path, data):
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".cnab-", delete=False)
    except OSError as exc:
        raise BundleError("%s cannot be written (%s)." % (path, exc.strerror or exc)) from None
    try:
        with handle:
            handle.write(data)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
