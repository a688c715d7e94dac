"""The config manifest and index cnab_bundle writes are cnab-to-oci's bytes, so a bundle has one
digest whichever tool pushed it. The oracle is ../shared/realworld/cnab-to-oci/push-testbundle/
(cnab-to-oci's own test expectations; its images are not real, so the descriptors come from its
bundle.json and relocation map, as cnab-to-oci's converter takes them)."""

import hashlib
import json
import os

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED

FIXTURE = os.path.join(SHARED, "realworld", "cnab-to-oci", "push-testbundle")
TARGET = "my.registry/namespace/my-app"
CONFIG_DIGEST = "sha256:122a5dc186ec285488de9d25e99c96a11d3f7ff71c6e05a06c98e8627472a920"
INDEX_DIGEST = "sha256:00043ca96c3c9470fc0f647c67613ddf500941556d1ecc14d75bc9b2834f66c3"
BUNDLE_DIGEST = "sha256:dbe3480b9cb300f389e8d02e4a682f9107772468feb6845f912dc8deed6d76fd"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fixture(name):
    with open(os.path.join(FIXTURE, name), "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def bundle():
    """``(document, canonical bytes, image descriptors)`` of the fixture bundle."""
    document = json.loads(fixture("bundle.json"))
    mapping = json.loads(fixture("relocation-mapping.json"))
    placed = []
    for _role, _name, image in layout.bundle_images(document):
        relocated = mapping[image["image"]]
        assert relocated.rsplit("@", 1)[0] == TARGET  # cnab-to-oci's rule: every image in the target repository
        placed.append((image["mediaType"], relocated.rsplit("@", 1)[1], image["size"]))
    return document, canonical_json(document), placed


def test_config_manifest_and_index_are_cnab_to_oci_bytes(bundle):
    document, bundle_bytes, placed = bundle
    assert bundle_bytes == fixture("bundle.json") and sha(bundle_bytes) == BUNDLE_DIGEST
    index_raw, config_raw = layout.build_index(document, bundle_bytes, placed)
    assert config_raw == fixture("expected-config-manifest.oci.json")
    assert (len(config_raw), sha(config_raw)) == (189, CONFIG_DIGEST)
    assert index_raw == fixture("expected-index.json")
    assert (len(index_raw), sha(index_raw)) == (1360, INDEX_DIGEST)
    assert json.loads(config_raw)["layers"] is None


def test_docker_schema2_fallback_is_cnab_to_oci_bytes(bundle):
    document, bundle_bytes, placed = bundle
    expected = fixture("expected-config-manifest.docker-fallback.json")
    assert layout.config_manifest(bundle_bytes, layout.CONFIG_DOCKER) == expected
    index_raw, config_raw = layout.build_index(document, bundle_bytes, placed, layout.CONFIG_DOCKER)
    assert config_raw == expected
    config_entry = json.loads(index_raw)["manifests"][0]
    assert config_entry == {"mediaType": layout.DOCKER_MANIFEST, "digest": sha(expected), "size": len(expected),
                            "annotations": {"io.cnab.manifest.type": "config"}}
    # Everything else in the index is what the first form writes.
    first = json.loads(fixture("expected-index.json"))
    assert json.loads(index_raw)["manifests"][1:] == first["manifests"][1:]
    assert json.loads(index_raw)["annotations"] == first["annotations"]


def test_oci_image_config_fallback_differs_only_in_the_config_media_type(bundle):
    _document, bundle_bytes, _placed = bundle
    raw = layout.config_manifest(bundle_bytes, layout.CONFIG_OCI)
    assert raw == fixture("expected-config-manifest.oci.json").replace(
        b"application/vnd.cnab.config.v1+json", b"application/vnd.oci.image.config.v1+json")
    assert [name for name, _type in layout.CONFIG_FORMS] == [layout.CONFIG_CNAB, layout.CONFIG_OCI, layout.CONFIG_DOCKER]


def test_docker_manifest_list_fallback_appends_the_media_type_as_go_does(bundle):
    document, bundle_bytes, placed = bundle
    raw, _config = layout.build_index(document, bundle_bytes, placed, index_form="docker-manifest-list")
    # cnab-to-oci's ociIndexWrapper: the wrapper's own mediaType field comes after the embedded index's.
    assert raw == fixture("expected-index.json")[:-1] + b',"mediaType":"%s"}' % layout.DOCKER_LIST.encode()
    with pytest.raises(ValueError):
        layout.build_index(document, bundle_bytes, placed, index_form="something-else")


def test_annotations_follow_go_encoding():
    document = {"schemaVersion": "1.2.0", "name": "a&b", "version": "1.0.0", "keywords": [],
                "maintainers": [{"url": "https://x/?a=1&b=2", "name": "<Ann>", "extra": "dropped"}, {"email": "e@x"}],
                "invocationImages": [{"image": "r.io/x/inv"}]}
    index_raw, _config = layout.build_index(document, b"{}", [(layout.OCI_MANIFEST, sha(b"i"), 3)])
    annotations = json.loads(index_raw)["annotations"]
    assert annotations == {
        "io.cnab.keywords": "[]",
        "io.cnab.runtime_version": "1.2.0",
        "org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1",
        "org.opencontainers.image.authors": '[{"name":"\\u003cAnn\\u003e","url":"https://x/?a=1\\u0026b=2"},'
                                            '{"name":"","email":"e@x"}]',
        "org.opencontainers.image.description": "",
        "org.opencontainers.image.title": "a&b",
        "org.opencontainers.image.version": "1.0.0"}
    assert b'"org.opencontainers.image.title":"a\\u0026b"' in index_raw
    assert list(annotations) == sorted(annotations)
    bare = dict(document, keywords=None)
    del bare["maintainers"]
    annotations = json.loads(layout.build_index(bare, b"{}", [(layout.OCI_MANIFEST, sha(b"i"), 3)])[0])["annotations"]
    assert "io.cnab.keywords" not in annotations and "org.opencontainers.image.authors" not in annotations


def test_go_json_escapes():
    assert layout.go_json({"b": "<&>\u2028\u2029é\n\x01", "a": None}) == (
        b'{"b":"\\u003c\\u0026\\u003e\\u2028\\u2029\xc3\xa9\\n\\u0001","a":null}')


def previous_form(document, bundle_bytes, placed):
    """What cnab_bundle wrote before it matched cnab-to-oci: a top-level mediaType and artifactType
    on the index, ``mediaType`` and ``"layers": []`` on the config manifest (bundles already pushed)."""
    config = layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_MANIFEST,
                           "config": layout.descriptor(layout.CNAB_CONFIG, sha(bundle_bytes), len(bundle_bytes)),
                           "layers": []})
    manifests = [layout.descriptor(layout.OCI_MANIFEST, sha(config), len(config), {"io.cnab.manifest.type": "config"})]
    for (role, name, _image), (media_type, digest, size) in zip(layout.bundle_images(document), placed):
        annotations = {"io.cnab.component.name": name, "io.cnab.manifest.type": role} if name else \
            {"io.cnab.manifest.type": role}
        manifests.append(layout.descriptor(media_type, digest, size, annotations))
    index = layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_INDEX, "artifactType": layout.CNAB_ARTIFACT,
                          "manifests": manifests, "annotations": layout.index_annotations(document)})
    return index, config


@pytest.mark.parametrize("form", ["cnab-to-oci", "docker-fallback", "docker-list", "previous"])
def test_every_form_reads_back(bundle, form):
    document, bundle_bytes, placed = bundle
    if form == "previous":
        index_raw, config_raw = previous_form(document, bundle_bytes, placed)
        assert (len(config_raw), len(index_raw)) == (244, 1464)  # the sizes measured before the change
    elif form == "docker-fallback":
        index_raw, config_raw = layout.build_index(document, bundle_bytes, placed, layout.CONFIG_DOCKER)
    elif form == "docker-list":
        index_raw, config_raw = layout.build_index(document, bundle_bytes, placed, index_form="docker-manifest-list")
    else:
        index_raw, config_raw = fixture("expected-index.json"), fixture("expected-config-manifest.oci.json")
    index = layout.CnabIndex(index_raw, layout.DOCKER_LIST if form == "docker-list" else layout.OCI_INDEX)
    assert index.config["digest"] == sha(config_raw)
    assert layout.config_blob_descriptor(config_raw) == (BUNDLE_DIGEST, len(bundle_bytes))
    assert layout.relocation_mapping(document, index, TARGET) == json.loads(fixture("relocation-mapping.json"))
