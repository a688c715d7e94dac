"""sources: what a ``bundle`` string names, and which loads need no network.

The registry here is a closed loopback port: a source that tried to reach it would fail, so a
passing "no network" test proves the recorded claim was used instead.
"""

import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import sources
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, RegistryError

CLOSED = "127.0.0.1:9"  # nothing listens on the discard port
OFFLINE = {"retries": 0, "timeout": 2}
INDEX = "sha256:" + "1" * 64
OTHER = "sha256:" + "2" * 64
IMAGE = "sha256:" + "3" * 64
DOCUMENT = {"schemaVersion": "v1.2.0", "name": "demo", "version": "1.0.0",
            "invocationImages": [{"imageType": "docker", "image": "example.com/demo/run:1.0",
                                  "contentDigest": IMAGE}]}


def recorded_claim(reference, index_digest=INDEX, kind="registry", mapping=None):
    custom = {"bundleDigest": "sha256:" + "a" * 64, "bundleSource": kind, "indexDigest": index_digest,
              "relocationMapping": mapping if mapping is not None else
              {"example.com/demo/run:1.0": "%s/bundles/demo@%s" % (CLOSED, IMAGE)}}
    return {"id": model.new_ulid(), "action": "install", "revision": "r", "bundle": DOCUMENT,
            "bundleReference": reference, "custom": {model.RUNTIME_KEY: custom}}


@pytest.fixture
def bundle_file(tmp_path):
    path = tmp_path / "demo" / "bundle.json"
    path.parent.mkdir()
    path.write_text(json.dumps(DOCUMENT))
    return path


def test_kinds(bundle_file, tmp_path):
    assert sources.kind_of(str(bundle_file)) == sources.FILE
    assert sources.kind_of(str(bundle_file.parent)) == sources.FILE
    assert sources.kind_of(str(tmp_path / "bundle.tgz")) == sources.ARCHIVE
    assert sources.kind_of("127.0.0.1:5100/bundles/demo:1.0") == sources.REGISTRY
    assert sources.kind_of("registry.example.com/demo@" + INDEX) == sources.REGISTRY
    assert sources.kind_of("no/such/dir") == sources.FILE  # no registry host: a path, reported as missing


def test_an_existing_path_that_looks_like_a_reference_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "localhost:5000").mkdir()
    (tmp_path / "localhost:5000" / "demo").write_text(json.dumps(DOCUMENT))
    assert sources.kind_of("localhost:5000/demo") == sources.FILE


@pytest.mark.parametrize("text", ["", None])
def test_nothing_given(text):
    with pytest.raises(BundleError, match="set the bundle option"):
        sources.kind_of(text)


def test_local_file_source(bundle_file):
    source = sources.open_source(str(bundle_file), OFFLINE)
    assert source.kind == sources.FILE and source.index_digest is None
    assert source.claim_custom() == {} and source.files() == {}
    image = source.image_source(source.bundle.invocation_image())
    assert (image.kind, image.reference) == ("engine", "example.com/demo/run:1.0")


def test_missing_archive(tmp_path):
    with pytest.raises(BundleError, match="archive .*missing.tgz does not exist"):
        sources.open_source(str(tmp_path / "missing.tgz"))


def test_digest_pinned_reference_known_to_the_claim_needs_no_network():
    reference = "%s/bundles/demo@%s" % (CLOSED, INDEX)
    source = sources.open_source(reference, OFFLINE, recorded_claim(reference))
    assert source.kind == sources.REGISTRY and source.index_digest == INDEX
    assert source.bundle.document == DOCUMENT and source.bundle.reference == reference
    image = source.image_source(source.bundle.invocation_image())
    assert (image.kind, image.reference, image.digest) == ("registry", "%s/bundles/demo@%s" % (CLOSED, IMAGE), IMAGE)
    assert image.auth == OFFLINE


def test_a_copy_in_another_repository_uses_that_repository_for_its_images():
    recorded = recorded_claim("%s/bundles/demo:1.0@%s" % (CLOSED, INDEX))
    source = sources.open_source("%s/mirror/demo@%s" % (CLOSED, INDEX), OFFLINE, recorded)
    assert source.relocation_mapping == {"example.com/demo/run:1.0": "%s/mirror/demo@%s" % (CLOSED, IMAGE)}


