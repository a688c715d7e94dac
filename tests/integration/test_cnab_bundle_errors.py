"""Bad input on the distribution path: every failure is one clear sentence and leaves nothing
half-written (no partial archive, no tag moved)."""

import io
import os
import tarfile
import time

import pytest
import registries as registry_fixtures
from registries import push_random_image, unused_port
from support import HELLO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ArchiveError,
    BundleError,
    ContentDigestMismatch,
    RegistryAuthError,
    RegistryError,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution
from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient

registries = registry_fixtures.registries  # a pytest fixture, re-exported
repo_name = registry_fixtures.repo_name  # a pytest fixture, re-exported


def one_sentence(exc):
    text = str(exc)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text, text
    return text


def tag_digest(registry, repo, tag):
    found = RegistryClient(registry.auth, registry.host).head_manifest(repo, tag)
    return found[0] if found else None


def tamper(path, offset=-1):
    with open(path, "r+b") as handle:
        handle.seek(offset, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))


def unique_bundle(registries, repo_name):
    """The hello bundle with a unique description and a unique component image of random bytes."""
    document = load_bundle(HELLO).document
    document["description"] = "tamper target %s" % repo_name
    image, layer = push_random_image(registries.open, repo_name + "-img", size=300000)
    document["images"] = {"random": {"image": image, "imageType": "oci"}}
    return document, layer


@pytest.fixture
def pushed(images, registries, repo_name):
    return distribution.push_bundle(load_bundle(HELLO).document, registries.open.ref(repo_name, "v1"))


def test_tampered_blobs_in_the_registry_are_refused(images, registries, repo_name, tmp_path):
    # Tampering changes the registry's content-addressed storage: only blobs unique to this test.
    document, layer = unique_bundle(registries, repo_name)
    pushed = distribution.push_bundle(document, registries.open.ref(repo_name, "v1"))
    tamper(registries.open.blob_path(layer))
    out = tmp_path / "hello.tgz"
    with pytest.raises(ContentDigestMismatch) as caught:
        archive.write_archive(pushed.reference, str(out))
    assert layer in one_sentence(caught.value)
    assert os.listdir(tmp_path) == []  # no partial archive, no temporary file
    with pytest.raises(ContentDigestMismatch):
        distribution.copy_bundle(pushed.reference, registries.basic.ref(repo_name, "v1"), registries.basic.auth)
    assert tag_digest(registries.basic, repo_name, "v1") is None

    tamper(registries.open.blob_path(pushed.bundle_digest))
    with pytest.raises(ContentDigestMismatch) as caught:
        distribution.pull_bundle(pushed.reference)
    one_sentence(caught.value)


def test_tampered_archive_is_not_published(images, registries, repo_name, tmp_path):
    document, _layer = unique_bundle(registries, repo_name)
    pushed = distribution.push_bundle(document, registries.open.ref(repo_name, "v1"))
    tar = str(tmp_path / "hello.tar")
    archive.write_archive(pushed.reference, tar, compression="none")
    with archive.ThickArchive(tar) as thick:
        biggest = max(thick.blob_digests, key=thick.blob_size)
        offset = thick._offsets[biggest] + thick.blob_size(biggest) // 2
    with open(tar, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ContentDigestMismatch) as caught:
        archive.publish_archive(tar, registries.token.ref(repo_name, "v1"), registries.token.auth)
    one_sentence(caught.value)
    assert tag_digest(registries.token, repo_name, "v1") is None

    tgz = str(tmp_path / "hello.tgz")
    archive.write_archive(pushed.reference, tgz)
    with archive.ThickArchive(tgz) as thick:
        small = thick.index.config["digest"]  # the config manifest, unique to this bundle
    rebuilt = str(tmp_path / "rebuilt.tgz")
    with tarfile.open(tgz) as source, tarfile.open(rebuilt, "w:gz") as target:
        for member in source:
            data = source.extractfile(member).read() if member.isreg() else None
            if member.name.endswith(small[7:]):
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    with pytest.raises(ContentDigestMismatch) as caught:
        archive.publish_archive(rebuilt, registries.token.ref(repo_name, "v2"), registries.token.auth)
    assert "altered" in one_sentence(caught.value)
    assert tag_digest(registries.token, repo_name, "v2") is None


