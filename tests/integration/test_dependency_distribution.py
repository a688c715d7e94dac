"""A graph of bundles moved as one: cnab_bundle push, copy and publish with ``dependencies: true``
against the real registry (127.0.0.1:5100), each dependency placed next to the destination
(oci/carry.py) with its index byte for byte and its signature, and an install from the destination
resolving the graph there; a dependency's own dependency in one thick archive installed with its
registry stopped; ``dependencies: false`` leaving them out of an archive; and the signing gate
refusing an archived dependency that its own signature does not cover. The bundles are
dependencies.py's: root (wordpress) -> mysql -> mysql (a bundle of the disk repository)."""

import dependencies as graph
import pytest
import registries as registry_fixtures
from install_sources import OPEN_REGISTRY, PrivateRegistry, four_steps, unique

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveLacksDependency
from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive, write_archive
from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import signature_tag
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference
from ansible_collections.cnab.runtime.plugins.module_utils.signing import keyfiles, keys, signer

registries = registry_fixtures.registries  # the fixture that starts the shared registries, re-exported
PASSPHRASE = "deps-dist-passphrase-7c2e"


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("deps-dist-keys")
    ours = keyfiles.ensure_key_pair(str(root / "cosign.key"), passphrase=PASSPHRASE)
    theirs = keyfiles.ensure_key_pair(str(root / "other.key"), key_format="pkcs8")
    return ours, theirs


def sign(pair, reference, pushed, passphrase=PASSPHRASE):
    private = keys.load_private_key(pair["private_key"], passphrase)
    ref = parse_reference(reference)
    signer.sign_index(private, RegistryClient({}, ref.registry), ref, pushed.index_digest, pushed.bundle_digest)


def publish_graph(base, pair=None):
    """disk v1.0.0 and mysql v1.4.0 (which requires disk 1.x) under ``base``/lib, plus a mysql 2.0.0
    that the root's range leaves out; the root document requires ``base``/lib/mysql 1.x. Returns
    (root document, {name: PushResult})."""
    graph.build_image()
    pushed = {"disk": graph.push(graph.mysql_document("1.0.0"), base + "/lib/disk:v1.0.0"),
              "mysql": graph.push(graph.root_document(base + "/lib/disk", ["1.x"], name="mysql", version="1.4.0"),
                                  base + "/lib/mysql:v1.4.0")}
    graph.push(graph.mysql_document("2.0.0"), base + "/lib/mysql:v2.0.0")
    if pair is not None:
        sign(pair, base + "/lib/mysql:v1.4.0", pushed["mysql"])
    return graph.root_document(base + "/lib/mysql", ["1.x"]), pushed


def head(reference):
    ref = parse_reference(reference)
    found = RegistryClient({}, ref.registry).head_manifest(ref.repository, ref.ref)
    return found[0] if found else None


def bundle_reference(ansible, installation):
    return graph.claims(ansible.home, installation)[-1]["bundleReference"]


