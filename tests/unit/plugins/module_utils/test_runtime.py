"""runtime.execute end to end, with the example bundles, a LocalStore in tmp_path and a fake driver
(fixtures ``h`` and ``driver`` in conftest.py)."""

import hashlib
import json
import os
import pathlib
import signal
import time

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK, canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    CnabError,
    ActionError,
    BundleError,
    Cancelled,
    CredentialError,
    DriverError,
    ImageNotFound,
    InstallationNotFound,
    LockTimeout,
    ParameterError,
)
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME, PASSWORD, TOKEN, fake_outputs

# ---- check mode -----------------------------------------------------------------------------

CHECK_SCENARIOS = {
    "fresh install": ([], lambda h, **kw: h.install(**kw), "install", True),
    "present with a new port": (["install"], lambda h, **kw: h.install("present", {"port": 9090}, **kw),
                                "upgrade", True),
    "present with a new token": (["install"], lambda h, **kw: h.install("present", credentials={"api_token": "t2"},
                                                                        **kw), "upgrade", True),
    "uninstall": (["install"], lambda h, **kw: h.execute("uninstall", bundle=None, **kw), "uninstall", True),
    "rotate": (["install"], lambda h, **kw: h.execute("action", bundle=None, action="rotate", **kw), "rotate", True),
    "install again": (["install"], lambda h, **kw: h.install(**kw), "none", False),
}


@pytest.mark.parametrize("scenario", sorted(CHECK_SCENARIOS))
def test_check_mode_predicts_the_run_without_the_driver(h, driver, scenario):
    setup, step, operation, changed = CHECK_SCENARIOS[scenario]
    for _unused in setup:
        h.install()
    runs, requested, before = len(driver.runs), len(driver.requested), h.files("installations")

    checked = step(h, check_mode=True)
    assert (checked.operation, checked.changed) == (operation, changed)
    assert (len(driver.runs), len(driver.requested), len(driver.prepared)) == (runs, requested, runs)
    assert h.files("installations") == before

    done = step(h)
    assert (done.operation, done.changed) == (checked.operation, checked.changed)
    assert done.reason == checked.reason
    assert len(driver.runs) == runs + (operation != "none")


def test_check_mode_still_validates(h, driver):
    with pytest.raises(ParameterError, match='"port"'):
        h.install(parameters={"port": 70000}, check_mode=True)


# ---- idempotence and drift ------------------------------------------------------------------


def test_install_then_rerun_is_a_noop(h, driver):
    first = h.install()
    assert (first.operation, first.changed, first.failed) == ("install", True, False)
    assert first.result["status"] == "succeeded"
    for again in (h.install(), h.install("present")):
        assert (again.operation, again.changed) == ("none", False)
    assert len(driver.runs) == len(driver.prepared) == 1
    assert h.history() == [("install", ["running", "succeeded"])]


def test_upgrade_with_the_same_inputs_is_a_noop(h, driver):
    h.install(parameters={"port": 9090})
    again = h.execute("upgrade", bundle=None, credentials={"api_token": TOKEN})
    assert (again.operation, again.changed) == ("none", False)
    assert len(driver.runs) == 1


@pytest.mark.parametrize("change,env,value", [
    ({"parameters": {"port": 9090}}, "PORT", "9090"),
    ({"parameters": {"port": "9090"}}, "PORT", "9090"),
    ({"parameters": {"admin_password": "another-password"}}, "ADMIN_PASSWORD", "another-password"),
    ({"credentials": {"api_token": "tok-2"}}, "API_TOKEN", "tok-2"),
])
def test_present_with_changed_inputs_upgrades(h, driver, change, env, value):
    h.install()
    response = h.install("present", **change)
    assert (response.operation, response.changed, response.failed) == ("upgrade", True, False)
    assert driver.runs[-1].action == "upgrade" and driver.runs[-1].environment[env] == value
    assert h.installation().status == "installed"
    assert h.install("present", **change).operation == "none"


def test_present_with_string_coerced_parameter_is_stable(h, driver):
    h.install(parameters={"port": 9090})
    assert h.install("present", {"port": "9090"}).operation == "none"


# ---- secrets --------------------------------------------------------------------------------


