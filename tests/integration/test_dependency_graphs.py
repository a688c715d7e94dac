"""Bundles with dependencies (io.cnab.dependencies): resolution by version range against a real
registry, order, wiring of a dependency's output into the root, idempotency, check mode, failures,
concurrency and a run killed in the middle of the graph. The bundles are dependencies.py's."""

import json
import os
import signal
import time

import dependencies as graph
import pytest
import registries as registry_fixtures
from install_sources import OPEN_REGISTRY, unique
from support import module_pids

registries = registry_fixtures.registries  # the fixture that starts the shared registries, re-exported


@pytest.fixture(scope="module")
def mysql_repo(images, registries):
    """Versions 1.0.0, 1.2.0, 1.3.0-rc.1 and 2.0.0 of the mysql bundle, each tagged v<version>."""
    graph.build_image()
    repo = "%s/%s/mysql" % (OPEN_REGISTRY, unique("deps"))
    for version in ("1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0"):
        graph.push(graph.mysql_document(version), "%s:v%s" % (repo, version))
    return repo


@pytest.fixture
def local_graph(images, tmp_path):
    """A root whose mysql dependency comes from a local file (the ``bundle`` override)."""
    graph.build_image()
    mysql = graph.write(str(tmp_path / "mysql"), graph.mysql_document("1.1.0"))
    root = graph.write(str(tmp_path / "root"), graph.root_document("localhost:5000/mysql", ["1.x"]))
    return root, mysql


def _outputs(ansible, name):
    result, output = ansible.adhoc("cnab_claim_info", {"installation": name})
    assert not result.get("failed"), output
    return result["installation"]


def test_a_range_picks_the_highest_tag_and_the_graph_runs_in_four_steps_then_uninstalls_in_reverse(
        ansible, mysql_repo, tmp_path):
    root = graph.write(str(tmp_path / "root"), graph.root_document(mysql_repo, ["1.x", ">=1.1.0"]))
    args = {"installation": "site", "bundle": root}
    changed, plans = [], []
    for flags in (["--check"], [], [], ["--check"]):
        result, output = ansible.adhoc("cnab_install", args, *flags)
        assert not result.get("failed"), output
        changed.append(result["changed"])
        plans.append([(p["installation"], p["operation"]) for p in result["plan"]])
    assert changed == [True, True, False, False]
    assert plans[0] == plans[1] == [("site-mysql", "install"), ("site", "install")]
    assert plans[2] == plans[3] == [("site-mysql", "none"), ("site", "none")]

    # 1.2.0: the highest tag in 1.x and >=1.1.0; 2.0.0 is outside and 1.3.0-rc.1 a pre-release.
    info = _outputs(ansible, "site")
    assert info["dependencies"] == [{"alias": "mysql", "installation": "site-mysql", "exists": True,
                                     "status": "installed", "bundle_version": "1.2.0"}]
    assert info["outputs"]["received"] == "db-site-mysql-1.2.0-small"  # the dependency's output, wired
    dependency_bundle = info["outputs"]["dependency"]
    dependency_bundle = json.loads(dependency_bundle) if isinstance(dependency_bundle, str) else dependency_bundle
    assert (dependency_bundle["name"], dependency_bundle["version"]) == ("mysql", "1.2.0")

    mysql_claims, root_claims = graph.claims(ansible.home, "site-mysql"), graph.claims(ansible.home, "site")
    assert [c["action"] for c in mysql_claims] == ["install"] and [c["action"] for c in root_claims] == ["install"]
    assert mysql_claims[0]["created"] < root_claims[0]["created"]
    assert mysql_claims[0]["bundleReference"].startswith(mysql_repo + ":v1.2.0@sha256:")
    custom = mysql_claims[0]["custom"]["cnab.runtime"]
    assert (custom["parentInstallation"], custom["dependencyAlias"]) == ("site", "mysql")
    assert root_claims[0]["custom"]["cnab.runtime"]["dependencies"] == {"mysql": "site-mysql"}

    result, output = ansible.adhoc("cnab_uninstall", {"installation": "site"})
    assert not result.get("failed") and result["changed"], output
    planned = [(p["installation"], p["operation"]) for p in result["plan"]]
    assert planned == [("site", "uninstall"), ("site-mysql", "uninstall")]
    mysql_claims, root_claims = graph.claims(ansible.home, "site-mysql"), graph.claims(ansible.home, "site")
    assert root_claims[-1]["action"] == mysql_claims[-1]["action"] == "uninstall"
    assert root_claims[-1]["created"] < mysql_claims[-1]["created"]  # the root first
    result, output = ansible.adhoc("cnab_uninstall", {"installation": "site"})
    assert not result.get("failed") and not result["changed"], output


