"""Porter-built bundles end to end: file parameters (sh.porter.file-parameters), parameter sources
(io.cnab.parameter-sources) and the porter-state round trip, on every claim store and both drivers.

The bundle is Porter's own (porter_bundles.py: the config-adapter-mybuns-depsv1 golden with only the
image replaced, and io.cnab.dependencies / io.cnab.docker removed as out of scope here); its image
(tests/integration/images/porter-runtime) behaves like Porter's runtime.
"""

import base64
import io
import json
import os
import tarfile

import pytest
import registries as registry_fixtures
from porter_bundles import build_image, write_porter_bundle
from stores import BACKENDS, options_for
from support import DRIVERS, HERE, store_files, use_driver

registries = registry_fixtures.registries  # pytest fixtures, re-exported
repo_name = registry_fixtures.repo_name

KUBECONFIG = b"\x00\xff\xfe apiVersion: v1\n\x89PNG\r\n\x1a\n" + bytes(range(256))  # not UTF-8
CANARY = "canary-kubeconfig-token-8817"


@pytest.fixture
def porter_bundle(ansible, tmp_path):
    build_image()
    return write_porter_bundle(str(tmp_path / "mybuns"))


def state_files(encoded):
    """The files of a porter-state output (base64 of a gzip'd tar) by name."""
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded)), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


# The round trip takes 1-2 minutes a run, so it runs on what differs, not on the whole product of stores and
# drivers. The store only sees the state's bytes (recording and reading them back differs per store): every
# store, with the Docker driver. The driver only sees the operation (how the state file reaches the image and
# its output comes back differs per driver): the Kubernetes driver too, with the Kubernetes store, the one
# pair that meets (one API server: the driver's namespace set through the environment, the store's through
# claim_store).
# kubernetes x local and kubernetes x azure_blob would run no path these do not.
STORE_DRIVER_PAIRS = [(backend, "docker") for backend in BACKENDS] + [("kubernetes", "kubernetes")]


