"""The cnab-to-oci layout: index order, annotations, media types, and the verifying reader."""

import hashlib
import io
import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, ContentDigestMismatch
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import VerifyingReader

DOC = {"schemaVersion": "v1.2.0", "name": "app", "version": "1.0.0", "description": "d", "keywords": ["a", "b"],
       "maintainers": [{"name": "m"}], "invocationImages": [{"image": "example/inv:1", "imageType": "docker"}],
       "images": {"zz": {"image": "example/zz:1"}, "aa": {"image": "example/aa:1"}}}


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_index_follows_cnab_to_oci():
    bundle = b'{"name":"app"}'
    images = [(layout.OCI_MANIFEST, sha(b"inv"), 10), (layout.OCI_MANIFEST, sha(b"aa"), 11),
              (layout.DOCKER_MANIFEST, sha(b"zz"), 12)]
    raw, config_raw = layout.build_index(DOC, bundle, images)
    index = json.loads(raw)
    assert "mediaType" not in index and "artifactType" not in index  # cnab-to-oci writes neither
    kinds = [(m["annotations"]["io.cnab.manifest.type"], m["annotations"].get("io.cnab.component.name"))
             for m in index["manifests"]]
    assert kinds == [("config", None), ("invocation", None), ("component", "aa"), ("component", "zz")]
    assert index["manifests"][0]["digest"] == sha(config_raw)
    assert json.loads(config_raw)["config"] == {"mediaType": "application/vnd.cnab.config.v1+json",
                                                "digest": sha(bundle), "size": len(bundle)}
    assert index["annotations"] == {
        "io.cnab.keywords": '["a","b"]', "io.cnab.runtime_version": "v1.2.0",
        "org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1",
        "org.opencontainers.image.authors": '[{"name":"m"}]', "org.opencontainers.image.description": "d",
        "org.opencontainers.image.title": "app", "org.opencontainers.image.version": "1.0.0"}
    parsed = layout.CnabIndex(raw)
    assert parsed.invocation["digest"] == sha(b"inv") and set(parsed.components) == {"aa", "zz"}
    assert layout.relocation_mapping(DOC, parsed, "r.io/x") == {
        "example/inv:1": "r.io/x@" + sha(b"inv"), "example/aa:1": "r.io/x@" + sha(b"aa"),
        "example/zz:1": "r.io/x@" + sha(b"zz")}


def test_layout_refusals():
    with pytest.raises(BundleError, match="exactly one"):
        layout.bundle_images(dict(DOC, invocationImages=[{"image": "a"}, {"image": "b"}]))
    with pytest.raises(BundleError, match="not an image index"):
        layout.CnabIndex(json.dumps({"schemaVersion": 2, "mediaType": layout.OCI_MANIFEST}).encode())
    with pytest.raises(BundleError, match="io.cnab.manifest.type=config"):
        layout.CnabIndex(json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    with pytest.raises(BundleError, match="not a CNAB config"):
        layout.config_blob_descriptor(json.dumps({"config": {"mediaType": "x", "digest": sha(b""), "size": 0}}))
    with pytest.raises(ContentDigestMismatch):
        layout.parse_bundle_blob(b"{}", sha(b"[]"))


@pytest.mark.parametrize("config_type", layout.CONFIG_TYPES)
def test_config_media_type_variants(config_type):
    raw = json.dumps({"schemaVersion": 2, "config": {"mediaType": config_type, "digest": sha(b"{}"), "size": 2},
                      "layers": None})
    assert layout.config_blob_descriptor(raw) == (sha(b"{}"), 2)


def test_verifying_reader():
    data = b"x" * 3000
    assert VerifyingReader(iter([data[:1000], data[1000:]]), sha(data), len(data)).read() == data
    reader = VerifyingReader(iter([data]), sha(data))
    assert b"".join(iter(lambda: reader.read(7), b"")) == data
    with pytest.raises(ContentDigestMismatch):
        VerifyingReader(iter([data, b"!"]), sha(data)).read()
    with pytest.raises(ContentDigestMismatch):
        VerifyingReader(io.BytesIO(data), sha(data), size=10).read()
