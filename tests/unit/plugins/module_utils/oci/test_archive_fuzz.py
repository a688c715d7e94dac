"""Fuzz thick-archive reading (oci.archive.ThickArchive) and the signature check on archives.

Archives are built member by member from a valid signed archive, then attacked: path traversal,
absolute paths, symbolic and hard links escaping the root, devices and FIFOs, duplicate names,
replaced or altered contents, an index.json that lies about sizes and digests, truncated or
corrupted gzip streams. Property: opening and reading everything either works or fails with a
CnabError of one sentence, and nothing is written anywhere: the working directory and the link
targets named by the archive stay as they were.
"""

import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid

import pytest
import thick_archives
from fuzzing import EXAMPLES, LONG_RUN, RUN, fuzz_settings
from hostile_registry import HostileRegistry
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout
from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive
from ansible_collections.cnab.runtime.plugins.module_utils.signing import keys, manifest, payload, transport

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BLOBS = "artifacts/layout/blobs/sha256/"
SIGNER = keys.generate_private_key()
# Link targets and absolute names point here: a reader that writes would create this directory.
ESCAPE = "/tmp/cnab-fuzz-escape-%s" % uuid.uuid4().hex


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _base():
    """Members (name -> bytes or None for a directory) of a valid, signed thick archive."""
    layer = b"layer content " * 64
    image_config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    image = layout.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": layout.descriptor("application/vnd.oci.image.config.v1+json", sha(image_config),
                                                      len(image_config)),
                          "layers": [layout.descriptor("application/vnd.oci.image.layer.v1.tar", sha(layer),
                                                       len(layer))]})
    document = {"schemaVersion": "v1.2.0", "name": "fuzzed", "version": "0.1.0",
                "invocationImages": [{"image": "example.com/fuzzed:0.1.0", "imageType": "docker",
                                      "contentDigest": sha(image), "mediaType": OCI_MANIFEST, "size": len(image)}]}
    bundle_bytes = canonical_json(document)
    index, config = layout.build_index(document, bundle_bytes, [(OCI_MANIFEST, sha(image), len(image))])
    signed = payload.build_payload("example.com/fuzzed", sha(index))
    signature_layer = manifest.layer_for(signed, manifest.sign_payload(SIGNER, signed))
    sig_raw, sig_config = manifest.build_signature_manifest([signature_layer])
    entries = [
        layout.descriptor(layout.OCI_INDEX, sha(index), len(index), {"org.opencontainers.image.ref.name": "0.1.0"}),
        layout.descriptor(OCI_MANIFEST, sha(image), len(image),
                          {"org.opencontainers.image.ref.name": "example.com/fuzzed:0.1.0"}),
        layout.descriptor(OCI_MANIFEST, sha(sig_raw), len(sig_raw),
                          {"org.opencontainers.image.ref.name": manifest.signature_tag(sha(index))}),
    ]
    members = {
        "bundle.json": bundle_bytes,
        "relocation-mapping.json": layout.dumps({"example.com/fuzzed:0.1.0": "example.com/fuzzed@" + sha(image)}),
        "artifacts/": None, "artifacts/layout/": None,
        "artifacts/layout/oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "artifacts/layout/index.json": layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_INDEX,
                                                     "manifests": entries}),
        "artifacts/layout/blobs/": None, BLOBS: None,
    }
    for blob in (layer, image_config, image, bundle_bytes, config, index, signed, sig_config, sig_raw):
        members[BLOBS + sha(blob)[7:]] = blob
    return members, sha(index)


BASE, INDEX_DIGEST = _base()
BLOB_NAMES = sorted(name for name in BASE if name.startswith(BLOBS) and BASE[name] is not None)


class Member:
    def __init__(self, name, data=None, kind=tarfile.REGTYPE, link="", size=None):
        self.name, self.data, self.kind, self.link, self.size = name, data, kind, link, size

    def tarinfo(self):
        info = tarfile.TarInfo(self.name)
        info.type = self.kind
        info.linkname = self.link
        info.mode = 0o755 if self.kind == tarfile.DIRTYPE else 0o644
        info.size = len(self.data) if self.kind == tarfile.REGTYPE and self.data is not None else 0
        return info


def base_members():
    return [Member(name, data, tarfile.DIRTYPE if data is None else tarfile.REGTYPE) for name, data in BASE.items()]


def build_tar(members, compress):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = member.tarinfo()
            tar.addfile(info, io.BytesIO(member.data) if info.size else None)
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


