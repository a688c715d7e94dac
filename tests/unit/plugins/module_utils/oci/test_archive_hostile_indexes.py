"""Hostile shapes in archive indexes and registry manifests: one sentence, never a traceback.

Issue 16 item 5 (archive and registry part): deeply nested index.json, relocation-mapping.json and
manifests (RecursionError), bundle index entries that are strings, annotations that are lists, a
config entry without a digest (AttributeError, KeyError). Archives are read as cnab_install reads
them (sources.open_source) and as cnab_bundle publish does (publish_archive, against a registry that
lacks every image, so each image graph is read from the archive); registry bundles as every
registry operation reads them (distribution.pull_bundle). Every JSON document goes through
bundle.parse_json (size, value count and depth bounded) and every descriptor through
layout.descriptor_problem.
"""

import json

import pytest
import thick_archives
from hostile_registry import HostileRegistry

from ansible_collections.cnab.runtime.plugins.module_utils import bundle, sources
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import docker_load
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, CnabError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution, layout

DOCUMENT = {"schemaVersion": "v1.2.0", "name": "hostile", "version": "1.0.0",
            "invocationImages": [{"image": "example.com/hostile/run:1.0.0", "imageType": "docker"}]}
DEEP = 100000  # far beyond what Python's json module parses without a RecursionError


def deep_list(depth=DEEP):
    return ("[" * depth + "]" * depth).encode()


def deep_object(depth=DEEP):
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def one_sentence(exc):
    text = str(exc)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text and len(text) < 600, text
    return text


def _edited(target, edit):
    document = thick_archives.documents(DOCUMENT)[target]
    edit(document)
    return layout.dumps(document)


def _entries(edit):
    def apply(index):
        edit(index["manifests"])
    return apply


ARCHIVE_CASES = {
    "deep index.json": ("index.json", deep_list()),
    "deep index.json object": ("index.json", b'{"manifests":' + deep_object() + b"}"),
    "deep relocation-mapping.json": ("relocation-mapping.json", deep_object()),
    "deep bundle index": ("bundle index", deep_list()),
    "bundle index entries are strings": ("bundle index", _edited("bundle index", _entries(
        lambda entries: entries.append("sha256:" + "0" * 64)))),
    "bundle index annotations are a list": ("bundle index", _edited("bundle index", _entries(
        lambda entries: entries[1].update(annotations=["io.cnab.manifest.type", "invocation"])))),
    "config entry without a digest": ("bundle index", _edited("bundle index", _entries(
        lambda entries: entries[0].pop("digest")))),
    "deep config manifest": ("config manifest", deep_list()),
    "deep image manifest": ("image manifest", deep_object()),
    "image layers are strings": ("image manifest", _edited("image manifest",
                                                           lambda manifest: manifest.update(layers=["sha256:00"]))),
    "image config is a list": ("image manifest", _edited("image manifest",
                                                         lambda manifest: manifest.update(config=[1, 2]))),
}


@pytest.fixture(scope="module")
def target_registry():
    with HostileRegistry() as registry:  # holds nothing: publish reads every image graph from the archive
        yield registry


def _install_reads(path):
    """What an install reads of an archive: the source, and the image manifest the driver loads."""
    source = sources.open_source(path)
    image = source.image_source(source.bundle.invocation_image())
    with archive.ThickArchive(path) as opened:
        docker_load._image_manifest(thick_archives.EnginePlatform(), opened, image)


def _publish_reads(path, registry):
    archive.publish_archive(path, "%s/hostile/bundle:1" % registry.host, check_mode=True)


@pytest.mark.parametrize("case", sorted(ARCHIVE_CASES))
def test_hostile_archive_documents_are_refused_in_one_sentence(tmp_path, target_registry, case):
    target, raw = ARCHIVE_CASES[case]
    entries, _digest = thick_archives.members(DOCUMENT, {target: raw})
    path = thick_archives.write(tmp_path / "hostile.tgz", entries)
    for reads in (_install_reads, lambda p: _publish_reads(p, target_registry)):
        with pytest.raises(CnabError) as refused:
            reads(path)
        one_sentence(refused.value)