def test_missing_image_moves_no_tag(images, registries, repo_name, pushed, tmp_path):
    document = load_bundle(HELLO).document
    document["images"] = {"gone": {"image": registries.open.ref(repo_name + "-nothing", "v1"), "imageType": "oci"}}
    with pytest.raises(BundleError) as caught:
        distribution.push_bundle(document, registries.open.ref(repo_name, "v1"))
    assert "neither in its registry nor in the local Docker engine" in one_sentence(caught.value)
    assert tag_digest(registries.open, repo_name, "v1") == pushed.index_digest
    out = tmp_path / "x.tgz"
    with pytest.raises(BundleError):
        archive.write_archive(document, str(out))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("which", ["basic", "token"])
def test_wrong_credentials(images, registries, repo_name, which):
    registry = getattr(registries, which)
    for auth in ({"username": "cnab", "password": "not-the-password"}, None):
        with pytest.raises(RegistryAuthError) as caught:
            distribution.push_bundle(load_bundle(HELLO).document, registry.ref(repo_name, "v1"), auth)
        text = one_sentence(caught.value)
        assert "not-the-password" not in text and registry.host in text


def test_registry_down_fails_fast(images, tmp_path):
    down = "127.0.0.1:%d" % unused_port()
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        distribution.pull_bundle(down + "/x/y:v1", {"retries": 1, "timeout": 5})
    assert "cannot be reached" in one_sentence(caught.value)
    assert time.monotonic() - started < 10
    with pytest.raises(RegistryError):
        archive.write_archive(down + "/x/y:v1", str(tmp_path / "y.tgz"), {"retries": 0})
    assert os.listdir(tmp_path) == []


def test_not_a_bundle(registries, repo_name, pushed):
    image = pushed.relocation_mapping["cnab-examples/hello:0.1.0"]
    with pytest.raises(BundleError) as caught:
        distribution.pull_bundle(image)
    assert "not a CNAB bundle" in one_sentence(caught.value) or "not an image index" in str(caught.value)


@pytest.mark.parametrize("name,kind,link", [
    ("../evil", tarfile.REGTYPE, ""),
    ("/etc/evil", tarfile.REGTYPE, ""),
    ("artifacts/../../evil", tarfile.REGTYPE, ""),
    ("artifacts/link", tarfile.SYMTYPE, "../../etc/passwd"),
    ("artifacts/abs", tarfile.SYMTYPE, "/etc/passwd"),
    ("artifacts/hard", tarfile.LNKTYPE, "../outside"),
    ("artifacts/dev", tarfile.CHRTYPE, ""),
    ("artifacts/fifo", tarfile.FIFOTYPE, ""),
    ("bundle.json", tarfile.REGTYPE, ""),  # a second bundle.json: duplicate name
])
def test_unsafe_archives_are_refused(tmp_path, name, kind, link):
    path = str(tmp_path / "evil.tgz")
    with tarfile.open(path, "w:gz") as tar:
        for member_name, member_kind, member_link in (("bundle.json", tarfile.REGTYPE, ""), (name, kind, link)):
            info = tarfile.TarInfo(member_name)
            info.type = member_kind
            info.linkname = member_link
            data = b"{}" if member_kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError) as caught:
        with archive.ThickArchive(path):
            pass
    one_sentence(caught.value)
    with pytest.raises(ArchiveError):
        archive.publish_archive(path, "127.0.0.1:5100/never/written:v1")


def test_pinned_digest_must_match(images, registries, repo_name, tmp_path):
    """A bundle image pinned by contentDigest that is not what the registry or engine has is refused."""
    document = load_bundle(HELLO).document
    document["invocationImages"][0]["contentDigest"] = "sha256:" + "0" * 64
    with pytest.raises(ContentDigestMismatch) as caught:
        distribution.push_bundle(document, registries.open.ref(repo_name, "v1"))
    assert "pins it to sha256:000" in one_sentence(caught.value)
    assert tag_digest(registries.open, repo_name, "v1") is None
    with pytest.raises(ContentDigestMismatch):
        archive.write_archive(document, str(tmp_path / "x.tgz"))
    assert os.listdir(tmp_path) == []
