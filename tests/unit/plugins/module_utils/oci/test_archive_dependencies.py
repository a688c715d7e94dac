"""The thick archive of a bundle with dependencies (oci/archive.py): the root's layout as before,
each dependency's bundle.json and relocation mapping under dependencies/<alias>/, their manifests
and blobs in the shared layout, read back as the root or as a dependency, and member checks."""

import io
import tarfile

import pytest
from thick_archives import _image, sha

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveError, ArchiveLacksDependency
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, layout


def _document(name, version, image):
    return {"schemaVersion": "v1.2.0", "name": name, "version": version,
            "invocationImages": [{"image": image, "imageType": "docker"}]}


def _blob(plan, data):
    plan.blobs[sha(data)] = archive._Blob(sha(data), len(data), lambda: io.BytesIO(data))


def _plan(document, tag):
    """An ArchivePlan as plan_from_registry makes it, from made-up images held in memory."""
    bundle_bytes = canonical_json(document)
    plan = archive.ArchivePlan(document, bundle_bytes)
    placed = []
    for _role, _name, image in layout.bundle_images(document):
        manifest, blobs = _image(image["image"])
        plan.add_manifest(manifest, layout.OCI_MANIFEST)
        for data in blobs:
            _blob(plan, data)
        placed.append((layout.OCI_MANIFEST, sha(manifest), len(manifest)))
        plan.relocation_mapping[image["image"]] = "registry.example/%s@%s" % (document["name"], sha(manifest))
    index_raw, config_raw = layout.build_index(document, bundle_bytes, placed)
    plan.add_manifest(config_raw, layout.OCI_MANIFEST)
    plan.index_digest = plan.add_manifest(index_raw, layout.OCI_INDEX)
    _blob(plan, bundle_bytes)
    plan.entries.append(layout.descriptor(layout.OCI_INDEX, plan.index_digest, len(index_raw),
                                          {archive.REF_NAME: tag}))
    archive._image_entries(plan, layout.CnabIndex(index_raw, layout.OCI_INDEX), plan.relocation_mapping)
    return plan


def _write(plan, path):
    with open(path, "wb") as handle:
        archive.write_tar(plan, handle)
    return str(path)


@pytest.fixture
def graph_archive(tmp_path):
    root = _plan(_document("wordpress", "0.1.0", "example.com/wordpress:0.1.0"), "v0.1.0")
    mysql = _plan(_document("mysql", "1.4.0", "example.com/mysql:1.4.0"), "v1.4.0")
    root.add_dependency("mysql", "registry.example/mysql:v1.4.0", mysql)
    return _write(root, tmp_path / "graph.tgz"), root, mysql


def test_the_dependency_sits_under_its_alias_and_the_root_layout_is_unchanged(graph_archive):
    path, root, mysql = graph_archive
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert names[:2] == ["bundle.json", "relocation-mapping.json"]
    assert {"dependencies/mysql/bundle.json", "dependencies/mysql/relocation-mapping.json"} <= set(names)
    for digest in set(mysql.manifests) | set(mysql.blobs):
        assert "artifacts/layout/blobs/sha256/" + digest[7:] in names
    with archive.ThickArchive(path) as read:  # as a reader that knows nothing of dependencies
        assert read.document["name"] == "wordpress"
        assert read.index_digest == root.index_digest
        assert read.dependency_indexes() == {"mysql": mysql.index_digest}
        assert read.image_digest("example.com/mysql:1.4.0") == sha(_image("example.com/mysql:1.4.0")[0])


def test_the_archive_reads_as_its_dependency_identified_before_the_image_blobs(graph_archive):
    path, _root, mysql = graph_archive
    with archive.ThickArchive(path, identify_only=True, dependency="mysql") as read:
        assert not read.complete
        assert (read.document["name"], read.index_digest) == ("mysql", mysql.index_digest)
    with archive.ThickArchive(path, dependency="mysql") as read:
        assert read.relocation_mapping == mysql.relocation_mapping
        assert read.image_digest("example.com/mysql:1.4.0") in read.blob_digests
    with pytest.raises(ArchiveLacksDependency, match="carries no dependency redis"):
        archive.ThickArchive(path, dependency="redis").__enter__()