def test_nothing_satisfying_the_ranges_is_one_sentence_before_anything_runs(ansible, mysql_repo, tmp_path):
    root = graph.write(str(tmp_path / "root"), graph.root_document(mysql_repo, ["3.x"]))
    result, output = ansible.adhoc("cnab_install", {"installation": "none-fits", "bundle": root})
    assert result.get("failed"), output
    repository = mysql_repo.split(":", 1)[0] + ":" + mysql_repo.split(":", 1)[1]
    assert result["msg"] == ('dependency mysql: no tag of %s satisfies "3.x" (pre-releases excluded).' % repository)
    assert graph.claims(ansible.home, "none-fits") == graph.claims(ansible.home, "none-fits-mysql") == []


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    cnab.runtime.cnab_installation:
      installation: blog
      bundle: "{{ root }}"
  tasks:
    - name: install the graph
      cnab.runtime.cnab_installation:
        dependencies: {mysql: {bundle: "{{ mysql }}"}}
      register: first
    - name: the same again changes nothing
      cnab.runtime.cnab_installation:
        dependencies: {mysql: {bundle: "{{ mysql }}"}}
      register: again
    - name: a dependency parameter the root does not receive upgrades the dependency only
      cnab.runtime.cnab_installation:
        dependencies: {mysql: {bundle: "{{ mysql }}", parameters: {sleep: "0.1"}}}
      register: only_dependency
    - name: a dependency parameter that changes what the root receives upgrades both
      cnab.runtime.cnab_installation:
        dependencies: {mysql: {bundle: "{{ mysql }}", parameters: {sleep: "0.1", size: large}}}
      register: both
    - name: check mode of the graph's removal plans it all and runs nothing
      cnab.runtime.cnab_installation:
        state: absent
      check_mode: true
      register: planned
    - ansible.builtin.assert:
        that:
          - first is changed and again is not changed
          - first.plan | map(attribute='operation') | list == ['install', 'install']
          - again.plan | map(attribute='operation') | list == ['none', 'none']
          - only_dependency is changed
          - only_dependency.plan | map(attribute='operation') | list == ['upgrade', 'none']
          - both.plan | map(attribute='operation') | list == ['upgrade', 'upgrade']
          - both.outputs.received == 'db-blog-mysql-1.1.0-large'
          - both.diff.before.dependencies.mysql.parameters.size == 'small'
          - both.diff.after.dependencies.mysql.parameters.size == 'large'
          - both.diff.after.parameters['mysql-connstr'] == 'db-blog-mysql-1.1.0-large'
          - planned is changed
          - planned.plan | map(attribute='operation') | list == ['uninstall', 'uninstall']