def test_secrets_stay_out_of_the_store_and_the_response(h, driver):
    responses = [
        h.install(),
        h.install("present", {"port": 9090}),
        h.execute("action", bundle=None, action="rotate"),
        h.execute("action", bundle=None, action="io.cnab.status"),
    ]
    driver.exit_code = 3
    responses.append(h.execute("action", bundle=None, action="fail"))
    driver.exit_code = 0
    responses.append(h.execute("uninstall", bundle=None))

    derived = ("secret-%s-out" % PASSWORD).encode()
    for path, data in h.files().items():
        assert TOKEN.encode() not in data, path
        if not path.startswith(os.path.join("installations", NAME, "sensitive") + os.sep):
            assert PASSWORD.encode() not in data and derived not in data, path
    assert any(PASSWORD.encode() in data for data in h.files("installations/%s/sensitive" % NAME).values())

    for response in responses:
        shown = json.dumps(response.as_dict())
        assert PASSWORD not in shown and TOKEN not in shown and derived.decode() not in shown
    logs = responses[0].logs
    assert "api_token=%s" % SENSITIVE_MASK in logs and "admin_password=%s" % SENSITIVE_MASK in logs
    assert responses[0].outputs["admin_secret"] == SENSITIVE_MASK
    assert {PASSWORD, TOKEN} <= set(responses[0].secrets)


def test_reveal_sensitive_shows_sensitive_outputs(h, driver):
    response = h.install(reveal_sensitive=True)
    assert response.outputs["admin_secret"] == "secret-%s-out" % PASSWORD
    assert response.outputs["summary"] == {"port": 8080, "replicas": 1, "tier": "dev", "action": "install"}
    assert response.outputs["endpoint"] == "http://showcase:8080"


def test_sensitive_output_is_masked_in_logs(h, driver):
    driver.logs = lambda op: "made secret-%s-out\n" % op.environment["ADMIN_PASSWORD"]
    response = h.install()
    assert "secret-" not in response.logs and SENSITIVE_MASK in response.logs


def test_driver_exception_message_is_masked_before_it_is_stored(h, driver):
    driver.raises = DriverError("container exited; environment was API_TOKEN=%s ADMIN_PASSWORD=%s" % (TOKEN, PASSWORD))
    with pytest.raises(DriverError):
        h.install()
    assert h.history() == [("install", ["running", "failed"])]
    for path, data in h.files().items():
        assert TOKEN.encode() not in data, path
        if "sensitive" not in path:
            assert PASSWORD.encode() not in data, path


def test_no_unkeyed_digest_of_a_sensitive_output_outside_sensitive(h, driver):
    h.install()
    digest = hashlib.sha256(("secret-%s-out" % PASSWORD).encode()).hexdigest().encode()
    leaked = [p for p, data in h.files().items() if digest in data and "sensitive" not in p]
    assert leaked == []


# ---- failures, cancellation, interrupted runs ---------------------------------------------------


def test_failing_image_records_running_then_failed(h, driver):
    driver.exit_code = 3
    response = h.install()
    assert response.failed and response.changed and response.operation == "install"
    assert response.result["status"] == "failed" and "exited with code 3" in response.result["message"]
    assert h.history() == [("install", ["running", "failed"])]
    assert h.installation().status == "failed"
    assert h.store.lock_holder(NAME) is None
    driver.exit_code = 0
    assert h.install().operation == "install"  # a failed install is retried


def test_missing_output_fails_the_run(h, driver):
    driver.outputs = lambda op: {p: c for p, c in fake_outputs(op).items() if not p.endswith("/summary")}
    response = h.install()
    assert response.failed and 'output "summary"' in response.result["message"]
    assert h.history() == [("install", ["running", "failed"])]


@pytest.mark.parametrize("exception,status", [
    (Cancelled("the run was canceled by signal 15."), "canceled"),
    (DriverError("the container vanished."), "failed"),
    (RuntimeError("driver bug"), "failed"),
])
def test_driver_exception_is_recorded_and_propagates(h, driver, exception, status):
    sigterm = signal.getsignal(signal.SIGTERM)
    driver.raises = exception
    # Anything that is not a CnabError reaches the caller as a DriverError sentence.
    with pytest.raises(type(exception) if isinstance(exception, CnabError) else DriverError):
        h.install()
    assert h.history() == [("install", ["running", status])]
    assert h.installation().status == "failed"
    assert signal.getsignal(signal.SIGTERM) == sigterm
    assert h.store.lock_holder(NAME) is None
    driver.raises = None
    again = h.install(lock_timeout=0)  # the lock was released: no wait needed
    assert (again.operation, again.failed) == ("install", False)
    assert h.installation().status == "installed"


