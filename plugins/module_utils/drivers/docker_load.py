"""Load an invocation image from a thick bundle archive into the Docker engine, with no registry.

The archive holds the image as an OCI image layout entry (manifest, config and layer blobs).
Docker 20.10's ``/images/load`` only reads the ``docker save`` format (``manifest.json`` naming a
config file and layer tars), so the entry is turned into that format on the fly: a generator yields
tar headers and the blobs, streamed (and digest-verified) from the archive, straight into the
SDK's ``load_image``. No layer is copied to disk or held in memory on our side; the engine checks
every layer against the config's ``diff_ids`` and names the image by the sha256 of the config,
which is checked against the manifest's config digest afterwards.
"""

import hashlib
import json
import re
import tarfile

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ImageDigestMismatch, ImageNotFound
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import INDEX_TYPES
from ansible_collections.cnab.runtime.plugins.module_utils.oci.layout import (
    check_descriptors,
    descriptor_problem,
    read_json,
)

CHUNK = 1024 * 1024
_BLOCK = 512
# Image ids go into Engine API paths (/images/<id>/json): only a well-formed config digest may.
IMAGE_ID = re.compile(r"sha256:[a-f0-9]{64}")


def _recorded_image(api, source):
    """The engine's image the claim recorded for ``source`` (by image id), or None."""
    import docker

    ids = (source.recorded or {}).get("imageIds") or {}
    image_id = ids.get("")
    if image_id is None and ids:
        version = api.version()
        image_id = ids.get("%s/%s" % (version.get("Os") or "linux", version.get("Arch") or "amd64"))
    if not isinstance(image_id, str) or not IMAGE_ID.fullmatch(image_id):
        return None
    try:
        return api.inspect_image(image_id)  # an image id is its config's digest: the same image
    except docker.errors.ImageNotFound:
        return None


def ensure_loaded(api, source):
    """The engine's ``inspect_image`` of the archived image ``source.original``: the image id a
    claim recorded when the engine has it (the archive is not opened), else loaded from the archive
    ``source.archive`` unless the engine already has the archived image id."""
    import os

    import docker

    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

    image = _recorded_image(api, source)
    if image is not None:
        return image
    if source.recorded and not os.path.isfile(source.archive):
        raise ImageNotFound("the image %s is no longer in the Docker engine and the archive %s it was installed from "
                            "no longer exists; restore the archive or load the image." % (source.original, source.archive))
    with ThickArchive(source.archive) as archive:
        recorded_manifest = (source.recorded or {}).get("manifestDigest")
        if recorded_manifest and archive.image_digest(source.original) != recorded_manifest:
            raise ImageDigestMismatch("the archive %s now holds another image %s than the one installed (%s)."
                                      % (source.archive, source.original, recorded_manifest))
        manifest = _image_manifest(api, archive, source)
        config = manifest.get("config") or {}
        image_id = config.get("digest")
        if not isinstance(image_id, str) or not IMAGE_ID.fullmatch(image_id):
            raise ImageNotFound("the image %s in archive %s has no sha256 config digest." % (source.original, source.archive))
        try:
            return api.inspect_image(image_id)  # loaded before: an image id is its config's digest
        except docker.errors.ImageNotFound:
            pass
        tag = loaded_tag(source.original, image_id)
        for message in api.load_image(docker_save_stream(archive, manifest, tag), quiet=True):
            if isinstance(message, dict) and (message.get("error") or message.get("errorDetail")):
                detail = message.get("error") or (message.get("errorDetail") or {}).get("message")
                raise ImageNotFound("Docker could not load image %s from archive %s: %s."
                                    % (source.original, source.archive, str(detail).rstrip(".")))
    image = api.inspect_image(tag)
    if image.get("Id") != image_id:
        raise ImageDigestMismatch("the image Docker loaded from archive %s has id %s, not the archived config digest %s."
                                  % (source.archive, image.get("Id"), image_id))
    return image


