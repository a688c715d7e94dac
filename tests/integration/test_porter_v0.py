"""Porter v0 claim stores read and copied (issue 13): ``realworld/porter/porter_home_v0`` (a real Porter
v0.38 home, copied to a temporary directory; never edited) and the same tree uploaded to Azurite as
Porter's azure.blob plugin lays it out, copied into every store, then the idempotent module asked for
what Porter had installed."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest
from stores import BACKENDS, options_for
from stores_azure import AZURITE, ensure_azurite
from support import HERE, Ansible

from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import SUPPORTED_EXTENSIONS
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, ReadOnlyStoreError
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED

FIXTURE = os.path.join(SHARED, "realworld", "porter", "porter_home_v0")
LOGS = "io.cnab.outputs.invocationImageLogs"
# What `porter list` showed: the last action of each installation and its result.
PORTER_STATUS = {"creds-tutorial": "installed", "hello-llama": "installed", "hello1": "uninstalled",
                 "sensitive-data": "installed"}
PASSWORD = "topsecret"  # the sensitive parameter Porter v0 kept in sensitive-data's claim, in clear
TOKEN = "ghp-porter-v0-test-7d1e"  # the github-token credential of creds-tutorial
INPUTS = {"hello-llama": ({"name": "big red"}, {}), "creds-tutorial": ({}, {"github-token": TOKEN}),
          "sensitive-data": ({"password": PASSWORD}, {})}


def _load(path):
    with open(path, "rb") as handle:
        return json.loads(handle.read())


def fixture_records():
    """{installation: {"claims": {id: claim}, "results": {id: result}}} read straight from the fixture."""
    records = {}
    claim_of = {}
    for path in glob.glob(os.path.join(FIXTURE, "claims", "*", "*.json")):
        claim = _load(path)
        records.setdefault(claim["installation"], {"claims": {}, "results": {}})["claims"][claim["id"]] = claim
        claim_of[claim["id"]] = claim["installation"]
    for path in glob.glob(os.path.join(FIXTURE, "results", "*", "*.json")):
        result = _load(path)
        records[claim_of[result["claimId"]]]["results"][result["id"]] = result
    return records


def output_files():
    """{(result id, output name): bytes} of every output file of the fixture."""
    found = {}
    for path in glob.glob(os.path.join(FIXTURE, "outputs", "*", "*")):
        result_id = os.path.basename(os.path.dirname(path))
        with open(path, "rb") as handle:
            found[(result_id, os.path.basename(path)[len(result_id) + 1:])] = handle.read()
    return found


def checksums(root):
    """sha256 and mode of every file and directory under ``root``."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            data = b""
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read()
            found[os.path.relpath(path, root)] = (hashlib.sha256(data).hexdigest(), os.stat(path).st_mode)
    return found


@pytest.fixture
def porter_home(tmp_path):
    home = str(tmp_path / "porter-home")
    shutil.copytree(FIXTURE, home)
    for directory, _unused, _files in os.walk(home):
        os.chmod(directory, 0o755)  # the fixture's directories are read-only; pytest must remove the copy
    return home


def _upload_as_the_plugin(container_name):
    """The fixture laid out as Porter's azure.blob plugin writes it: blob path.Join(itemType, name), index tags."""
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(AZURITE).get_container_client(container_name)
    container.create_container()

    def upload(name, data, tags):
        try:
            container.upload_blob(name, data, tags=tags)
        except Exception:  # noqa: BLE001 - an emulator without blob index tags: the reader needs none
            container.upload_blob(name, data, overwrite=True)

    for path in glob.glob(os.path.join(FIXTURE, "installations", "*")):
        upload("installations/" + os.path.basename(path), b"", {"type": "installations"})
    for records in fixture_records().values():
        for claim_id, claim in records["claims"].items():
            with open(glob.glob(os.path.join(FIXTURE, "claims", "*", claim_id + ".json"))[0], "rb") as handle:
                upload("claims/" + claim_id, handle.read(), {"type": "claims", "installation": claim["installation"]})
        for result_id, result in records["results"].items():
            with open(glob.glob(os.path.join(FIXTURE, "results", "*", result_id + ".json"))[0], "rb") as handle:
                upload("results/" + result_id, handle.read(), {"type": "results", "claim-id": result["claimId"]})
    for (result_id, name), data in output_files().items():
        upload("outputs/%s-%s" % (result_id, name), data, {"type": "outputs", "result-id": result_id})
    with open(os.path.join(FIXTURE, "schema.json"), "rb") as handle:
        upload("schema", handle.read(), {})
    return container


def blob_checksums(container):
    return {b.name: hashlib.sha256(container.download_blob(b.name).readall()).hexdigest() + str(b.etag)
            for b in container.list_blobs()}


