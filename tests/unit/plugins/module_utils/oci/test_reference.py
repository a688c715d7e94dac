"""Reference parsing for bundles and images (Docker reference grammar)."""

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.errors import InvalidReference
from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import is_loopback
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import looks_like_reference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,registry,repository,tag,digest", [
    ("127.0.0.1:5100/bundles/app:v1", "127.0.0.1:5100", "bundles/app", "v1", None),
    ("localhost/app@" + DIGEST, "localhost", "app", None, DIGEST),
    ("registry.example.com/a/b/c:1.0@" + DIGEST, "registry.example.com", "a/b/c", "1.0", DIGEST),
    ("busybox", "docker.io", "library/busybox", None, None),
    ("example/app:0.1.0", "docker.io", "example/app", "0.1.0", None),
    ("[::1]:5000/app:x", "[::1]:5000", "app", "x", None),
])
def test_parse(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert str(ref.pinned(DIGEST)).endswith("@" + DIGEST)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize("text", ["", " x", "Host.example.com/UPPER:v1", "a.io/x@sha256:short", "a.io/x:bad tag",
                                  "a.io/x@md5:" + "a" * 32, "a.io//x"])
def test_invalid(text):
    with pytest.raises(InvalidReference):
        parse_reference(text)


def test_looks_like_reference(tmp_path):
    assert looks_like_reference("127.0.0.1:5100/a:v1")
    assert looks_like_reference("registry.example.com/a@" + DIGEST)
    assert not looks_like_reference("bundle.json")
    assert not looks_like_reference("bundles/app")          # no registry host: a relative path
    assert not looks_like_reference("registry.example.com/app.tgz")
    local = tmp_path / "registry.example.com"
    local.mkdir()
    (local / "app").mkdir()
    assert not looks_like_reference(str(local / "app"))


def test_loopback():
    assert is_loopback("127.0.0.1:5100") and is_loopback("localhost") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.example.com:5000") and not is_loopback("10.0.0.1")