def loaded_tag(original, image_id):
    """``<original repository>:sha256-<config hex>``: names the loaded image after the bundle's
    image without taking over a tag of the user's, and keeps it from being pruned as dangling."""
    from docker.utils import parse_repository_tag

    repository = parse_repository_tag(original or "")[0] or "cnab-archive/image"
    return "%s:sha256-%s" % (repository, image_id.split(":", 1)[1])


def _image_manifest(api, archive, source):
    """The image manifest (dict) of ``source.original``, its bytes checked against the bundle's
    ``contentDigest``; an index is resolved to the engine's platform."""
    raw, media_type = archive.image_manifest(source.original)
    if source.digest and "sha256:" + hashlib.sha256(raw).hexdigest() != source.digest:
        raise ImageDigestMismatch("the image %s in archive %s does not match the bundle's contentDigest %s."
                                  % (source.original, source.archive, source.digest))
    what = "The image manifest of %s in archive %s" % (source.original, source.archive)
    document = read_json(raw, what)
    if isinstance(document, dict) and (media_type in INDEX_TYPES or document.get("manifests") is not None):
        child = _platform_child(api, document, source)
        with archive.open_blob(child["digest"]) as stream:
            document = read_json(b"".join(_chunks(stream)), what)
    if not isinstance(document, dict):
        raise ImageNotFound("%s is not a JSON object." % what)
    problem = descriptor_problem(document.get("config"))
    if problem:
        raise ImageNotFound("%s has a config that %s." % (what, problem))
    check_descriptors(document.get("layers"), "layers of the image %s" % source.original, ImageNotFound)
    return document


def _platform_child(api, index, source):
    version = api.version()
    wanted = (version.get("Os") or "linux", version.get("Arch") or "amd64")
    children = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    for child in children:
        platform = child.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == wanted:
            return child
    raise ImageNotFound("the image %s in archive %s has no variant for %s/%s." % ((source.original, source.archive) + wanted))


def docker_save_stream(archive, manifest, tag):
    """The image as a ``docker save`` tar, generated chunk by chunk from the archive's blobs.

    The engine unpacks the whole tar before it reads ``manifest.json``, so the layers are sent in
    the order the archive holds them: one pass over a compressed archive."""
    config = manifest["config"]
    config_name = config["digest"].split(":", 1)[1] + ".json"
    sizes, layer_names = {}, []
    for layer in manifest.get("layers") or []:
        layer_names.append(layer["digest"].split(":", 1)[1] + ".tar")  # gzip or plain: the engine inflates either
        sizes[layer["digest"]] = int(layer["size"])
    yield from _member(config_name, int(config["size"]), archive.open_blob(config["digest"]), config["digest"])
    iter_blobs = getattr(archive, "iter_blobs", None)
    if iter_blobs is not None:
        blobs = iter_blobs(list(sizes))
    else:
        blobs = ((digest, size, archive.open_blob(digest)) for digest, size in list(sizes.items()))
    for digest, _size, reader in blobs:
        yield from _member(digest.split(":", 1)[1] + ".tar", sizes.pop(digest), reader, digest)
    if sizes:
        raise ImageNotFound("the archive lacks layer %s of the invocation image." % sorted(sizes)[0])
    index = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]).encode()
    yield _header("manifest.json", len(index)) + index + _padding(len(index))
    yield b"\0" * (2 * _BLOCK)  # end of archive


def _member(name, size, reader, digest):
    yield _header(name, size)
    sent = 0
    with reader:  # verified against the digest while read: a tampered blob raises at its end
        for chunk in _chunks(reader):
            sent += len(chunk)
            if sent > size:
                break
            yield chunk
    if sent != size:
        raise ImageDigestMismatch("the blob %s in the archive is not the %d bytes its manifest declares." % (digest, size))
    yield _padding(size)


def _chunks(stream):
    read = getattr(stream, "read", None)
    if read is None:
        yield from stream
        return
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        yield chunk


def _header(name, size):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(tarfile.USTAR_FORMAT)


def _padding(size):
    return b"\0" * (-size % _BLOCK)
