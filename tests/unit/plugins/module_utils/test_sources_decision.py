"""plan.decide with bundles from a registry or an archive: the index digest takes part in the
decision (same digest and inputs -> no change; a moved tag -> upgrade), and ``digest_decides``
says when the digest cannot change the plan (so a tag need not be resolved)."""

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import ActionInfo
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.plan import Desired, decide, digest_decides, drift

NAME = "from-registry"
BUNDLE = "sha256:" + "a" * 64
INDEX = "sha256:" + "1" * 64
MOVED = "sha256:" + "2" * 64
ROTATE = ActionInfo("rotate", modifies=True, stateless=False)
OK, FAILED = model.STATUS_SUCCEEDED, model.STATUS_FAILED


def installation(*steps):
    """Steps ``(action, status, indexDigest)``; each claim records the same bundle and inputs."""
    claims, results = [], []
    for action, status, index_digest in steps:
        custom = {"bundleDigest": BUNDLE, "parametersFingerprint": "p", "credentialsFingerprint": "c",
                  "modifies": True}
        if index_digest:
            custom.update(bundleSource="registry", indexDigest=index_digest, relocationMapping={})
        claim = {"id": model.new_ulid(), "installation": NAME, "revision": model.new_ulid(), "action": action,
                 "bundle": {"name": "b", "version": "1.0.0"}, "custom": {model.RUNTIME_KEY: custom}}
        claims.append(claim)
        results.append(model.new_result(claim, status))
    return model.Installation(NAME, claims, results)


def desired(intent, index_digest, force=False, digest=BUNDLE, action=None):
    return Desired(intent, digest, "p", "c", action, force, index_digest=index_digest)


@pytest.mark.parametrize("intent", ["present", "upgrade"])
def test_same_index_digest_and_inputs_is_no_change(intent):
    plan = decide(installation(("install", OK, INDEX)), desired(intent, INDEX))
    assert (plan.operation, plan.changed) == (None, False)


@pytest.mark.parametrize("intent", ["present", "upgrade"])
def test_a_moved_tag_is_an_upgrade_even_when_bundle_json_is_unchanged(intent):
    plan = decide(installation(("install", OK, INDEX)), desired(intent, MOVED))
    assert (plan.operation, plan.changed) == ("upgrade", True)
    assert plan.reason == "the bundle's index digest changed (its images differ)"


def test_a_moved_tag_with_a_new_bundle_json_names_the_bundle_digest():
    plan = decide(installation(("install", OK, INDEX)), desired("present", MOVED, digest="sha256:" + "b" * 64))
    assert plan.operation == "upgrade"
    assert plan.reason == "the bundle digest changed"


@pytest.mark.parametrize("recorded,wanted", [(None, INDEX), (INDEX, None)])
def test_switching_between_a_local_file_and_a_registry_bundle_is_an_upgrade(recorded, wanted):
    plan = decide(installation(("install", OK, recorded)), desired("present", wanted))
    assert plan.operation == "upgrade"
    assert "source changed" in plan.reason


def test_local_files_compare_as_before():
    assert decide(installation(("install", OK, None)), desired("present", None)).operation is None


def test_install_of_an_installed_installation_ignores_the_digest():
    plan = decide(installation(("install", OK, INDEX)), desired("install", MOVED))
    assert plan.operation is None
    assert decide(installation(("install", OK, INDEX)), desired("install", MOVED, force=True)).operation == "install"


def test_modifying_action_reruns_when_the_tag_moved():
    history = installation(("install", OK, INDEX), ("rotate", OK, INDEX))
    assert decide(history, desired("action", INDEX, action=ROTATE)).operation is None
    assert decide(history, desired("action", MOVED, action=ROTATE)).operation == "rotate"


def test_drift_reports_only_the_index_digest_when_only_it_differs():
    claim = installation(("install", OK, INDEX)).claims[-1]
    assert drift(claim, desired("present", INDEX)) is None
    assert "index digest" in drift(claim, desired("present", MOVED))


@pytest.mark.parametrize("history,intent,force,expected", [
    ([("install", OK, INDEX)], "install", False, False),   # installed: install is a no-op whatever the digest
    ([("install", OK, INDEX)], "install", True, True),     # forced: the run needs the current bundle
    ([("install", OK, INDEX)], "present", False, True),    # up to date or upgrade: the digest decides
    ([("install", OK, INDEX)], "upgrade", False, True),
    ([("install", OK, INDEX)], "action", False, True),
    ([], "install", False, True),                          # not installed: it will run
    ([("install", FAILED, INDEX)], "install", False, True),
    ([("install", OK, INDEX), ("uninstall", OK, INDEX)], "install", False, True),
])
def test_digest_decides(history, intent, force, expected):
    assert digest_decides(installation(*history), intent, force) is expected
