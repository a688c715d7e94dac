"""Thick archives of a given bundle.json, member by member, for tests that need to alter them.

The images are small made-up OCI manifests (one config, one layer each); the index, config manifest
and index.json are made by the collection's own layout code, in write_archive's order (metadata,
manifests, then the other blobs), so an archive identifies from its first members.
"""

import gzip
import hashlib
import io
import json
import tarfile

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout

OCI_MANIFEST = layout.OCI_MANIFEST
LAYOUT = "artifacts/layout/"
BLOBS = LAYOUT + "blobs/sha256/"
REF_NAME = "org.opencontainers.image.ref.name"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(name):
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"name":"%s"}' % name.encode()
    layer = b"layer of " + name.encode() * 8
    manifest = layout.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                             "config": layout.descriptor("application/vnd.oci.image.config.v1+json", sha(config),
                                                         len(config)),
                             "layers": [layout.descriptor("application/vnd.oci.image.layer.v1.tar", sha(layer),
                                                          len(layer))]})
    return manifest, [config, layer]


TARGETS = ("index.json", "relocation-mapping.json", "bundle index", "config manifest", "image manifest")


def members(document, replace=None):
    """``([(name, bytes or None for a directory)], index digest)`` of a thick archive of ``document``.

    ``replace`` maps a name of TARGETS to the raw bytes to use instead of the generated document;
    whatever refers to a replaced document (by digest and size) is rewritten to refer to the
    replacement, so a reader gets past the digest checks to the content."""
    replace = dict(replace or {})
    bundle_bytes = canonical_json(document)
    manifests, others, placed, entries, mapping = [], [], [], [], {}
    for position, (_role, _name, image) in enumerate(layout.bundle_images(document)):
        manifest, blobs = _image(image["image"])
        if position == 0 and "image manifest" in replace:
            manifest = replace["image manifest"]
        placed.append((OCI_MANIFEST, sha(manifest), len(manifest)))
        manifests.append(manifest)
        others += blobs
        entries.append(layout.descriptor(OCI_MANIFEST, sha(manifest), len(manifest), {REF_NAME: image["image"]}))
        mapping[image["image"]] = "example.com/bundle@" + sha(manifest)
    index, config = layout.build_index(document, bundle_bytes, placed)
    if "config manifest" in replace:
        config = replace["config manifest"]
        parsed = json.loads(index)
        parsed["manifests"][0].update(digest=sha(config), size=len(config))
        index = layout.dumps(parsed)
    index = replace.get("bundle index", index)
    entries.insert(0, layout.descriptor(layout.OCI_INDEX, sha(index), len(index), {REF_NAME: "1.0.0"}))
    index_json = layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_INDEX, "manifests": entries})
    found = [
        ("bundle.json", bundle_bytes),
        ("relocation-mapping.json", replace.get("relocation-mapping.json", layout.dumps(mapping))),
        ("artifacts/", None), (LAYOUT, None),
        (LAYOUT + "oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        (LAYOUT + "index.json", replace.get("index.json", index_json)),
        (LAYOUT + "blobs/", None), (BLOBS, None),
    ]
    names = set()
    for blob in [index, config] + manifests + [bundle_bytes] + others:
        if BLOBS + sha(blob)[7:] not in names:
            names.add(BLOBS + sha(blob)[7:])
            found.append((BLOBS + sha(blob)[7:], blob))
    return found, sha(index)


def documents(document):
    """The valid JSON documents of TARGETS (parsed) in an archive of ``document``."""
    found, _digest = members(document)
    by_name = dict(found)
    index_json = json.loads(by_name[LAYOUT + "index.json"])
    bundle_index = json.loads(by_name[BLOBS + index_json["manifests"][0]["digest"][7:]])
    config = json.loads(by_name[BLOBS + bundle_index["manifests"][0]["digest"][7:]])
    image = json.loads(by_name[BLOBS + bundle_index["manifests"][1]["digest"][7:]])
    return {"index.json": index_json, "relocation-mapping.json": json.loads(by_name["relocation-mapping.json"]),
            "bundle index": bundle_index, "config manifest": config, "image manifest": image}


def tar_bytes(entries, compress=True):
    """``entries``: ``(name, bytes or None)`` or ready-made ``(TarInfo, bytes or None)`` pairs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            if isinstance(name, tarfile.TarInfo):
                info = name
            else:
                info = tarfile.TarInfo(name)
                info.type = tarfile.DIRTYPE if data is None else tarfile.REGTYPE
                info.mode = 0o755 if data is None else 0o644
                info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def write(path, entries, compress=True):
    with open(path, "wb") as handle:
        handle.write(tar_bytes(entries, compress))
    return str(path)


def unsafe_member(kind):
    """A member every archive reader must refuse, to append after the bundle index."""
    if kind == "traversal":
        return "../../escaped.txt", b"x"
    info = tarfile.TarInfo({"symlink": "artifacts/escape", "device": "artifacts/dev"}[kind])
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    else:
        info.type = tarfile.CHRTYPE
    return info, None


class EnginePlatform:
    """Stands in for the Docker API where only the engine's platform is asked (an image index's
    variant is chosen by it), so that the archive's image manifests are read as the driver reads them."""

    def version(self):
        return {"Os": "linux", "Arch": "amd64"}
