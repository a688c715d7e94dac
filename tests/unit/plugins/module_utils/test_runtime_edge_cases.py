"""Regression tests for review findings, through runtime.execute with the fake driver
(fixtures ``h`` and ``driver`` in conftest.py) unless a store or lookup call says it more directly."""

import json
import os
import pathlib
import signal

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import lookup
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK, load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleError,
    BundleValidationError,
    ClaimStoreError,
    CnabError,
    CredentialError,
)
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME, PASSWORD, TOKEN

M = SENSITIVE_MASK
DERIVED = "secret-%s-out" % PASSWORD  # the fake driver's admin_secret output: a secret output holding a secret input


def _showcase(h):
    return json.loads(pathlib.Path(h.bundles["showcase"]).read_text())


# ---- masking across inputs and outputs ----------------------------------------------------------


def test_secret_output_holding_a_secret_input_is_masked_whole(h, driver):
    driver.logs = lambda op: "made %s\n" % DERIVED
    driver.error = "the image complained about %s" % DERIVED
    response = h.install()
    assert response.logs == "made %s\n" % M
    assert response.result["message"] == "the image complained about %s" % M
    stored = h.installation().last_result(h.installation().claims[-1])
    assert stored["message"] == "the image complained about %s" % M


# ---- a nested writeOnly makes the whole parameter sensitive ----------------------------------------

DB_SECRET = "db-pw-51e0c2"


def test_parameter_with_a_nested_write_only_is_kept_out_of_the_claim_records(h, driver):
    document = _showcase(h)
    document["definitions"]["db"] = {"type": "object", "properties": {
        "user": {"type": "string"}, "password": {"type": "string", "writeOnly": True}}}
    document["parameters"]["db"] = {"definition": "db", "destination": {"path": "/etc/showcase/db.json"}}
    h.write_bundle("nested", document)

    response = h.install(parameters={"db": {"user": "app", "password": DB_SECRET}}, bundle="nested")
    assert not response.failed
    assert DB_SECRET in driver.runs[0].files["/etc/showcase/db.json"]  # the image still gets it
    claim = h.installation().claims[0]
    assert "db" not in claim["parameters"] and "db" in model.runtime_custom(claim)["sensitiveParameters"]
    sensitive = os.path.join("installations", NAME, "sensitive") + os.sep
    holders = [path for path, data in h.files().items() if DB_SECRET.encode() in data]
    assert holders and all(path.startswith(sensitive) for path in holders), holders
    assert DB_SECRET not in json.dumps(response.as_dict())
    assert DB_SECRET in response.secrets


# ---- inputs are resolved again when another run recorded something before the lock -------------------


def test_inputs_recorded_by_another_run_before_the_lock_are_used(h, driver):
    first = h.install()
    connect, concurrent = driver.connect, []

    def another_run_upgrades_meanwhile():
        # Run A has resolved its inputs and decided; run B upgrades before A takes the lock.
        # (driver.prepare runs in a thread, where B could not install signal handlers;
        # connect is called in the main thread just before it, in the same window.)
        driver.connect = connect  # only once: B, and A's second prepare, connect normally
        concurrent.append(h.install("upgrade", {"port": 9090}))
        connect()

    driver.connect = another_run_upgrades_meanwhile
    run_a = h.execute("upgrade", bundle=None, force=True, credentials={"api_token": TOKEN})
    run_b = concurrent[0]

    assert (run_a.operation, run_a.failed) == ("upgrade", False)
    final = driver.runs[-1]
    assert final.claim_id == run_a.claim["id"]
    assert final.environment["PORT"] == "9090"
    assert final.environment["ADMIN_PASSWORD"] == PASSWORD
    assert h.history() == [("install", ["running", "succeeded"])] + [("upgrade", ["running", "succeeded"])] * 2
    assert [c["id"] for c in h.installation().claims] == [first.claim["id"], run_b.claim["id"], run_a.claim["id"]]
    assert first.claim["id"] < run_b.claim["id"] < run_a.claim["id"]


