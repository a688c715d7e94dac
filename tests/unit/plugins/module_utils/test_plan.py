"""plan.decide: the decision table, from synthetic claim histories to a Plan.

Histories are lists of steps ``(action, status, overrides)``; each step becomes a
claim with ULID-ordered ids and, unless its status is None, one result.
"""

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import ActionInfo
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import InstallationNotFound
from ansible_collections.cnab.runtime.plugins.module_utils.plan import Desired, decide, drift

NAME = "demo"
DIGEST, PARAMS, CREDS = "sha256:" + "a" * 64, "params-fp-1", "creds-fp-1"
ROTATE = ActionInfo("rotate", modifies=True, stateless=False)
STATUS = ActionInfo("io.cnab.status", modifies=False, stateless=False)
HELP = ActionInfo("io.cnab.help", modifies=False, stateless=True)
STATELESS_MODIFYING = ActionInfo("seed", modifies=True, stateless=True)


def _claim(action, modifies=True, **recorded):
    custom = {"bundleDigest": DIGEST, "parametersFingerprint": PARAMS, "credentialsFingerprint": CREDS,
              "modifies": modifies}
    custom.update(recorded)
    return {"schemaVersion": "1.0.0", "id": model.new_ulid(), "installation": NAME, "revision": model.new_ulid(),
            "created": model.now(), "action": action, "bundle": {"name": "b", "version": "1.0.0"},
            "parameters": {}, "custom": {model.RUNTIME_KEY: custom}}


def history(*steps):
    """An Installation from steps ``(action, status)`` or ``(action, status, {custom overrides})``."""
    claims, results = [], []
    for step in steps:
        action, status = step[0], step[1]
        overrides = dict(step[2]) if len(step) > 2 else {}
        claim = _claim(action, **overrides)
        claims.append(claim)
        if status is not None:
            results.append(model.new_result(claim, status))
    # Hand them over shuffled: Installation must order by ULID, not by list position.
    return model.Installation(NAME, list(reversed(claims)), list(reversed(results)))


def desired(intent, force=False, action=None, digest=DIGEST, params=PARAMS, creds=CREDS):
    if intent == "action" and action is None:
        action = ROTATE
    return Desired(intent, digest, params, creds, action, force)


OK, FAILED, RUNNING = model.STATUS_SUCCEEDED, model.STATUS_FAILED, model.STATUS_RUNNING

STATES = {
    "no claims": history(),
    "installed in sync": history(("install", OK)),
    "installed, digest drift": history(("install", OK, {"bundleDigest": "sha256:" + "b" * 64})),
    "installed, parameters drift": history(("install", OK, {"parametersFingerprint": "params-fp-0"})),
    "installed, credentials drift": history(("install", OK, {"credentialsFingerprint": "creds-fp-0"})),
    "last install failed": history(("install", FAILED)),
    "upgrade failed after install": history(("install", OK), ("upgrade", FAILED)),
    "uninstalled": history(("install", OK), ("uninstall", OK)),
    "failed uninstall": history(("install", OK), ("uninstall", FAILED)),
    "upgrade running": history(("install", OK), ("upgrade", RUNNING)),
    "first install running": history(("install", RUNNING)),
}

RAISES = "InstallationNotFound"
# state -> {intent: expected operation (None = no-op) or RAISES}; "action" means the modifying "rotate".
EXPECTED = {
    "no claims":
        dict(install="install", upgrade=RAISES, uninstall=None, present="install", absent=None, action=RAISES),
    "installed in sync":
        dict(install=None, upgrade=None, uninstall="uninstall", present=None, absent="uninstall", action="rotate"),
    "installed, digest drift":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "installed, parameters drift":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "installed, credentials drift":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "last install failed":
        dict(install="install", upgrade=RAISES, uninstall="uninstall", present="install", absent="uninstall",
             action=RAISES),
    "upgrade failed after install":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "uninstalled":
        dict(install="install", upgrade=RAISES, uninstall=None, present="install", absent=None, action=RAISES),
    "failed uninstall":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "upgrade running":
        dict(install=None, upgrade="upgrade", uninstall="uninstall", present="upgrade", absent="uninstall",
             action="rotate"),
    "first install running":
        dict(install="install", upgrade=RAISES, uninstall="uninstall", present="install", absent="uninstall",
             action=RAISES),
}

TABLE = [(state, intent, expected) for state, row in EXPECTED.items() for intent, expected in row.items()]


@pytest.mark.parametrize("state,intent,expected", TABLE, ids=["%s-%s" % (s, i) for s, i, _unused in TABLE])
def test_decision_table(state, intent, expected):
    installation = STATES[state]
    if expected == RAISES:
        with pytest.raises(InstallationNotFound, match=NAME):
            decide(installation, desired(intent))
        return
    plan = decide(installation, desired(intent))
    assert plan.operation == expected
    assert plan.changed is (expected is not None)
    assert plan.reason


def test_table_covers_every_intent_and_state():
    from ansible_collections.cnab.runtime.plugins.module_utils.plan import INTENTS

    assert set(EXPECTED) == set(STATES)
    assert all(set(row) == set(INTENTS) for row in EXPECTED.values())


FORCED = [
    ("installed in sync", "install", "install"),
    ("installed in sync", "upgrade", "upgrade"),
    ("installed in sync", "present", "upgrade"),
    ("installed in sync", "uninstall", "uninstall"),
    ("installed in sync", "absent", "uninstall"),
    ("installed in sync", "action", "rotate"),
    ("uninstalled", "uninstall", "uninstall"),
    ("uninstalled", "absent", "uninstall"),
    ("uninstalled", "install", "install"),
    ("no claims", "install", "install"),
    ("no claims", "uninstall", None),  # nothing to remove, even when forced
]