"""


def test_a_playbook_upgrades_only_what_changed_and_diffs_each_installation(ansible, local_graph, tmp_path):
    root, mysql = local_graph
    playbook = tmp_path / "graph.yml"
    playbook.write_text(PLAYBOOK)
    run = ansible.playbook(str(playbook), "--diff", extra_vars={"root": root, "mysql": mysql})
    assert run.returncode == 0, run.stdout + run.stderr
    assert [c["action"] for c in graph.claims(ansible.home, "blog-mysql")] == ["install", "upgrade", "upgrade"]
    assert [c["action"] for c in graph.claims(ansible.home, "blog")] == ["install", "upgrade"]


def test_a_failed_dependency_stops_the_graph_before_the_root(ansible, local_graph):
    root, mysql = local_graph
    args = {"installation": "broken", "bundle": root,
            "dependencies": {"mysql": {"bundle": mysql, "parameters": {"fail": "install"}}}}
    result, output = ansible.adhoc("cnab_install", args)
    assert result.get("failed"), output
    assert result["msg"].startswith('action "install" of installation broken-mysql failed: dependency mysql failed:')
    assert [c["_status"] for c in graph.claims(ansible.home, "broken-mysql")] == ["failed"]
    assert graph.claims(ansible.home, "broken") == []  # the root was not touched


def test_two_concurrent_installs_run_each_installation_once(ansible, local_graph):
    root, mysql = local_graph
    args = {"installation": "twice", "bundle": root,
            "dependencies": {"mysql": {"bundle": mysql, "parameters": {"sleep": "2"}}}}
    processes = [ansible.adhoc_process("cnab_install", args) for _unused in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert [c["action"] for c in graph.claims(ansible.home, "twice-mysql")] == ["install"]
    assert [c["action"] for c in graph.claims(ansible.home, "twice")] == ["install"]


def test_a_graph_killed_in_the_middle_is_finished_by_the_next_run(ansible, local_graph):
    root, mysql = local_graph
    args = {"installation": "killed", "bundle": root, "parameters": {"sleep": "60"},
            "dependencies": {"mysql": {"bundle": mysql}}}
    process = ansible.adhoc_process("cnab_install", args)
    deadline = time.time() + 120
    while not graph.claims(ansible.home, "killed") and time.time() < deadline:
        time.sleep(0.2)  # the dependency ran; the root's claim is recorded, its container running
    assert graph.claims(ansible.home, "killed"), "the root never started"
    time.sleep(1)  # the root's container started (its running result follows its claim at once)
    for pid in module_pids(process):
        os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=60)
    args["parameters"] = {"sleep": "0"}
    result, output = ansible.adhoc("cnab_install", dict(args, lock_timeout=60))
    assert not result.get("failed"), output
    planned = [(p["installation"], p["operation"]) for p in result["plan"]]
    assert planned == [("killed-mysql", "none"), ("killed", "install")]
    assert [c["_status"] for c in graph.claims(ansible.home, "killed")] == ["unknown", "succeeded"]
    assert [c["_status"] for c in graph.claims(ansible.home, "killed-mysql")] == ["succeeded"]


def test_an_air_gapped_graph_installs_from_archives_with_no_registry(ansible, tmp_path):
    """The root and its dependency each archived from a private registry (port 5116) that is then
    stopped; the root's ``requires`` names that registry, tag-less, and the dependency's archive is
    given with the ``bundle`` override, so nothing reaches a registry."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import write_archive
    from install_sources import PrivateRegistry

    graph.build_image()
    registry = PrivateRegistry(5116, tmp_path).start()
    try:
        mysql_ref = registry.address + "/gap/mysql"
        graph.push(graph.mysql_document("1.4.0"), mysql_ref + ":v1.4.0")
        graph.push(graph.root_document(mysql_ref, ["1.x"]), registry.address + "/gap/wordpress:v0.1.0")
        mysql = write_archive(mysql_ref + ":v1.4.0", str(tmp_path / "mysql.tgz")).path
        root = write_archive(registry.address + "/gap/wordpress:v0.1.0", str(tmp_path / "wordpress.tgz"),
                             dependencies=False).path
    finally:
        registry.stop()
    args = {"installation": "gap", "bundle": root, "dependencies": {"mysql": {"bundle": mysql}}}
    changed = []
    for flags in ([], [], ["--check"]):
        result, output = ansible.adhoc("cnab_install", args, *flags)
        assert not result.get("failed"), output
        changed.append(result["changed"])
    assert changed == [True, False, False]
    info = _outputs(ansible, "gap")
    assert info["outputs"]["received"] == "db-gap-mysql-1.4.0-small"
    assert info["dependencies"][0]["bundle_version"] == "1.4.0"
    # Without the override, the tag-less reference needs the (stopped) registry: one sentence.
    result, output = ansible.adhoc("cnab_install", {"installation": "gap-2", "bundle": root})
    assert result.get("failed") and "cannot be reached" in result["msg"], output
    assert graph.claims(ansible.home, "gap-2") == []