def test_push_with_dependencies_places_the_graph_next_to_dest_in_four_steps_and_installs_from_there(
        ansible, registries, pairs, tmp_path):
    ours, _theirs = pairs
    base = "%s/%s" % (OPEN_REGISTRY, unique("carry"))
    document, pushed = publish_graph(base, ours)
    root = graph.write(str(tmp_path / "root"), document)
    dest = base + "/site/wordpress:v0.1.0"
    changed, results = four_steps(ansible, "cnab_bundle", {"src": root, "dest": dest, "dependencies": True})
    assert changed == [True, True, False, False]
    carried = results[1]["dependencies"]
    assert sorted(carried) == ["mysql", "mysql/mysql"]
    assert carried["mysql"]["source"] == base + "/lib/mysql:v1.4.0"
    assert carried["mysql"]["reference"] == "%s/site/mysql:v1.4.0@%s" % (base, pushed["mysql"].index_digest)
    assert carried["mysql/mysql"]["reference"] == "%s/site/disk:v1.0.0@%s" % (base, pushed["disk"].index_digest)
    assert [entry["changed"] for entry in results[2]["dependencies"].values()] == [False, False]
    # Each index is the source's, byte for byte (so cnab-to-oci's), and mysql's signature came along.
    assert head(base + "/site/mysql:v1.4.0") == pushed["mysql"].index_digest
    assert head(base + "/site/disk:v1.0.0") == pushed["disk"].index_digest
    assert head("%s/site/mysql:%s" % (base, signature_tag(pushed["mysql"].index_digest))) is not None
    assert head(base + "/site/mysql:v2.0.0") is None  # only what the range resolved to

    name = unique("carried")
    result, output = ansible.adhoc("cnab_install", {"installation": name, "bundle": dest})
    assert not result.get("failed"), output
    assert bundle_reference(ansible, name + "-mysql").startswith(base + "/site/mysql:v1.4.0@")
    assert bundle_reference(ansible, name + "-mysql-mysql").startswith(base + "/site/disk:v1.0.0@")
    assert result["outputs"]["received"] == "db-%s-mysql-1.4.0-small" % name


def test_copy_with_dependencies_follows_the_placements_of_its_source_in_four_steps(ansible, registries, tmp_path):
    base = "%s/%s" % (OPEN_REGISTRY, unique("copy"))
    document, pushed = publish_graph(base)
    root = graph.write(str(tmp_path / "root"), document)
    result, output = ansible.adhoc("cnab_bundle", {"src": root, "dest": base + "/stage/wordpress:v0.1.0",
                                                   "dependencies": True})
    assert not result.get("failed"), output
    args = {"src": base + "/stage/wordpress:v0.1.0", "dest": base + "/prod/wordpress:v0.1.0", "dependencies": True}
    changed, results = four_steps(ansible, "cnab_bundle", args)
    assert changed == [True, True, False, False]
    carried = results[1]["dependencies"]
    assert carried["mysql"]["source"].startswith(base + "/stage/mysql:v1.4.0")  # resolved next to the source
    assert carried["mysql/mysql"]["source"].startswith(base + "/stage/disk:v1.0.0")
    assert head(base + "/prod/mysql:v1.4.0") == pushed["mysql"].index_digest
    assert head(base + "/prod/disk:v1.0.0") == pushed["disk"].index_digest
    assert results[1]["digest"] == head(base + "/stage/wordpress:v0.1.0")  # the root's digest unchanged


def test_a_nested_graph_in_one_archive_installs_with_its_registry_stopped_and_publishes_in_four_steps(
        ansible, tmp_path):
    registry = PrivateRegistry(5118, tmp_path).start()
    try:
        document, pushed = publish_graph(registry.address + "/gap")
        graph.push(document, registry.address + "/gap/app/wordpress:v0.1.0")
        written = write_archive(registry.address + "/gap/app/wordpress:v0.1.0", str(tmp_path / "graph.tgz"))
    finally:
        registry.stop()
    assert sorted(written.dependencies) == ["mysql", "mysql/mysql"]
    with ThickArchive(written.path, dependency="mysql/mysql") as carried:
        assert (carried.document["name"], carried.index_digest) == ("mysql", pushed["disk"].index_digest)

    name = unique("gap")
    changed, _results = four_steps(ansible, "cnab_install", {"installation": name, "bundle": written.path})
    assert changed == [True, True, False, False]
    names = (name + "-mysql-mysql", name + "-mysql", name)
    created = [graph.claims(ansible.home, n)[0]["created"] for n in names]
    assert created == sorted(created)  # the deepest first
    nested = graph.claims(ansible.home, names[0])
    assert [claim["_status"] for claim in nested] == ["succeeded"]
    assert nested[0]["bundleReference"] == written.path
    assert nested[0]["custom"]["cnab.runtime"]["archiveDependency"] == "mysql/mysql"

    base = "%s/%s" % (OPEN_REGISTRY, unique("publish"))
    args = {"src": written.path, "dest": base + "/site/wordpress:v0.1.0", "dependencies": True}
    changed, results = four_steps(ansible, "cnab_bundle", args)
    assert changed == [True, True, False, False]
    assert sorted(results[1]["dependencies"]) == ["mysql", "mysql/mysql"]
    assert head(base + "/site/mysql:v1.4.0") == pushed["mysql"].index_digest
    assert head(base + "/site/disk:v1.0.0") == pushed["disk"].index_digest