EVIL_NAMES = ["../evil", "a/../../evil", "./../evil", "/evil", ESCAPE + "/abs", "artifacts/layout/blobs/sha256/../../../../evil",
              "C:/evil", "artifacts/../../evil", "bundle.json/../../evil", "..", "artifacts/layout/blobs/sha256/" + "0" * 64,
              "artifacts/layout/blobs/sha256/nothex", "artifacts/layout/blobs/sha512/" + "a" * 128, "x" * 300]
LINK_TARGETS = ([ESCAPE + "/target", "../../../../" + ESCAPE.lstrip("/"), "..", "../../..", "/etc/passwd",
                 "bundle.json", "artifacts/layout/index.json"]
                + [name[len(BLOBS):] for name in BLOB_NAMES[:3]] + BLOB_NAMES[:3])
SPECIAL = [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE]
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                           lambda children: st.one_of(st.lists(children, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), children, max_size=4)),
                           max_leaves=15)


def _lying_index(draw):
    document = json.loads(BASE["artifacts/layout/index.json"])
    for entry in document["manifests"]:
        how = draw(st.sampled_from(["size", "digest", "type", "drop", "junk", "keep"]))
        if how == "size":
            entry["size"] = draw(st.one_of(st.integers(-5, 1 << 40), st.text(max_size=3), st.none()))
        elif how == "digest":
            entry["digest"] = draw(st.sampled_from(["sha256:" + "f" * 64, "sha256:xyz", "", "md5:00"] +
                                                   ["sha256:" + name[len(BLOBS):] for name in BLOB_NAMES]))
        elif how == "type":
            entry["mediaType"] = draw(st.sampled_from([layout.OCI_INDEX, OCI_MANIFEST, "text/plain", None]))
        elif how == "drop":
            entry.clear()
        elif how == "junk":
            entry[draw(st.text(max_size=5))] = draw(json_values)
    if draw(st.booleans()):
        document["manifests"].append(draw(json_values))
    if draw(st.integers(0, 9)) == 0:
        return json.dumps(draw(json_values)).encode()
    return json.dumps(document).encode()


class Archive:
    """Archive bytes, shown by hypothesis as the recipe that made them (the bytes are long)."""

    def __init__(self, raw, recipe):
        self.raw, self.recipe = raw, recipe

    def __repr__(self):
        return "Archive(%s)" % ", ".join(self.recipe)


@st.composite
def archives(draw):
    members = base_members()
    recipe = []
    for _step in range(draw(st.integers(1, 4))):
        attack = draw(st.sampled_from(["traversal", "link", "hardlink", "special", "duplicate", "replace", "flip",
                                       "drop", "index", "bundle"]))
        recipe.append(attack)
        if attack == "traversal":
            members.insert(draw(st.integers(0, len(members))), Member(draw(st.sampled_from(EVIL_NAMES)),
                                                                      draw(st.binary(max_size=64))))
        elif attack in ("link", "hardlink"):
            name = draw(st.sampled_from(EVIL_NAMES + BLOB_NAMES + ["bundle.json", "artifacts/layout/index.json"]))
            kind = tarfile.SYMTYPE if attack == "link" else tarfile.LNKTYPE
            members.insert(draw(st.integers(0, len(members))),
                           Member(name, None, kind, draw(st.sampled_from(LINK_TARGETS))))
        elif attack == "special":
            name = draw(st.sampled_from(EVIL_NAMES[:3] + BLOB_NAMES + ["bundle.json", "artifacts/layout/dev"]))
            members.insert(draw(st.integers(0, len(members))), Member(name, None, draw(st.sampled_from(SPECIAL))))
        elif attack == "duplicate":
            original = draw(st.sampled_from([m for m in members if m.data is not None] or members))
            members.append(Member(original.name, draw(st.one_of(st.just(original.data), st.binary(max_size=64)))))
        elif attack == "replace":
            target = draw(st.sampled_from(members))
            target.data, target.kind = draw(st.binary(max_size=128)), tarfile.REGTYPE
        elif attack == "flip":
            candidates = [m for m in members if m.data]
            target = draw(st.sampled_from(candidates))
            position = draw(st.integers(0, len(target.data) - 1))
            target.data = target.data[:position] + bytes([target.data[position] ^ 0x01]) + target.data[position + 1:]
        elif attack == "drop" and len(members) > 1:
            members.pop(draw(st.integers(0, len(members) - 1)))
        elif attack == "index":
            for member in members:
                if member.name == "artifacts/layout/index.json":
                    member.data = _lying_index(draw)
        elif attack == "bundle":
            for member in members:
                if member.name == "bundle.json":
                    member.data = json.dumps(draw(json_values)).encode()
    compress = draw(st.booleans())
    raw = build_tar(members, compress)
    ending = draw(st.sampled_from(["whole", "whole", "truncated", "corrupted"]))
    recipe += ["gzip" if compress else "tar", ending]
    if ending == "truncated":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    elif ending == "corrupted":
        position = draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + bytes([raw[position] ^ draw(st.integers(1, 255))]) + raw[position + 1:]
    return Archive(raw, recipe)