@pytest.mark.parametrize(("backend", "driver"), STORE_DRIVER_PAIRS)
def test_state_survives_the_lifecycle_on_every_store_and_driver(ansible, tmp_path, porter_bundle, backend, driver):
    use_driver(ansible, driver)
    store = options_for(backend, tmp_path)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(KUBECONFIG)
    run = ansible.playbook(os.path.join(HERE, "playbooks", "porter_lifecycle.yml"), extra_vars={
        "porter_bundle": porter_bundle, "store": store, "kubeconfig": str(kubeconfig),
        "kubeconfig_bytes": len(KUBECONFIG)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout


def test_adhoc_four_steps_and_the_state_output(ansible, porter_bundle):
    args = {"installation": "porter-adhoc", "bundle": porter_bundle, "parameters": {"afile": "apiVersion: v1\n"}}
    steps = [ansible.adhoc("cnab_installation", args, *flags)[0] for flags in (["--check"], [], [], ["--check"])]
    assert [s["changed"] for s in steps] == [True, True, False, False], steps
    installed = steps[1]
    assert installed["binary_outputs"] == ["porter-state"]  # mylogs is the kubeconfig: text this time
    assert installed["outputs"]["mylogs"] == "apiVersion: v1\n"
    assert state_files(installed["outputs"]["porter-state"]) == {
        "porter-state/counter": b"1\n", "porter-state/history": b"install\n"}

    upgraded, raw = ansible.adhoc("cnab_upgrade", {"installation": "porter-adhoc", "force": True})
    assert upgraded["changed"], raw
    assert "file /cnab/app/tfstate: 8 bytes" in upgraded["logs"]  # the required tfstate, from install's output
    assert state_files(upgraded["outputs"]["porter-state"])["porter-state/history"] == b"install\nupgrade\n"
    # The recorded kubeconfig is reused: the same content, not encoded twice.
    assert upgraded["outputs"]["mylogs"] == "apiVersion: v1\n"

    info, raw = ansible.adhoc("cnab_claim_info", {"installation": "porter-adhoc", "history": True})
    installation = info["installation"]
    assert installation["binary_outputs"] == ["porter-state"], raw
    assert installation["outputs"]["porter-state"] == upgraded["outputs"]["porter-state"]
    upgrade_claim = installation["history"][-1]["claim"]
    assert upgrade_claim["parameters"]["afile"] == base64.b64encode(b"apiVersion: v1\n").decode()
    assert "porter-state" not in upgrade_claim["parameters"]  # sourced afresh every run, never recorded


def test_a_non_modifying_action_state_is_not_used_next_time(ansible, porter_bundle):
    base = {"installation": "porter-status", "bundle": porter_bundle}
    assert ansible.adhoc("cnab_install", base)[0]["changed"]
    for _unused in range(2):
        status, raw = ansible.adhoc("cnab_action", {"installation": "porter-status", "action": "status"})
        assert not status["changed"] and "state in: install \n" in status["logs"], raw
    dry_run, raw = ansible.adhoc("cnab_action", dict(base, action="dry-run"))  # stateless: no state at all
    assert "state in: none" in dry_run["logs"] and "All clear!" in dry_run["logs"], raw
    uninstalled, raw = ansible.adhoc("cnab_uninstall", {"installation": "porter-status"})
    assert "state in: install \n" in uninstalled["logs"], raw
    assert uninstalled["outputs"]["msg"] == "uninstall #2"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_sensitive_file_parameter_never_reaches_output_logs_or_shareable_records(ansible, tmp_path, driver):
    use_driver(ansible, driver)
    build_image()
    bundle = write_porter_bundle(str(tmp_path / "mybuns-sensitive"), sensitive_file=True)
    args = {"installation": "porter-secret", "bundle": bundle, "state": "present", "parameters": {"afile": CANARY}}
    result, raw = ansible.adhoc("cnab_installation", args, "-vvv", "--diff")
    assert result["changed"] and result["result"]["status"] == "succeeded", raw
    assert "kubeconfig: ********" in result["logs"]  # the image printed the decoded file
    encoded = base64.b64encode(CANARY.encode()).decode()
    assert CANARY not in raw and encoded not in raw
    assert result["outputs"]["mylogs"] == "********"
    files = store_files(ansible.home)
    shareable = {p: c for p, c in files.items() if p.split("/")[2:3] != ["sensitive"]}
    assert any("/claims/" in p for p in shareable), "the run wrote no claim records"
    for path, content in shareable.items():
        assert CANARY.encode() not in content and encoded.encode() not in content, path
    assert any(encoded.encode() in c for p, c in files.items() if "/sensitive/" in p)
    claim = next(json.loads(c) for p, c in shareable.items() if "/claims/" in p)
    assert "afile" not in claim["parameters"]


def test_a_file_parameter_that_cannot_be_read_is_refused_in_one_sentence(ansible, porter_bundle, tmp_path):
    missing = str(tmp_path / "no-such-kubeconfig")
    args = {"installation": "porter-missing", "bundle": porter_bundle, "parameters": {"afile": {"path": missing}}}
    result, raw = ansible.adhoc("cnab_install", args)
    assert result.get("failed") and not result["changed"], raw
    assert result["msg"] == ('file parameter "afile" comes from file %s, which cannot be read: '
                             "No such file or directory." % missing)
    assert not any("porter-missing" in p for p in store_files(ansible.home))


def test_from_a_registry_and_an_archive_the_state_is_carried(ansible, porter_bundle, registries, repo_name, tmp_path):
    """As published by `porter publish` (a registry reference) and as `porter archive` writes it (a thick
    archive, here made by cnab_bundle from the registry in Porter's layout)."""
    with open(porter_bundle) as handle:
        document = json.load(handle)
    # Pushing copies every image, and docker.io cannot be reached here: the component image
    # (carolynvs/whalesayd) is replaced by the test image too.
    document["images"]["whalesayd"]["image"] = document["invocationImages"][0]["image"]
    with open(porter_bundle, "w") as handle:
        json.dump(document, handle)
    pushed, raw = ansible.adhoc("cnab_bundle", {"src": porter_bundle, "dest": registries.open.ref(repo_name, "v0.1.2")})
    assert pushed["changed"], raw
    archive = str(tmp_path / "mybuns.tgz")
    archived, raw = ansible.adhoc("cnab_bundle", {"src": pushed["reference"], "dest": archive})
    assert archived["changed"], raw
    for installation, bundle in (("porter-registry", pushed["reference"]), ("porter-archive", archive)):
        args = {"installation": installation, "bundle": bundle, "parameters": {"afile": "apiVersion: v1\n"}}
        installed, raw = ansible.adhoc("cnab_installation", args)
        assert installed["changed"] and "state in: none" in installed["logs"], raw
        assert not ansible.adhoc("cnab_installation", args)[0]["changed"]
        upgraded, raw = ansible.adhoc("cnab_upgrade", {"installation": installation, "force": True})
        assert "state in: install \n" in upgraded["logs"], raw
        assert upgraded["claim"]["bundle"]["index_digest"] == pushed["digest"]


def test_the_goldens_dependency_wiring_runs_for_real(ansible, tmp_path):
    """Porter's depsv1 golden as built (alias db, mysql-connstr <- db's connstr output), its
    dependency bundle given by the ``bundle`` override (the golden's reference names Porter's test registry)."""
    import dependencies as graph

    build_image()
    graph.build_image()
    root = write_porter_bundle(str(tmp_path / "mybuns"), dependencies=True)
    mysql = graph.write(str(tmp_path / "mydb"), graph.mysql_document("0.1.0"))
    args = {"installation": "porter-deps", "bundle": root, "dependencies": {"db": {"bundle": mysql}}}
    steps = [ansible.adhoc("cnab_install", args, *flags)[0] for flags in (["--check"], [], [], ["--check"])]
    assert [s["changed"] for s in steps] == [True, True, False, False], steps
    planned = [(p["installation"], p["operation"]) for p in steps[1]["plan"]]
    assert planned == [("porter-deps-db", "install"), ("porter-deps", "install")]
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "porter-deps"})
    assert info["installation"]["parameters"]["mysql-connstr"] == "db-porter-deps-db-0.1.0-small"
    # A custom action runs on the root only, with the wiring the dependency recorded.
    status, output = ansible.adhoc("cnab_action", {"installation": "porter-deps", "action": "status"})
    assert not status.get("failed"), output
    assert [(p["installation"], p["operation"]) for p in status["plan"]] == [("porter-deps", "status")]
    history, _unused = ansible.adhoc("cnab_claim_info", {"installation": "porter-deps-db", "history": True})
    assert [h["claim"]["action"] for h in history["installation"]["history"]] == ["install"]
    # Uninstall: the root first, then the dependency.
    removed, output = ansible.adhoc("cnab_uninstall", {"installation": "porter-deps"})
    assert not removed.get("failed"), output
    planned = [(p["installation"], p["operation"]) for p in removed["plan"]]
    assert planned == [("porter-deps", "uninstall"), ("porter-deps-db", "uninstall")]