@pytest.fixture
def porter_blobs():
    ensure_azurite()
    name = "porter-" + uuid.uuid4().hex[:12]
    container = _upload_as_the_plugin(name)
    yield {"backend": "porter_v0", "connection_string": AZURITE, "container": name}, container
    container.delete_container()


@pytest.fixture(params=["files", "blobs"])
def porter_source(request, tmp_path):
    """(store options, a function returning checksums of everything the source holds)."""
    if request.param == "files":
        home = request.getfixturevalue("porter_home")
        return {"backend": "porter_v0", "path": home}, lambda: checksums(home)
    options, container = request.getfixturevalue("porter_blobs")
    return options, lambda: blob_checksums(container)


def test_reads_every_installation_as_porter_kept_it(porter_source):
    options, contents = porter_source
    before = contents()
    store = open_store(options)
    expected = fixture_records()
    files = output_files()
    assert store.installation_names() == sorted(expected) == sorted(PORTER_STATUS)
    for name, records in expected.items():
        installation = store.installation(name)
        assert installation.status == PORTER_STATUS[name]
        assert {c["id"] for c in installation.claims} == set(records["claims"])
        read = {r["id"]: r for rs in installation.results.values() for r in rs}
        assert set(read) == set(records["results"])
        for result_id, result in records["results"].items():
            assert read[result_id]["status"] == result["status"].replace("cancelled", "canceled")
            assert read[result_id]["claimId"] == result["claimId"]
            values = store.output_values(name, result_id)
            recorded = set(result.get("outputs") or {})
            present = {n for (r, n) in files if r == result_id}
            # Every recorded output whose bytes exist comes back, byte for byte, the logs included.
            assert set(values) == recorded & present
            for output, data in values.items():
                assert data == files[(result_id, output)]
        for claim in installation.claims:
            assert claim["schemaVersion"] == "1.0.0"
            assert PASSWORD not in json.dumps(claim)
    assert store.sensitive_parameters("sensitive-data", "01G6K8CZ08T78WXTJYHR0NTYBS") == {"password": PASSWORD}
    assert LOGS in store.output_values("hello-llama", "01G4XDM25QD6XCT9Y6ZM2NSPKK")  # the failed upgrade's logs
    # A custom value that is not an object (Porter's test data has "boop!") is kept inside one.
    kept = store.installation("hello1").results["01G1VJGY43HT3KZN82DS6DDPWK"][-1]
    assert kept["id"] == "01G1VJH2HP97B5B0N5S37KYMVG" and kept["custom"] == {"sh.porter.v0.custom": "boop!"}
    # The failed run's logs are recorded but absent from the fixture: reported, not invented.
    assert any("01G1VJH2HP97B5B0N5S37JYMVG" in w and "missing" in w for w in store.warnings)
    assert any('"dry-run" is not declared' in w for w in store.warnings)
    assert contents() == before


def test_an_output_whose_bytes_do_not_match_is_reported_not_copied(porter_home, tmp_path):
    path = os.path.join(porter_home, "outputs", "01G6K8D05SHAHR6PBBCT49B1JM", "01G6K8D05SHAHR6PBBCT49B1JM-name")
    os.chmod(path, 0o644)
    with open(path, "wb") as handle:
        handle.write(b"tampered")
    source = open_store({"backend": "porter_v0", "path": porter_home})
    from ansible_collections.cnab.runtime.plugins.module_utils.transfer import copy_installations

    destination = open_store({"backend": "local", "path": str(tmp_path / "dest")})
    copy_installations(source, destination, ["sensitive-data"], 10)
    copied = destination.output_values("sensitive-data", "01G6K8D05SHAHR6PBBCT49B1JM")
    assert "name" not in copied and LOGS in copied
    assert any('output "name" of result 01G6K8D05SHAHR6PBBCT49B1JM' in w and "not the recorded" in w
               for w in source.warnings)


def test_the_store_refuses_every_write(porter_home):
    before = checksums(porter_home)
    store = open_store({"backend": "porter_v0", "path": porter_home})
    claim = store.installation("hello1").claims[-1]
    attempts = [lambda: store.write_claim("hello1", claim, {}), lambda: store.write_result("hello1", {}, {}, ()),
                lambda: store.lock("hello1", 1), lambda: store.break_lock("hello1"), store.fingerprint_key]
    for attempt in attempts:
        with pytest.raises(ReadOnlyStoreError) as refused:
            attempt()
        message = str(refused.value)
        assert "is read-only" in message and message.count(". ") == 0 and message.endswith(".")
    assert store.fingerprint_key(create=False) is None
    assert checksums(porter_home) == before