def test_a_result_alone_recorded_before_the_lock_counts_too(h, driver):
    h.install()
    run_b = h.install("upgrade", {"port": 9090})
    # Roll B back to "running": A resolves while B still runs, so from the install's inputs...
    final = h.root / "installations" / NAME / "results" / ("%s.json" % run_b.result["id"])
    held = final.read_bytes()
    final.unlink()
    connect = driver.connect

    def run_b_finishes_meanwhile():
        if not final.exists():  # ...and B records its result before A takes the lock.
            final.write_bytes(held)
        connect()

    driver.connect = run_b_finishes_meanwhile
    run_a = h.execute("upgrade", bundle=None, force=True, credentials={"api_token": TOKEN})
    assert (run_a.operation, run_a.failed) == ("upgrade", False)
    assert driver.runs[-1].environment["PORT"] == "9090"
    assert h.history()[1:] == [("upgrade", ["running", "succeeded"])] * 2


def test_nothing_recorded_before_the_lock_means_one_prepare(h, driver):
    h.install()
    prepared = len(driver.prepared)
    response = h.execute("upgrade", bundle=None, force=True, credentials={"api_token": TOKEN})
    assert (response.operation, response.failed) == ("upgrade", False)
    assert len(driver.prepared) == prepared + 1
    assert driver.prepared[-1] is driver.runs[-1]


# ---- a run that died is reaped and settled as unknown ----------------------------------------------