def test_tag_is_not_resolved_when_the_digest_cannot_change_the_decision():
    recorded = recorded_claim("%s/bundles/demo:1.0@%s" % (CLOSED, INDEX))
    source = sources.open_source("%s/bundles/demo:1.0" % CLOSED, OFFLINE, recorded, resolve_tag=False)
    assert source.index_digest == INDEX
    assert source.bundle.reference == "%s/bundles/demo:1.0@%s" % (CLOSED, INDEX)


@pytest.mark.parametrize("text", ["%s/bundles/demo:1.0" % CLOSED, "%s/bundles/other:1.0" % CLOSED])
def test_tag_is_resolved_when_the_digest_decides(text):
    # Resolving a tag reaches the registry: here it is down, which must say so in one sentence.
    recorded = recorded_claim("%s/bundles/demo:1.0@%s" % (CLOSED, INDEX))
    with pytest.raises(RegistryError, match="cannot be reached") as caught:
        sources.open_source(text, OFFLINE, recorded, resolve_tag=text.endswith("demo:1.0"))
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


def test_a_different_recorded_digest_is_not_used():
    recorded = recorded_claim("%s/bundles/demo@%s" % (CLOSED, OTHER), index_digest=OTHER)
    with pytest.raises(RegistryError, match="cannot be reached"):
        sources.open_source("%s/bundles/demo@%s" % (CLOSED, INDEX), OFFLINE, recorded)


def test_a_claim_recorded_from_an_archive_does_not_stand_in_for_the_registry():
    recorded = recorded_claim("/srv/demo.tgz", kind="archive")
    with pytest.raises(RegistryError, match="cannot be reached"):
        sources.open_source("%s/bundles/demo@%s" % (CLOSED, INDEX), OFFLINE, recorded)


def test_from_claim_rebuilds_the_registry_source():
    reference = "%s/bundles/demo:1.0@%s" % (CLOSED, INDEX)
    source = sources.from_claim(recorded_claim(reference), OFFLINE)
    assert (source.kind, source.index_digest, source.bundle.reference) == ("registry", INDEX, reference)
    mapping = json.loads(source.files()[sources.RELOCATION_MAPPING_PATH])
    assert mapping == {"example.com/demo/run:1.0": "%s/bundles/demo@%s" % (CLOSED, IMAGE)}
    assert source.claim_custom() == {"bundleSource": "registry", "indexDigest": INDEX, "relocationMapping": mapping}


def test_from_claim_of_an_archive_loads_the_image_from_it():
    source = sources.from_claim(recorded_claim("/srv/demo.tgz", kind="archive", mapping={}))
    image = source.image_source(source.bundle.invocation_image())
    assert (image.kind, image.archive, image.original, image.digest) == (
        "archive", "/srv/demo.tgz", "example.com/demo/run:1.0", IMAGE)


def test_from_claim_of_a_local_file():
    claim = {"bundle": DOCUMENT, "bundleReference": "/srv/demo/bundle.json", "custom": {}}
    source = sources.from_claim(claim)
    assert source.kind == sources.FILE and source.claim_custom() == {}


def test_masking_bundle_never_reaches_the_registry(bundle_file):
    assert sources.masking_bundle(str(bundle_file)).document == DOCUMENT
    assert sources.masking_bundle("%s/bundles/demo:1.0" % CLOSED) is None
    assert sources.masking_bundle("%s/bundles/demo:1.0" % CLOSED, recorded_claim("x")).document == DOCUMENT


def test_from_claim_of_an_archive_keeps_the_recorded_image_id_so_the_archive_is_not_needed():
    record = {"image": "example.com/demo/run:1.0", "manifestDigest": IMAGE, "imageIds": {"": OTHER}}
    claim = recorded_claim("/srv/gone.tgz", kind="archive", mapping={})
    claim["custom"][model.RUNTIME_KEY]["invocationImage"] = record
    source = sources.from_claim(claim)
    assert source.image_source(source.bundle.invocation_image()).recorded == record
    assert source.claim_custom()["invocationImage"] == record  # recorded again by the uninstall's claim
    claim["custom"][model.RUNTIME_KEY]["invocationImage"] = "not a record"
    source = sources.from_claim(claim)
    assert source.image_source(source.bundle.invocation_image()).recorded is None
    assert "invocationImage" not in source.claim_custom()