def test_an_unknown_member_under_dependencies_is_refused(graph_archive, tmp_path):
    path = graph_archive[0]
    altered = str(tmp_path / "altered.tar")
    with tarfile.open(path) as source, tarfile.open(altered, "w") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member) if member.isreg() else None)
        extra = tarfile.TarInfo("dependencies/mysql/run.sh")
        extra.size = 2
        target.addfile(extra, io.BytesIO(b"ok"))
    with pytest.raises(ArchiveError, match="is not a dependency's bundle.json"):
        archive.ThickArchive(altered).__enter__()


def test_an_alias_that_cannot_name_a_directory_or_a_clashing_image_is_refused():
    root = _plan(_document("wordpress", "0.1.0", "example.com/shared:1"), "v0.1.0")
    with pytest.raises(ArchiveError, match="cannot name an archive directory"):
        root.add_dependency("../up", "r/x:v1", _plan(_document("x", "1.0.0", "example.com/x:1"), "v1"))
    clash = _plan(_document("other", "1.0.0", "example.com/shared:1"), "v1")
    clash.entries[-1]["digest"] = sha(b"another image")
    with pytest.raises(ArchiveError, match="one archive cannot hold both"):
        root.add_dependency("other", "r/other:v1", clash)


def test_a_dependency_of_a_dependency_nests_under_its_directory_and_reads_back(tmp_path):
    root = _plan(_document("wordpress", "0.1.0", "example.com/wordpress:0.1.0"), "v0.1.0")
    mysql = _plan(_document("mysql", "1.4.0", "example.com/mysql:1.4.0"), "v1.4.0")
    disk = _plan(_document("disk", "1.0.0", "example.com/disk:1.0.0"), "v1.0.0")
    mysql.add_dependency("disk", "registry.example/disk:v1.0.0", disk)
    root.add_dependency("mysql", "registry.example/mysql:v1.4.0", mysql)
    path = _write(root, tmp_path / "nested.tgz")
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert names.index("dependencies/mysql/bundle.json") < names.index("dependencies/mysql/dependencies/disk/bundle.json")
    assert names.count("dependencies/mysql/dependencies") == 1  # each directory once
    with archive.ThickArchive(path) as read:
        assert read.dependency_aliases == {"mysql", "mysql/disk"}
        assert read.dependency_indexes() == {"mysql": mysql.index_digest, "mysql/disk": disk.index_digest}
    with archive.ThickArchive(path, identify_only=True, dependency="mysql/disk") as read:
        assert (read.document["name"], read.index_digest, read.index_name) == ("disk", disk.index_digest, "v1.0.0")
    with pytest.raises(ArchiveLacksDependency, match="carries no dependency disk"):
        archive.ThickArchive(path, dependency="disk").__enter__()  # only under mysql
    assert archive.dependency_prefix("mysql/disk") == "dependencies/mysql/dependencies/disk/"
    assert archive.dependency_path("dependencies/mysql/dependencies/disk/") == "mysql/disk"
    assert archive.is_dependency_path("/".join(["a"] * archive.MAX_NESTING))
    assert not archive.is_dependency_path("/".join(["a"] * (archive.MAX_NESTING + 1)))
    assert not archive.is_dependency_path("mysql/../up")


def test_a_dependency_is_placed_next_to_the_destination_under_the_tag_it_resolved_to():
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import DependencyError
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.carry import placed_target
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

    dest = parse_reference("reg2.example/site/wordpress:v1")
    assert str(placed_target(dest, "reg1.example/lib/mysql:v1.4.0", "1.4.0")) == "reg2.example/site/mysql:v1.4.0"
    assert str(placed_target(parse_reference("reg2.example/wordpress:v1"), "reg1.example/a/b/mysql", "1.4.0",
                             "v1.4.0")) == "reg2.example/mysql:v1.4.0"
    pinned = "reg1.example/lib/mysql@sha256:" + "0" * 64
    assert str(placed_target(dest, pinned, "1.4.0+build.7")) == "reg2.example/site/mysql:v1.4.0_build.7"
    with pytest.raises(DependencyError, match="cannot be placed next to reg2.example/site/wordpress"):
        placed_target(dest, pinned, "not a version")