def _write_stale_running_claim(h, driver_name="docker"):
    bundle = load_bundle(h.bundles["showcase"])
    claim = model.new_claim(NAME, "install", bundle, {"port": 8080}, model.new_ulid(),
                            {"bundleDigest": bundle.digest, "modifies": True, "driver": driver_name})
    h.store.write_claim(NAME, claim, {})
    h.store.write_result(NAME, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    return claim


@pytest.mark.parametrize("sentence", ["its container cnab-demo-1 was stopped and removed", None])
def test_stale_running_claim_is_reaped_and_settled_as_unknown(h, driver, sentence):
    stale = _write_stale_running_claim(h)
    reaped = []
    driver.reap = lambda installation, claim_id: reaped.append((installation, claim_id)) or sentence

    response = h.install()
    assert (response.operation, response.failed) == ("install", False)
    assert reaped == [(NAME, stale["id"])]
    settled = h.installation().last_result(stale)
    assert settled["status"] == "unknown"
    assert "the run ended without recording a result" in settled["message"]
    if sentence:
        assert sentence in settled["message"]
    assert h.history() == [("install", ["running", "unknown"]), ("install", ["running", "succeeded"])]


def test_stale_claim_of_another_driver_is_settled_without_reaping(h, driver):
    stale = _write_stale_running_claim(h, driver_name="podman")
    reaped = []
    driver.reap = lambda installation, claim_id: reaped.append(claim_id)
    h.install()
    assert reaped == [] and h.installation().last_result(stale)["status"] == "unknown"


# ---- a signal outside the driver's wait is deferred -------------------------------------------------


def test_sigterm_outside_interruptible_does_not_stop_the_run(h, driver):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    driver.on_run = lambda op: os.kill(os.getpid(), signal.SIGTERM)  # e.g. while the driver copies outputs
    response = h.install()
    assert (response.operation, response.failed) == ("install", False)
    assert response.result["status"] == "succeeded"
    assert h.history() == [("install", ["running", "succeeded"])]
    assert any("cancel request arrived after" in w for w in response.warnings), response.warnings
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# ---- malformed bundles are typed errors --------------------------------------------------------------

MINIMAL = {"schemaVersion": "v1.2.0", "name": "mini", "version": "1.0.0",
           "invocationImages": [{"image": "cnab-tests/mini:1", "imageType": "docker"}]}
MALFORMED = {
    "parameters is a string": (dict(MINIMAL, parameters="abc"), {"intent": "install"}, BundleValidationError),
    "definition is a boolean": (
        dict(MINIMAL, definitions={"d": True}, parameters={"p": {"definition": "d", "destination": {"env": "P"}}}),
        {"intent": "install"}, BundleValidationError),
    "definition is a boolean, value given": (
        dict(MINIMAL, definitions={"d": True}, parameters={"p": {"definition": "d", "destination": {"env": "P"}}}),
        {"intent": "install", "parameters": {"p": "x"}}, BundleValidationError),
    # A list where an object belongs is a schema error, even when empty.
    "actions is an empty list": (dict(MINIMAL, actions=[]), {"intent": "action", "action": "rotate"},
                                 BundleValidationError),
    "actions is a list": (dict(MINIMAL, actions=["rotate"]), {"intent": "action", "action": "rotate"},
                          BundleValidationError),
    "action is a string": (dict(MINIMAL, actions={"rotate": "yes"}), {"intent": "action", "action": "rotate"},
                           BundleValidationError),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_malformed_bundle_is_a_typed_error_and_writes_nothing(h, driver, case, check_mode):
    document, request, error = MALFORMED[case]
    h.write_bundle("malformed", document)
    with pytest.raises(CnabError) as info:
        h.execute(bundle="malformed", check_mode=check_mode, **request)
    assert isinstance(info.value, error), repr(info.value)
    assert driver.runs == [] and driver.discarded >= len(driver.prepared)
    assert not (h.root / "installations").exists()


# ---- claim store errors ------------------------------------------------------------------------------


def test_corrupt_sensitive_parameters_are_a_store_error(h, driver):
    h.install()
    claim = h.installation().claims[0]
    (h.root / "installations" / NAME / "sensitive" / ("%s.parameters.json" % claim["id"])).write_text("{not json")
    with pytest.raises(ClaimStoreError, match="sensitive parameters"):
        h.execute("upgrade", bundle=None, force=True, credentials={"api_token": TOKEN})
    assert len(driver.runs) == 1


def test_fingerprint_key_that_is_a_directory_is_a_store_error(h, driver):
    (h.root / "fingerprint.key").mkdir(parents=True)
    with pytest.raises(ClaimStoreError, match="fingerprint key"):
        h.store.fingerprint_key()
    with pytest.raises(ClaimStoreError):
        h.install()
    assert driver.runs == []


def test_stray_files_in_installations_are_not_installations(h, driver):
    h.install()
    (h.root / "installations" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (h.root / "installations" / "README").write_text("notes")  # a valid name, but a file
    assert [row["name"] for row in lookup.list_installations(h.store)] == [NAME]
    assert h.store.installation_names() == [NAME]


# ---- credentials given as null --------------------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_null_credential_counts_as_not_given(h, driver, check_mode):
    with pytest.raises(CredentialError, match='"api_token"'):
        h.execute("install", parameters={"admin_password": PASSWORD}, credentials={"api_token": None},
                  check_mode=check_mode)
    assert driver.runs == [] and not (h.root / "installations").exists()


def test_null_optional_credential_is_not_passed_as_the_string_null(h, driver):
    h.showcase_with("optional", credentials={"api_token": {"env": "API_TOKEN", "required": False}})
    response = h.execute("install", bundle="optional", parameters={"admin_password": PASSWORD},
                         credentials={"api_token": None})
    assert not response.failed
    assert "API_TOKEN" not in driver.runs[-1].environment


# ---- stateless actions need no valid installation name ----------------------------------------------


def test_stateless_action_of_a_bundle_whose_name_is_no_installation_name(h, driver):
    h.showcase_with("spaced", name="My Bundle")
    response = h.execute("action", bundle="spaced", installation=None, action="io.cnab.help")
    assert (response.operation, response.failed) == ("io.cnab.help", False)
    assert driver.runs[0].environment["CNAB_INSTALLATION_NAME"] == "My Bundle"
    assert not h.root.exists()


# ---- revealed outputs ---------------------------------------------------------------------------


def test_revealed_sensitive_output_is_not_a_secret_but_logs_stay_masked(h, driver):
    driver.logs = lambda op: "made %s\n" % DERIVED
    response = h.install(reveal_sensitive=True)
    assert response.outputs["admin_secret"] == DERIVED
    assert DERIVED not in response.secrets
    assert PASSWORD in response.secrets and TOKEN in response.secrets
    assert response.logs == "made %s\n" % M


def test_unrevealed_sensitive_output_is_a_secret(h, driver):
    response = h.install()
    assert response.outputs["admin_secret"] == M and DERIVED in response.secrets


# ---- check mode refuses what the run would refuse -------------------------------------------------------


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "run"])
def test_bundle_without_a_runnable_invocation_image_is_refused(h, driver, check_mode):
    h.showcase_with("qcow", invocationImages=[{"image": "vm.qcow2", "imageType": "qcow"}])
    with pytest.raises(BundleError, match="no invocation image"):
        h.install(bundle="qcow", check_mode=check_mode)
    assert driver.runs == [] and not (h.root / "installations").exists()