@pytest.mark.parametrize("state,intent,expected", FORCED)
def test_force(state, intent, expected):
    plan = decide(STATES[state], desired(intent, force=True))
    assert plan.operation == expected
    assert plan.changed is (expected is not None)


@pytest.mark.parametrize("intent", ["upgrade", "action"])
def test_force_does_not_make_a_missing_installation_upgradable(intent):
    with pytest.raises(InstallationNotFound):
        decide(STATES["no claims"], desired(intent, force=True))


# ---- custom actions ------------------------------------------------------------------------

CUSTOM = [
    # (history, action, force, expected operation, expected changed)
    ([("install", OK)], STATUS, False, "io.cnab.status", False),
    ([("install", OK), ("io.cnab.status", OK, {"modifies": False})], STATUS, False, "io.cnab.status", False),
    ([], HELP, False, "io.cnab.help", False),
    ([("install", OK), ("uninstall", OK)], HELP, False, "io.cnab.help", False),
    ([], STATELESS_MODIFYING, False, "seed", True),
    ([("install", OK)], ROTATE, False, "rotate", True),
    ([("install", OK), ("rotate", OK)], ROTATE, False, None, False),
    ([("install", OK), ("rotate", OK), ("io.cnab.status", FAILED, {"modifies": False})], ROTATE, False, None, False),
    ([("install", OK), ("rotate", OK)], ROTATE, True, "rotate", True),
    ([("install", OK), ("rotate", OK, {"parametersFingerprint": "other"})], ROTATE, False, "rotate", True),
    ([("install", OK), ("rotate", OK, {"credentialsFingerprint": "other"})], ROTATE, False, "rotate", True),
    ([("install", OK), ("rotate", OK, {"bundleDigest": "sha256:" + "c" * 64})], ROTATE, False, "rotate", True),
    ([("install", OK), ("rotate", FAILED)], ROTATE, False, "rotate", True),
    ([("install", OK), ("rotate", OK), ("upgrade", OK)], ROTATE, False, "rotate", True),
]


@pytest.mark.parametrize("steps,action,force,expected,changed", CUSTOM)
def test_custom_actions(steps, action, force, expected, changed):
    plan = decide(history(*steps), desired("action", force=force, action=action))
    assert (plan.operation, plan.changed) == (expected, changed)


@pytest.mark.parametrize("steps", [[], [("install", FAILED)], [("install", OK), ("uninstall", OK)]])
@pytest.mark.parametrize("action", [STATUS, ROTATE])
def test_stateful_custom_action_needs_an_installation(steps, action):
    with pytest.raises(InstallationNotFound, match=action.name):
        decide(history(*steps), desired("action", action=action))


def test_non_modifying_claims_do_not_affect_sync():
    installation = history(("install", OK), ("io.cnab.status", FAILED, {"modifies": False}))
    assert decide(installation, desired("present")).operation is None
    assert installation.status == "installed"


def test_drift_names_every_difference():
    installation = history(("install", OK))
    claim = installation.claims[-1]
    assert drift(claim, desired("present")) is None
    reason = drift(claim, desired("present", digest="sha256:x", params="p", creds="c"))
    assert "bundle digest" in reason and "parameters" in reason and "credentials" in reason
    assert drift(claim, desired("present", params="p")) == "the parameters changed"


def test_unknown_intent_is_refused():
    with pytest.raises(ValueError):
        Desired("reinstall")


# ---- Installation.status --------------------------------------------------------------------

STATUSES = [
    ([], "unknown"),
    ([("install", OK)], "installed"),
    ([("install", OK), ("upgrade", OK)], "installed"),
    ([("install", OK), ("rotate", OK)], "installed"),
    ([("install", OK), ("io.cnab.status", FAILED, {"modifies": False})], "installed"),
    ([("install", OK), ("uninstall", OK)], "uninstalled"),
    ([("install", FAILED)], "failed"),
    ([("install", OK), ("upgrade", FAILED)], "failed"),
    ([("install", model.STATUS_CANCELED)], "failed"),
    ([("install", "cancelled")], "failed"),
    ([("install", "failure")], "failed"),
    ([("install", "success")], "installed"),
    ([("install", OK), ("upgrade", RUNNING)], "running"),
    ([("install", model.STATUS_PENDING)], "running"),
    ([("install", model.STATUS_UNKNOWN)], "unknown"),
    ([("install", None)], "unknown"),  # a claim without any result
]


@pytest.mark.parametrize("steps,expected", STATUSES)
def test_installation_status(steps, expected):
    assert history(*steps).status == expected


@pytest.mark.parametrize("spelling", ["canceled", "cancelled"])
def test_cancelled_spelling_is_accepted(spelling):
    installation = history(("install", OK), ("upgrade", spelling))
    assert installation.status_of(installation.claims[-1]) == model.STATUS_CANCELED
    assert installation.last_successful_modifying["action"] == "install"
    assert decide(installation, desired("present")).operation == "upgrade"


def test_last_result_is_the_newest_by_ulid():
    installation = history(("install", RUNNING))
    claim = installation.claims[0]
    later = model.new_result(claim, OK)
    installation = model.Installation(NAME, [claim], [later] + installation.results[claim["id"]])
    assert installation.status_of(claim) == OK
    assert installation.installed and installation.in_progress_claim is None


def test_in_progress_claim_and_revision():
    installation = history(("install", OK), ("upgrade", RUNNING))
    assert installation.in_progress_claim is installation.claims[-1]
    assert installation.current_revision == installation.claims[-1]["revision"]
    status_only = history(("install", OK), ("io.cnab.status", OK, {"modifies": False}))
    assert status_only.current_revision == status_only.claims[0]["revision"]