def test_dependencies_false_leaves_them_out_of_the_archive_which_then_cannot_publish_them(ansible, registries,
                                                                                          tmp_path):
    base = "%s/%s" % (OPEN_REGISTRY, unique("thin"))
    document, _pushed = publish_graph(base)
    graph.push(document, base + "/app/wordpress:v0.1.0")
    path = str(tmp_path / "thin.tgz")
    result, output = ansible.adhoc("cnab_bundle", {"src": base + "/app/wordpress:v0.1.0", "dest": path,
                                                   "dependencies": False})
    assert not result.get("failed") and result["changed"], output
    assert "dependencies" not in result
    with pytest.raises(ArchiveLacksDependency):
        ThickArchive(path, dependency="mysql").__enter__()
    with ThickArchive(path) as read:
        assert read.dependency_aliases == set()
    result, output = ansible.adhoc("cnab_bundle", {"src": path, "dest": base + "/site/wordpress:v0.1.0",
                                                   "dependencies": True})
    assert result.get("failed"), output
    assert result["msg"] == ("dependency mysql: the archive %s does not carry it (written with dependencies: false?), "
                             "so it cannot be published with dependencies: true." % path)
    assert head(base + "/site/wordpress:v0.1.0") is None


@pytest.mark.parametrize("dependency_key", [None, "theirs"])
def test_an_archived_dependency_its_own_signature_does_not_cover_is_refused_though_the_root_is_signed(
        ansible, registries, pairs, tmp_path, dependency_key):
    ours, theirs = pairs
    base = "%s/%s" % (OPEN_REGISTRY, unique("gate"))
    graph.build_image()
    mysql = graph.push(graph.mysql_document("1.4.0"), base + "/lib/mysql:v1.4.0")
    if dependency_key == "theirs":
        sign(theirs, base + "/lib/mysql:v1.4.0", mysql, passphrase=None)
    root_ref = base + "/app/wordpress:v0.1.0"
    sign(ours, root_ref, graph.push(graph.root_document(base + "/lib/mysql", ["1.x"]), root_ref))
    path = write_archive(root_ref, str(tmp_path / "graph.tgz")).path
    name = unique("gated")
    verify = {"keys": [ours["public_key"]], "required": True}
    result, output = ansible.adhoc("cnab_install", {"installation": name, "bundle": path, "verify": verify})
    assert result.get("failed"), output
    prefix = 'Bundle "mysql" 1.4.0 from %s (dependency mysql) was refused: ' % path
    assert result["msg"].startswith(prefix) and result["msg"].endswith(".") and "\n" not in result["msg"], output
    assert graph.claims(ansible.home, name) == graph.claims(ansible.home, name + "-mysql") == []

    # The control: signed by the trusted key, the same graph installs from the same kind of archive.
    sign(ours, base + "/lib/mysql:v1.4.0", mysql)
    signed = write_archive(root_ref, str(tmp_path / "signed.tgz")).path
    result, output = ansible.adhoc("cnab_install", {"installation": name, "bundle": signed, "verify": verify})
    assert not result.get("failed"), output
    record = graph.claims(ansible.home, name + "-mysql")[0]["custom"]["cnab.runtime"]["signature"]
    assert (record["verified"], record["indexDigest"]) == (True, mysql.index_digest)
    assert record["keyFingerprint"] == ours["fingerprint"]