def test_sigterm_during_the_run_is_recorded_as_canceled(h, driver):
    def terminate(op):
        with op.cancel.interruptible():  # where a real driver waits for its container
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted by the handler's Cancelled
        pytest.fail("SIGTERM did not interrupt the run")

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    driver.on_run = terminate
    with pytest.raises(Cancelled, match="signal %d" % signal.SIGTERM):
        h.install()
    assert h.history() == [("install", ["running", "canceled"])]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_lock_held_elsewhere_times_out_and_writes_nothing(h, driver):
    with h.store.lock(NAME, 0):
        with pytest.raises(LockTimeout, match="pid %d" % os.getpid()):
            h.install(lock_timeout=0)
    assert driver.runs == [] and not h.installation().exists


def test_canceled_outcome_is_recorded(h, driver):
    driver.canceled, driver.exit_code = True, 137
    response = h.install()
    assert response.failed and response.result["status"] == "canceled"
    assert h.history() == [("install", ["running", "canceled"])]


def test_prepare_failure_records_nothing(h, driver):
    driver.prepare_raises = ImageNotFound("image cnab-examples/showcase:1.0.0 is not available.")
    with pytest.raises(ImageNotFound):
        h.install()
    assert driver.runs == [] and not h.installation().exists


def _write_stale_running_claim(h, action="install"):
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle

    bundle = load_bundle(h.bundles["showcase"])
    claim = model.new_claim(NAME, action, bundle, {"port": 8080}, model.new_ulid(),
                            {"bundleDigest": bundle.digest, "modifies": True})
    h.store.write_claim(NAME, claim, {})
    h.store.write_result(NAME, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    return claim


def test_stale_running_claim_is_settled_as_unknown(h, driver):
    _write_stale_running_claim(h)
    assert h.installation().status == "running"
    checked = h.install(check_mode=True)
    assert checked.operation == "install" and h.history() == [("install", ["running"])]

    response = h.install()
    assert (response.operation, response.failed) == ("install", False)
    assert h.history() == [("install", ["running", "unknown"]), ("install", ["running", "succeeded"])]
    assert h.installation().status == "installed"


def test_stale_running_upgrade_after_install_is_settled_then_retried(h, driver):
    h.install()
    _write_stale_running_claim(h, "upgrade")
    response = h.install("present")
    assert response.operation == "upgrade" and not response.failed
    assert [statuses for _unused, statuses in h.history()] == [
        ["running", "succeeded"], ["running", "unknown"], ["running", "succeeded"]]


# ---- what the driver receives ---------------------------------------------------------------


def test_operation_carries_the_cnab_environment_and_files(h, driver):
    response = h.install(parameters={"config": {"tier": "prod"}})
    assert driver.requested == [("docker", {})]
    op = driver.runs[0]
    assert driver.prepared == [op]
    claim = h.installation().claims[0]
    env = op.environment
    assert {k: env[k] for k in env if k.startswith("CNAB_")} == {
        "CNAB_INSTALLATION_NAME": NAME,
        "CNAB_BUNDLE_NAME": "showcase",
        "CNAB_BUNDLE_VERSION": "1.0.0",
        "CNAB_ACTION": "install",
        "CNAB_REVISION": claim["revision"],
        "CNAB_CLAIMS_VERSION": "CNAB-Claims-1.0.0",
    }
    assert response.claim["revision"] == claim["revision"] and response.claim["id"] == claim["id"]
    assert env["ADMIN_PASSWORD"] == PASSWORD and env["API_TOKEN"] == TOKEN
    assert (env["PORT"], env["REPLICAS"], env["DEBUG"], env["ECHO_SECRETS"]) == ("8080", "1", "false", "false")
    document = json.loads(pathlib.Path(h.bundles["showcase"]).read_text())
    assert op.files["/cnab/bundle.json"] == canonical_json(document)
    assert op.files["/etc/showcase/admin_password"] == PASSWORD
    assert op.files["/etc/showcase/config.json"] == '{"tier":"prod"}'
    stored_claim = json.loads(op.files["/cnab/claim.json"])
    assert stored_claim == claim
    assert "admin_password" not in stored_claim["parameters"]
    assert PASSWORD not in op.files["/cnab/claim.json"] and TOKEN not in op.files["/cnab/claim.json"]
    assert op.outputs == {"/cnab/app/outputs/admin_secret": "admin_secret", "/cnab/app/outputs/endpoint": "endpoint",
                          "/cnab/app/outputs/summary": "summary"}
    assert (op.installation, op.action, op.revision, op.claim_id) == (NAME, "install", claim["revision"], claim["id"])
    assert op.image["image"] == "cnab-examples/showcase:1.0.0"


def test_hello_bundle_round_trip(h, driver):
    response = h.execute("install", bundle="hello", parameters={"greeting": "Hi"})
    assert driver.runs[0].environment["GREETING"] == "Hi"
    assert response.outputs == {"message": "Hi %s" % NAME}
    assert response.claim["bundle"]["name"] == "hello"
    assert response.claim["bundle"]["reference"] == h.bundles["hello"]


# ---- reuse of stored inputs -----------------------------------------------------------------


def test_upgrade_without_bundle_or_parameters_reuses_the_stored_ones(h, driver):
    first = h.install(parameters={"port": 9090, "replicas": 3})
    os.remove(h.bundles["showcase"])  # the stored bundle must be used
    response = h.execute("upgrade", bundle=None, credentials={"api_token": "tok-2"})
    assert (response.operation, response.failed) == ("upgrade", False)
    op = driver.runs[-1]
    assert op.environment["ADMIN_PASSWORD"] == PASSWORD  # from the store's sensitive/ part
    assert op.files["/etc/showcase/admin_password"] == PASSWORD
    assert (op.environment["PORT"], op.environment["REPLICAS"]) == ("9090", "3")
    assert op.bundle.digest == first.claim["bundle"]["digest"] == response.claim["bundle"]["digest"]
    assert response.claim["bundle"]["reference"] == h.bundles["showcase"]


def test_present_without_bundle_is_refused(h, driver):
    h.install()
    with pytest.raises(BundleError, match="no bundle"):
        h.install("present", bundle=None)


def test_non_modifying_action_keeps_revision_and_status(h, driver):
    first = h.install()
    response = h.execute("action", bundle=None, action="io.cnab.status")
    assert (response.operation, response.changed, response.failed) == ("io.cnab.status", False, False)
    assert response.outputs == {"status": {"status": "ok"}}
    op = driver.runs[-1]
    assert op.environment["CNAB_REVISION"] == first.claim["revision"] == response.claim["revision"]
    assert op.environment["ADMIN_PASSWORD"] == PASSWORD
    installation = h.installation()
    assert installation.status == "installed" and installation.current_revision == first.claim["revision"]
    assert model.runtime_custom(installation.claims[-1])["modifies"] is False

    driver.exit_code = 1
    failed = h.execute("action", bundle=None, action="io.cnab.status")
    assert failed.failed and not failed.changed
    assert h.installation().status == "installed"
    driver.exit_code = 0
    assert h.install("present").operation == "none"


def test_modifying_custom_action_gets_a_new_revision(h, driver):
    first = h.install()
    response = h.execute("action", bundle=None, action="rotate")
    assert (response.operation, response.changed) == ("rotate", True)
    assert response.claim["revision"] != first.claim["revision"]
    assert h.installation().current_revision == response.claim["revision"]
    assert h.execute("action", bundle=None, action="rotate").operation == "none"


def test_stateless_action_on_an_installation_is_not_tracked(h, driver):
    h.install()
    response = h.execute("action", bundle=None, action="io.cnab.help")
    assert (response.operation, response.failed) == ("io.cnab.help", False)
    assert h.history() == [("install", ["running", "succeeded"])]


def test_stateless_action_needs_no_installation_and_writes_nothing(h, driver):
    response = h.execute("action", installation=None, action="io.cnab.help")
    assert (response.operation, response.failed) == ("io.cnab.help", False)
    assert response.result["status"] == "succeeded"
    op = driver.runs[0]
    assert op.action == "io.cnab.help" and op.environment["CNAB_INSTALLATION_NAME"] == "showcase"
    assert "API_TOKEN" not in op.environment
    assert not (h.root / "installations").exists()


def test_uninstall_then_reinstall(h, driver):
    h.install()
    response = h.execute("uninstall", bundle=None)
    assert (response.operation, response.failed) == ("uninstall", False)
    assert h.installation().status == "uninstalled"
    assert driver.runs[-1].environment["ADMIN_PASSWORD"] == PASSWORD
    assert h.execute("uninstall", bundle=None).operation == "none"
    assert h.execute("absent", bundle=None).operation == "none"
    with pytest.raises(InstallationNotFound):
        h.execute("upgrade", bundle=None, credentials={"api_token": TOKEN})
    assert h.install("present").operation == "install"


def test_uninstall_of_an_unknown_installation_is_a_noop(h, driver):
    for intent in ("uninstall", "absent"):
        response = h.execute(intent, bundle=None)
        assert (response.operation, response.changed) == ("none", False)
    assert driver.runs == [] and not (h.root / "installations").exists()


def test_plan_changed_under_the_lock_runs_the_new_operation(h, driver, monkeypatch):
    from ansible_collections.cnab.runtime.plugins.module_utils.claims import local

    h.install()
    real_lock = local.LocalStore.lock

    def lock_after_a_concurrent_uninstall(store, name, timeout):
        # Another run uninstalls between this run's first decision (upgrade) and its lock.
        monkeypatch.setattr(local.LocalStore, "lock", real_lock)
        claim = dict(store.installation(name).claims[-1], id=model.new_ulid(), action="uninstall")
        store.write_claim(name, claim, {})
        store.write_result(name, model.new_result(claim, model.STATUS_SUCCEEDED), {}, ())
        return real_lock(store, name, timeout)

    monkeypatch.setattr(local.LocalStore, "lock", lock_after_a_concurrent_uninstall)
    response = h.install("present", {"port": 9090})
    assert response.operation == "install"
    assert driver.runs[-1].action == "install"
    assert h.history()[-1][0] == "install"


# ---- bad inputs are refused before anything is written ------------------------------------------

BAD_INPUTS = [
    ("unknown parameter", dict(intent="install", parameters={"admin_password": PASSWORD, "nope": 1},
                               credentials={"api_token": TOKEN}), ParameterError, '"nope"'),
    ("out of range", dict(intent="install", parameters={"admin_password": PASSWORD, "port": 70000},
                          credentials={"api_token": TOKEN}), ParameterError, '"port"'),
    ("missing required parameter", dict(intent="install", credentials={"api_token": TOKEN}),
     ParameterError, '"admin_password"'),
    ("missing required credential", dict(intent="install", parameters={"admin_password": PASSWORD}),
     CredentialError, '"api_token"'),
    ("unknown action", dict(intent="action", action="explode", parameters={"admin_password": PASSWORD}),
     ActionError, '"explode"'),
    ("upgrade before install", dict(intent="upgrade", parameters={"admin_password": PASSWORD},
                                    credentials={"api_token": TOKEN}), InstallationNotFound, NAME),
    ("stateful action before install", dict(intent="action", action="rotate"), InstallationNotFound, "rotate"),
    ("bad installation name", dict(intent="install", installation="../x"), ActionError, "invalid"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_inputs_raise_typed_errors_and_write_nothing(h, driver, case, check_mode):
    _unused, kwargs, error, named = case
    with pytest.raises(error) as info:
        h.execute(check_mode=check_mode, **kwargs)
    assert named in str(info.value)
    # The driver may have prepared while values were validated, but nothing ran and
    # whatever it prepared was discarded.
    assert driver.runs == []
    assert driver.discarded >= len(driver.prepared)
    assert not h.installation().exists
    assert not (h.root / "installations").exists()


def test_bad_inputs_on_an_existing_installation_write_nothing(h, driver):
    h.install()
    before = h.files("installations")
    with pytest.raises(ParameterError):
        h.install("present", {"replicas": 11})
    with pytest.raises(CredentialError):
        h.execute("upgrade", bundle=None)  # the credential is not stored, so it must be given again
    with pytest.raises(ActionError):
        h.execute("action", bundle=None, action="explode")
    assert h.files("installations") == before and len(driver.runs) == 1