@pytest.mark.parametrize("edit, refusal", [
    (lambda c: c.update(installation="hello-llama"), "names installation 'hello-llama' instead of 'hello1'"),
    (lambda c: c.update(id="01G1VJQJV0RN5AW5BSZHNTVYTW"), "is not the '01G1VJQJV0RN5AW5BSZHNTVYTV' its name says"),
    (lambda c: c.update(revision="../../x"), "its revision '../../x' is not a ULID"),
    (lambda c: c.update(schemaVersion="2.0.0"), "its schemaVersion '2.0.0' is not one Porter v0 wrote"),
])
def test_records_that_do_not_fit_are_refused_in_one_sentence(porter_home, edit, refusal):
    path = os.path.join(porter_home, "claims", "hello1", "01G1VJQJV0RN5AW5BSZHNTVYTV.json")
    claim = _load(path)
    edit(claim)
    os.chmod(path, 0o644)
    with open(path, "w") as handle:
        json.dump(claim, handle)
    with pytest.raises(ClaimStoreError) as refused:
        open_store({"backend": "porter_v0", "path": porter_home}).installation("hello1")
    assert refusal in str(refused.value) and "01G1VJQJV0RN5AW5BSZHNTVYTV.json" in str(refused.value)


def test_a_result_of_another_status_or_installation_is_refused(porter_home):
    path = os.path.join(porter_home, "results", "01G6K8CZ08T78WXTJYHR0NTYBS", "01G6K8D05SHAHR6PBBCT49B1JM.json")
    result = _load(path)
    os.chmod(path, 0o644)
    for edit, refusal in [({"status": "exploded"}, "status 'exploded' is not a CNAB result status"),
                          ({"status": "cancelled", "claimId": "01G4XDG6XY7940XN5A57SGHPN0"},
                           "names claim '01G4XDG6XY7940XN5A57SGHPN0', which is not a claim of installation sensitive-data")]:
        with open(path, "w") as handle:
            json.dump(dict(result, **edit), handle)
        with pytest.raises(ClaimStoreError, match=refusal):
            open_store({"backend": "porter_v0", "path": porter_home}).installation("sensitive-data")
    with open(path, "w") as handle:
        json.dump(dict(result, status="cancelled"), handle)
    installation = open_store({"backend": "porter_v0", "path": porter_home}).installation("sensitive-data")
    assert installation.last_result(installation.claims[0])["status"] == "canceled"
    assert installation.status == "failed"


def _recorded_bundles(tmp_path):
    """The bundle.json of each installed installation's last claim, as a user would have it."""
    bundles = {}
    for name in INPUTS:
        newest = sorted(glob.glob(os.path.join(FIXTURE, "claims", name, "*.json")))[-1]
        path = tmp_path / "bundles" / name / "bundle.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_load(newest)["bundle"]))
        bundles[name] = str(path)
    return bundles


def _containers_of(names):
    run = subprocess.run(["docker", "ps", "-aq"] + ["--filter=label=io.cnab.runtime.installation=%s" % n for n in names],
                         capture_output=True, text=True, check=True)
    return run.stdout.split()


def _copy_and_present(collections_path, tmp_path, source, contents, destination):
    before = contents()
    report = tmp_path / "report.json"
    bundles = _recorded_bundles(tmp_path)
    ansible = Ansible(collections_path, str(tmp_path / "cnab-home"))
    run = ansible.playbook(os.path.join(HERE, "playbooks", "porter_v0.yml"), extra_vars={
        "source": source, "destination": destination, "copy_credentials": {"github-token": TOKEN},
        "present": {n: {"bundle": bundles[n], "parameters": p, "credentials": c} for n, (p, c) in INPUTS.items()},
        "absent": ["hello1"], "names": sorted(PORTER_STATUS), "statuses": PORTER_STATUS, "report": str(report),
        "porter_extensions_supported": {"sh.porter.file-parameters", "io.cnab.parameter-sources"} <= SUPPORTED_EXTENSIONS})
    assert run.returncode == 0, run.stdout + run.stderr
    for secret in (PASSWORD, TOKEN):
        assert secret not in run.stdout + run.stderr
    assert contents() == before, "the Porter store must be left as it was"
    assert _containers_of(PORTER_STATUS) == [], "no invocation image may have been run"
    found = json.loads(report.read_text())
    expected = fixture_records()
    assert sorted(found["copied"]) == sorted(expected)
    for name, records in expected.items():
        assert sorted(found["copied"][name]) == sorted(list(records["claims"]) + list(records["results"]))
    for info in found["infos"]:
        records = expected[info["name"]]
        assert info["status"] == PORTER_STATUS[info["name"]]
        # The full history, and no claim added by the runs above.
        assert [h["claim"]["id"] for h in info["history"]] == sorted(records["claims"])
        statuses = sorted(r["status"] for h in info["history"] for r in h["results"])
        assert statuses == sorted(r["status"] for r in records["results"].values())
    sensitive = next(i for i in found["infos"] if i["name"] == "sensitive-data")
    assert sensitive["parameters"]["password"] == "********" and sensitive["sensitive_outputs"] == ["name"]
    assert sensitive["outputs"][LOGS].startswith("executing install action from examples/sensitive-data")
    return found, run.stdout + run.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_copy_into_every_store_then_present_changes_nothing(collections_path, tmp_path, porter_home, backend):
    destination = options_for(backend, tmp_path)
    _copy_and_present(collections_path, tmp_path, {"backend": "porter_v0", "path": porter_home},
                      lambda: checksums(porter_home), destination)
    if backend == "local":
        shareable = [p for p in glob.glob(destination["path"] + "/**", recursive=True)
                     if os.path.isfile(p) and "/sensitive/" not in p]
        assert shareable and not [p for p in shareable if PASSWORD.encode() in open(p, "rb").read()]