def snapshot(root):
    found = set()
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(directory, name), root))
    return found


def read_everything(path):
    """Everything a reader of the archive does: open, list, read every blob, find the images and
    the signatures, verify them. Returns the verdict, or None when the archive has no index."""
    with ThickArchive(path) as archive:
        assert isinstance(archive.document, dict)
        for digest in sorted(archive.blob_digests):
            with archive.open_blob(digest) as stream:
                while stream.read(65536):
                    pass
        archive.signature_manifests()
        for _role, _name, image in layout.bundle_images(archive.document):
            archive.image_manifest(image["image"])
        if archive.index_digest is None:
            return None
        return transport.verify_in_archive(archive, archive.index_digest, [SIGNER.public])


def identify(path):
    """What a no-op run reads of an archive: bundle.json, the relocation mapping, the index digest."""
    with ThickArchive(path, identify_only=True) as archive:
        return archive.document, archive.relocation_mapping, archive.index_digest


def check_archive(workdir, raw):
    path = os.path.join(workdir, "bundle.tgz")
    with open(path, "wb") as handle:
        handle.write(raw)
    before = snapshot(workdir)
    cwd = os.getcwd()
    os.chdir(workdir)  # a reader that extracted relative names would write here
    RUN["archives"] += 1
    try:
        identity = identify(path)
        read_everything(path)
    except CnabError as exc:
        message = str(exc)
        assert message and message.endswith(".") and "\n" not in message, repr(message)
        assert len(message) < 2000, message[:200]
        RUN["archives refused"] += 1
    else:  # what identifying reads agrees with the full read
        with ThickArchive(path) as archive:
            assert identity == (archive.document, archive.relocation_mapping, archive.index_digest)
    finally:
        os.chdir(cwd)
    assert snapshot(workdir) == before
    assert not os.path.exists(ESCAPE)


def test_the_base_archive_reads_and_its_signature_verifies(tmp_path):
    path = tmp_path / "bundle.tgz"
    path.write_bytes(build_tar(base_members(), compress=True))
    verdict = read_everything(str(path))
    assert verdict.verified and verdict.fingerprint == SIGNER.fingerprint
    with ThickArchive(str(path)) as archive:
        assert archive.index_digest == INDEX_DIGEST
        other = keys.generate_private_key()
        assert transport.verify_in_archive(archive, INDEX_DIGEST, [other.public]).status == "untrusted"


@pytest.mark.parametrize("attack", ["member", "link", "device", "duplicate"])
def test_each_attack_alone_is_refused(tmp_path, attack):
    members = base_members()
    if attack == "member":
        members.append(Member("../evil", b"x"))
    elif attack == "link":
        members.append(Member(BLOBS + "e" * 64, None, tarfile.SYMTYPE, ESCAPE + "/target"))
    elif attack == "device":
        members.append(Member("artifacts/layout/dev", None, tarfile.CHRTYPE))
    else:
        members.append(Member("bundle.json", b"{}"))
    path = tmp_path / "bundle.tgz"
    path.write_bytes(build_tar(members, compress=True))
    with pytest.raises(CnabError, match="refused"):
        read_everything(str(path))


def _ordered(metadata_first):
    """The base archive's members as write_archive orders them (metadata, manifests, then the other
    blobs), or with the metadata last, as an archive made by walking a directory has them."""
    manifests = {sha(BASE[name]) for name in BLOB_NAMES if b'"schemaVersion"' in BASE[name]}
    blobs = [m for m in base_members() if m.name in BLOB_NAMES]
    blobs.sort(key=lambda m: (sha(m.data) not in manifests, m.name))
    metadata = [m for m in base_members() if m.name not in BLOB_NAMES]
    return metadata + blobs if metadata_first else blobs + metadata


