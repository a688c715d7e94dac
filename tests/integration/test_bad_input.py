"""Bad input gets a one-sentence error and changes nothing in the claim store."""

import json
import os

import pytest
from support import HELLO, SHOWCASE, SLEEPER, containers, store_files, wait_for_container

GOOD_SHOWCASE = {"parameters": {"admin_password": "long-enough-pw"}, "credentials": {"api_token": "token-for-tests"}}


def _bundle_dir(tmp_path, edit):
    with open(os.path.join(HELLO, "bundle.json")) as handle:
        document = json.load(handle)
    edit(document)
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "bundle.json").write_text(json.dumps(document))
    return str(target)


def _one_sentence(msg):
    return msg.count(". ") == 0 and msg.endswith(".") and "Traceback" not in msg


@pytest.mark.parametrize("edit, fragment", [
    (lambda d: d.pop("invocationImages"), "invocationImages"),
    (lambda d: d.update(version="one-point-oh-1"), "version"),
    (lambda d: d.update(requiredExtensions=["io.cnab.dependencies"]), "io.cnab.dependencies"),
    (lambda d: d["parameters"]["greeting"]["destination"].update(env="CNAB_ACTION"), "CNAB_"),
], ids=["schema", "semver", "unsupported-extension", "cnab-env-override"])
def test_invalid_bundle_is_refused_before_anything_runs(ansible, tmp_path, edit, fragment):
    bundle = _bundle_dir(tmp_path, edit)
    result, raw = ansible.adhoc("cnab_install", {"installation": "bad", "bundle": bundle})
    assert result.get("failed") is True, raw
    assert fragment in result["msg"] and _one_sentence(result["msg"]), result["msg"]
    assert not any("/claims/" in p for p in store_files(ansible.home))


@pytest.mark.parametrize("module, args, fragment", [
    ("cnab_install", {"bundle": SHOWCASE, "parameters": {"admin_password": "long-enough-pw", "port": 70000},
                      "credentials": {"api_token": "token-for-tests"}}, 'parameter "port"'),
    ("cnab_install", {"bundle": SHOWCASE, "parameters": {"admin_password": "long-enough-pw"}}, 'credential "api_token"'),
    ("cnab_install", {"bundle": SHOWCASE, "parameters": {"nope": 1}, "credentials": {"api_token": "token-for-tests"}}, '"nope"'),
    ("cnab_install", {"bundle": SHOWCASE, "credentials": {"api_token": "token-for-tests"}}, 'parameter "admin_password"'),
    ("cnab_action", dict(GOOD_SHOWCASE, bundle=SHOWCASE, action="no.such.action"), '"no.such.action"'),
    ("cnab_upgrade", {"bundle": HELLO}, "not installed"),
], ids=["out-of-range", "missing-credential", "unknown-parameter", "missing-required", "unknown-action",
        "upgrade-missing"])
def test_bad_values_are_refused_with_one_sentence(ansible, module, args, fragment):
    result, raw = ansible.adhoc(module, dict(args, installation="bad-values"))
    assert result.get("failed") is True, raw
    assert fragment in result["msg"] and _one_sentence(result["msg"]), result["msg"]
    # Only the module's own output is checked: ansible-core's ad-hoc error display echoes
    # the start of the -a arguments itself (see docs/security notes on ad-hoc secrets).
    assert "long-enough-pw" not in result["msg"]
    assert not any("/claims/" in p for p in store_files(ansible.home))
    assert containers("bad-values") == [], "a container prepared for a refused run was left behind"


def test_missing_image_is_refused_before_a_claim_is_written(ansible, tmp_path):
    bundle = _bundle_dir(tmp_path, lambda d: d["invocationImages"][0].update(image="cnab-tests/absent:0.0.1"))
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-image", "bundle": bundle,
                                                 "driver_options": {"pull": "never"}})
    assert result.get("failed") is True, raw
    assert "cnab-tests/absent:0.0.1" in result["msg"] and _one_sentence(result["msg"])
    assert not any("/claims/" in p for p in store_files(ansible.home))


def test_unpullable_image_names_the_registry_error(ansible, tmp_path):
    bundle = _bundle_dir(tmp_path, lambda d: d["invocationImages"][0].update(image="127.0.0.1:9/none/absent:1"))
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-image", "bundle": bundle})
    assert result.get("failed") is True, raw
    assert "cannot be pulled" in result["msg"]
    assert not any("/claims/" in p for p in store_files(ansible.home))


def test_digest_mismatch_is_refused(ansible, tmp_path):
    digest = "sha256:" + "0" * 64
    bundle = _bundle_dir(tmp_path, lambda d: d["invocationImages"][0].update(contentDigest=digest))
    result, raw = ansible.adhoc("cnab_install", {"installation": "bad-digest", "bundle": bundle})
    assert result.get("failed") is True, raw
    assert digest in result["msg"]


def test_held_lock_fails_with_the_holder_named(ansible):
    slow = ansible.adhoc_process("cnab_install", {"installation": "locked", "bundle": SLEEPER,
                                                  "parameters": {"sleep": 20}})
    try:
        wait_for_container("locked")
        result, raw = ansible.adhoc("cnab_install", {"installation": "locked", "bundle": SLEEPER, "lock_timeout": 1})
        assert result.get("failed") is True, raw
        assert "installation locked is locked by the run of pid" in result["msg"]
        assert "lock_timeout" in result["msg"]
    finally:
        slow.kill()
        slow.communicate()