def test_copy_from_the_plugins_container(collections_path, tmp_path, porter_blobs):
    source, container = porter_blobs
    unused, output = _copy_and_present(collections_path, tmp_path, source, lambda: blob_checksums(container),
                                       options_for("local", tmp_path))
    # The missing logs of the failed run are reported by the copy (the same record as in the home directory).
    assert "result 01G1VJH2HP97B5B0N5S37JYMVG (installation hello1) is recorded but its value is missing" in output


@pytest.mark.parametrize("declared, modifies", [({"modifies": True}, True), ({"modifies": False}, False), ({}, False)])
def test_a_custom_action_keeps_its_name_and_the_bundles_modifies(porter_home, declared, modifies):
    path = os.path.join(porter_home, "claims", "hello1", "01G1VJGY43HT3KZN82DS6DDPWH.json")
    claim = _load(path)
    claim["bundle"]["actions"] = {"dry-run": declared}
    os.chmod(path, 0o644)
    with open(path, "w") as handle:
        json.dump(claim, handle)
    store = open_store({"backend": "porter_v0", "path": porter_home})
    copied = next(c for c in store.installation("hello1").claims if c["id"] == claim["id"])
    assert copied["action"] == "dry-run" and copied["custom"]["cnab.runtime"]["modifies"] is modifies
    assert not any("dry-run" in w for w in store.warnings)


def test_a_record_that_is_not_json_or_nests_too_deep_is_refused(porter_home):
    path = os.path.join(porter_home, "results", "01G6K8CZ08T78WXTJYHR0NTYBS", "01G6K8D05SHAHR6PBBCT49B1JM.json")
    os.chmod(path, 0o644)
    for content, refusal in [("{not json", "is not valid JSON"), ("[" * 5000 + "]" * 5000, "nested")]:
        with open(path, "w") as handle:
            handle.write(content)
        with pytest.raises(ClaimStoreError, match=refusal) as refused:
            open_store({"backend": "porter_v0", "path": porter_home}).installation("sensitive-data")
        assert "01G6K8D05SHAHR6PBBCT49B1JM.json" in str(refused.value)


def test_logs_that_hold_a_sensitive_parameter_are_copied_as_sensitive(porter_home, tmp_path):
    result_id = "01G6K8D05SHAHR6PBBCT49B1JM"
    logs = ("Hello, installing example-bundle with password: %s\n" % PASSWORD).encode()
    path = os.path.join(porter_home, "outputs", result_id, "%s-%s" % (result_id, LOGS))
    os.chmod(path, 0o644)
    with open(path, "wb") as handle:
        handle.write(logs)
    record = os.path.join(porter_home, "results", "01G6K8CZ08T78WXTJYHR0NTYBS", result_id + ".json")
    result = _load(record)
    result["outputs"][LOGS]["contentDigest"] = "sha256:" + hashlib.sha256(logs).hexdigest()  # Porter's own record
    os.chmod(record, 0o644)
    with open(record, "w") as handle:
        json.dump(result, handle)
    from ansible_collections.cnab.runtime.plugins.module_utils.transfer import copy_installations

    source = open_store({"backend": "porter_v0", "path": porter_home})
    destination = open_store({"backend": "local", "path": str(tmp_path / "dest")})
    copy_installations(source, destination, ["sensitive-data"], 10)
    assert destination.output_values("sensitive-data", result_id)[LOGS] == logs
    leaked = [p for p in glob.glob(str(tmp_path / "dest") + "/**", recursive=True)
              if os.path.isfile(p) and "/sensitive/" not in p and PASSWORD.encode() in open(p, "rb").read()]
    assert leaked == []
    assert any(LOGS in w and "stored and returned as sensitive" in w for w in source.warnings)