def test_identifying_stops_after_the_metadata_and_the_bundle_index(tmp_path):
    raw = build_tar(_ordered(metadata_first=True), compress=False)
    assert raw.index(b"layer content ") > raw.index(BASE[BLOBS + INDEX_DIGEST[7:]])
    path = tmp_path / "cut.tgz"
    # Cut short inside the layer, after the manifests: only a reader that stops before it can open it.
    path.write_bytes(gzip.compress(raw[:raw.index(b"layer content ") + 100], mtime=0))
    with ThickArchive(str(path), identify_only=True) as archive:
        assert archive.index_digest == INDEX_DIGEST and not archive.complete
        assert archive.relocation_mapping == json.loads(BASE["relocation-mapping.json"])
    with pytest.raises(CnabError, match="cannot be read|lacks|appears"):
        read_everything(str(path))


def test_identifying_reads_everything_when_the_metadata_comes_last(tmp_path):
    path = tmp_path / "walked.tgz"
    path.write_bytes(build_tar(_ordered(metadata_first=False), compress=True))
    with ThickArchive(str(path), identify_only=True) as archive:
        assert archive.index_digest == INDEX_DIGEST and archive.complete
    assert read_everything(str(path)).verified


def test_identifying_refuses_an_altered_bundle_json(tmp_path):
    members = _ordered(metadata_first=True)
    members[0] = Member("bundle.json", BASE["bundle.json"].replace(b"fuzzed", b"FUZZED"))
    path = tmp_path / "altered.tgz"
    path.write_bytes(build_tar(members, compress=True))
    with pytest.raises(CnabError, match="was altered"):
        identify(str(path))


@fuzz_settings()
@given(archive=archives())
def test_attacked_archives_fail_cleanly_and_write_nothing(tmp_path_factory, archive):
    check_archive(str(tmp_path_factory.mktemp("work")), archive.raw)