def test_a_dependency_with_its_own_dependency_runs_depth_first(ansible, registries, tmp_path):
    """root -> mysql -> mysql (a bundle of the mysql repository that itself requires the disk one):
    installations nest-mysql-mysql, nest-mysql, nest; install deepest first, uninstall the reverse."""
    graph.build_image()
    base = "%s/%s" % (OPEN_REGISTRY, unique("nested"))
    graph.push(graph.mysql_document("1.0.0"), base + "/disk:v1.0.0")
    graph.push(graph.root_document(base + "/disk", ["1.x"], name="mysql", version="1.5.0"), base + "/mid:v1.5.0")
    root = graph.write(str(tmp_path / "root"), graph.root_document(base + "/mid", ["1.x"]))
    result, output = ansible.adhoc("cnab_install", {"installation": "nest", "bundle": root})
    assert not result.get("failed"), output
    planned = [(p["installation"], p["operation"]) for p in result["plan"]]
    assert planned == [("nest-mysql", "install"), ("nest", "install")]
    names = ("nest-mysql-mysql", "nest-mysql", "nest")
    installed = [graph.claims(ansible.home, name)[-1]["created"] for name in names]
    assert installed == sorted(installed)
    assert graph.claims(ansible.home, "nest-mysql")[0]["parameters"]["mysql-connstr"] == \
        "db-nest-mysql-mysql-1.0.0-small"
    assert result["outputs"]["received"] == "db-nest-mysql-1.5.0-small"
    result, output = ansible.adhoc("cnab_uninstall", {"installation": "nest"})
    assert not result.get("failed"), output
    removed = [graph.claims(ansible.home, name)[-1] for name in names]
    assert [c["action"] for c in removed] == ["uninstall"] * 3
    assert [c["created"] for c in removed] == sorted((c["created"] for c in removed), reverse=True)


def test_an_air_gapped_graph_installs_from_one_archive_that_carries_its_dependency(ansible, tmp_path):
    """The root archived with its dependency into one file from a private registry (port 5117) that
    is then stopped; the install takes the dependency from the archive, in four steps."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive, write_archive
    from install_sources import PrivateRegistry

    graph.build_image()
    registry = PrivateRegistry(5117, tmp_path).start()
    try:
        mysql_ref = registry.address + "/gap1/mysql"
        for version in ("1.4.0", "2.0.0"):
            graph.push(graph.mysql_document(version), "%s:v%s" % (mysql_ref, version))
        graph.push(graph.root_document(mysql_ref, ["1.x"]), registry.address + "/gap1/wordpress:v0.1.0")
        written = write_archive(registry.address + "/gap1/wordpress:v0.1.0", str(tmp_path / "graph.tgz"))
    finally:
        registry.stop()
    assert written.dependencies["mysql"]["reference"] == mysql_ref + ":v1.4.0"
    with ThickArchive(written.path, dependency="mysql") as carried:
        assert carried.document["version"] == "1.4.0"
    args = {"installation": "gap1", "bundle": written.path}
    changed = []
    for flags in (["--check"], [], [], ["--check"]):
        result, output = ansible.adhoc("cnab_install", args, *flags)
        assert not result.get("failed"), output
        changed.append(result["changed"])
    assert changed == [True, True, False, False]
    info = _outputs(ansible, "gap1")
    assert info["outputs"]["received"] == "db-gap1-mysql-1.4.0-small"
    assert info["dependencies"][0]["bundle_version"] == "1.4.0"
    dependency_claims = graph.claims(ansible.home, "gap1-mysql")
    assert [claim["_status"] for claim in dependency_claims] == ["succeeded"]
    assert dependency_claims[0]["bundleReference"] == written.path