def test_the_unaltered_archive_is_read_by_both(tmp_path, target_registry):
    entries, digest = thick_archives.members(DOCUMENT)
    path = thick_archives.write(tmp_path / "clean.tgz", entries)
    _install_reads(path)
    assert sources.open_source(path).index_digest == digest
    _publish_reads(path, target_registry)


# ------------------------------------------------------------------------------------ registry
def _registry_bundle(registry, repository, edit_index=None, bundle_bytes=None, config_raw=None):
    """Put a bundle into ``registry``; the edits replace its documents (digests follow)."""
    bundle_bytes = bundle_bytes if bundle_bytes is not None else canonical_json(DOCUMENT)
    registry.put_blob(bundle_bytes)
    image = layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_MANIFEST,
                          "config": layout.descriptor("application/vnd.oci.image.config.v1+json",
                                                      registry.put_blob(b"{}"), 2), "layers": []})
    registry.put_manifest(repository, image, layout.OCI_MANIFEST)
    index_raw, config = layout.build_index(DOCUMENT, canonical_json(DOCUMENT),
                                           [(layout.OCI_MANIFEST, thick_archives.sha(image), len(image))])
    if bundle_bytes != canonical_json(DOCUMENT):
        config = layout.config_manifest(bundle_bytes)
    config = config_raw if config_raw is not None else config
    registry.put_manifest(repository, config, layout.OCI_MANIFEST)
    index = json.loads(index_raw)
    index["manifests"][0].update(digest=thick_archives.sha(config), size=len(config))
    if edit_index:
        edit_index(index)
    raw = deep_list() if edit_index == "deep" else layout.dumps(index)
    registry.put_manifest(repository, raw, layout.OCI_INDEX, tag="1")
    return "%s/%s:1" % (registry.host, repository)


REGISTRY_CASES = {
    "deep bundle.json blob": dict(bundle_bytes=b'{"name":' + deep_object() + b"}"),
    "deep config manifest": dict(config_raw=deep_list()),
    "index entries are strings": dict(edit_index=_entries(lambda entries: entries.insert(1, "sha256:00"))),
    "index annotations are a list": dict(edit_index=_entries(lambda entries: entries[1].update(annotations=["x"]))),
    "config entry without a digest": dict(edit_index=_entries(lambda entries: entries[0].pop("digest"))),
    "index manifests is an object": dict(edit_index=lambda index: index.update(manifests={"a": 1})),
}


@pytest.mark.parametrize("case", sorted(REGISTRY_CASES))
def test_hostile_registry_documents_are_refused_in_one_sentence(case):
    with HostileRegistry() as registry:
        reference = _registry_bundle(registry, "hostile/bundle", **REGISTRY_CASES[case])
        with pytest.raises(BundleError) as refused:
            distribution.pull_bundle(reference)
    one_sentence(refused.value)


def test_a_deep_index_from_a_registry_is_refused_in_one_sentence():
    with HostileRegistry() as registry:
        registry.put_manifest("hostile/deep", deep_list(), layout.OCI_INDEX, tag="1")
        with pytest.raises(BundleError, match="nested") as refused:
            distribution.pull_bundle("%s/hostile/deep:1" % registry.host)
    one_sentence(refused.value)


def test_the_unaltered_registry_bundle_is_pulled():
    with HostileRegistry() as registry:
        pulled = distribution.pull_bundle(_registry_bundle(registry, "hostile/clean"))
    assert pulled.document == DOCUMENT


# ------------------------------------------------------------------------------------ the reader
@pytest.mark.parametrize("raw, fragment", [
    (deep_list(), "nested"), (deep_list(101), "nested more than 100 levels"), (b"{" * 10, "not valid JSON"),
    (b"[" + b"{}," * 1000001 + b"{}]", "more than 1000000 values"), (b"\xff\xfe{", "not valid JSON"),
], ids=["recursion", "depth", "syntax", "values", "encoding"])
def test_the_one_json_reader_refuses_in_one_sentence(raw, fragment):
    with pytest.raises(BundleError, match=fragment) as refused:
        bundle.parse_json(raw, "The document")
    one_sentence(refused.value)
    assert bundle.parse_json(deep_list(100), "The document") is not None