@fuzz_settings(examples=max(EXAMPLES // 3, 20))
@given(raw=st.binary(max_size=2048), compress=st.booleans())
def test_random_bytes_fail_cleanly(tmp_path_factory, raw, compress):
    check_archive(str(tmp_path_factory.mktemp("work")), gzip.compress(raw) if compress else raw)


@pytest.mark.skipif(not LONG_RUN, reason="the long run (make fuzz) checks how many archives it generated")
def test_the_long_run_generated_at_least_10000_archives():
    assert RUN["archives"] >= 10000, RUN
    print("fuzzed archives:", dict(RUN))


# ------------------------------------------------------------------ hostile index shapes (issue 16 item 5)
# index.json, relocation-mapping.json, the bundle index, its config manifest and an image manifest,
# each with nodes replaced by other types, dropped or nested up to 100,000 levels, stored under their
# own digests (whatever refers to them follows), so that the readers get past the digest checks.
# Read as cnab_install reads an archive, as cnab_bundle publish does (against a registry that lacks
# every image), and served by a registry to pull and copy: each works or fails with one sentence.
HOSTILE_DOCUMENT = {"schemaVersion": "v1.2.0", "name": "hostile", "version": "1.0.0",
                    "invocationImages": [{"image": "example.com/hostile/run:1.0.0", "imageType": "docker"}],
                    "images": {"db": {"image": "example.com/hostile/db:1.0.0", "imageType": "docker"}}}
VALID_DOCUMENTS = thick_archives.documents(HOSTILE_DOCUMENT)
DEEP_MARK = "\x00deep\x00"
hostile_values = st.one_of(json_values, st.just(DEEP_MARK), st.builds(list), st.builds(dict), st.just("sha256:" + "0" * 64),
                           st.lists(st.text(max_size=3), max_size=3), st.integers(-2, 1 << 70))


def _containers(value, path=()):
    if isinstance(value, (dict, list)):
        yield path, value
        for key, child in (value.items() if isinstance(value, dict) else enumerate(value)):
            yield from _containers(child, path + (key,))


def _mutate(draw, document):
    containers = list(_containers(document))
    if not containers or draw(st.integers(0, 19)) == 0:
        return draw(hostile_values)
    _path, container = draw(st.sampled_from(containers))
    keys = list(container) if isinstance(container, dict) else list(range(len(container)))
    how = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    if how == "replace" and keys:
        container[draw(st.sampled_from(keys))] = draw(hostile_values)
    elif how == "drop" and keys:
        container.pop(draw(st.sampled_from(keys)))
    elif isinstance(container, dict):
        container[draw(st.sampled_from(["annotations", "digest", "size", "mediaType", "manifests", "layers",
                                        "config", "urls", "platform"]) | st.text(max_size=5))] = draw(hostile_values)
    else:
        container.append(draw(hostile_values))
    return document


@st.composite
def hostile_documents(draw):
    target = draw(st.sampled_from(thick_archives.TARGETS))
    document = json.loads(json.dumps(VALID_DOCUMENTS[target]))
    for _step in range(draw(st.integers(1, 3))):
        document = _mutate(draw, document)
    text = json.dumps(document)
    depth = draw(st.one_of(st.integers(1, 150), st.integers(150, 100000)))
    kind = draw(st.sampled_from(["[%s]", '{"a":%s}']))
    nested = kind.split("%s")[0] * depth + "1" + kind.split("%s")[1] * depth
    return target, text.replace(json.dumps(DEEP_MARK), nested).encode()


class _HostileReads:
    registry = None

    @classmethod
    def get(cls):
        if cls.registry is None:
            cls.registry = HostileRegistry().__enter__()
        return cls.registry


def _refused_cleanly(read):
    try:
        read()
    except CnabError as exc:
        message = str(exc)
        assert message and message.endswith(".") and "\n" not in message, repr(message)
        assert len(message) < 2000, message[:200]
        return True
    return False


def _install_reads(path):
    from ansible_collections.cnab.runtime.plugins.module_utils import sources
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers import docker_load

    source = sources.open_source(path)
    image = source.image_source(source.bundle.invocation_image())
    with ThickArchive(path) as opened:
        docker_load._image_manifest(thick_archives.EnginePlatform(), opened, image)


HOSTILE_EXAMPLES = EXAMPLES if LONG_RUN else max(EXAMPLES // 3, 20)  # each reads an archive three ways


@fuzz_settings(examples=HOSTILE_EXAMPLES)
@given(hostile=hostile_documents())
def test_hostile_archive_indexes_fail_cleanly(tmp_path_factory, hostile):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import publish_archive

    target, raw = hostile
    workdir = str(tmp_path_factory.mktemp("hostile"))
    entries, _digest = thick_archives.members(HOSTILE_DOCUMENT, {target: raw})
    path = thick_archives.write(os.path.join(workdir, "hostile.tgz"), entries)
    registry = _HostileReads.get()
    before = snapshot(workdir)
    RUN["hostile indexes"] += 1
    refused = _refused_cleanly(lambda: _install_reads(path))
    refused |= _refused_cleanly(lambda: publish_archive(path, "%s/fuzz/bundle:1" % registry.host, check_mode=True))
    RUN["hostile indexes refused"] += refused
    assert snapshot(workdir) == before


REGISTRY_TARGETS = ("bundle index", "config manifest", "image manifest")


@fuzz_settings(examples=HOSTILE_EXAMPLES)
@given(hostile=hostile_documents().filter(lambda found: found[0] in REGISTRY_TARGETS))
def test_hostile_registry_manifests_fail_cleanly(hostile):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci import distribution

    target, raw = hostile
    entries, index_digest = thick_archives.members(HOSTILE_DOCUMENT, {target: raw})
    registry = _HostileReads.get()
    registry.manifests.clear()
    registry.blobs.clear()
    for name, data in entries:
        if data is not None and name.startswith(BLOBS):
            registry.put_manifest("fuzz/source", data, layout.OCI_INDEX if sha(data) == index_digest else OCI_MANIFEST)
            registry.put_blob(data)
    registry.manifests[("fuzz/source", "1")] = registry.manifests[("fuzz/source", index_digest)]
    RUN["hostile registry manifests"] += 1
    source = "%s/fuzz/source:1" % registry.host
    refused = _refused_cleanly(lambda: distribution.pull_bundle(source))
    refused |= _refused_cleanly(lambda: distribution.copy_bundle(source, "%s/fuzz/copy:1" % registry.host,
                                                                 check_mode=True))
    RUN["hostile registry manifests refused"] += refused


@pytest.mark.skipif(not LONG_RUN, reason="the long run (make fuzz) checks how many documents it generated")
def test_the_long_run_generated_at_least_10000_hostile_indexes():
    assert RUN["hostile indexes"] >= 10000 and RUN["hostile registry manifests"] >= 10000, RUN
    print("fuzzed hostile indexes:", dict(RUN))
