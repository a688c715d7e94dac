"""Every module end to end against the real Docker engine."""

import re

import pytest
from stores import BACKENDS, options_for
from support import DRIVERS, HELLO, HERE, SHOWCASE, store_files, use_driver

SECRET_PARAMETER = "canary-admin-pw-3141"
SECRET_CREDENTIAL = "canary-token-2718"


@pytest.mark.parametrize("backend", BACKENDS)
def test_lifecycle_playbook_four_steps_for_every_module(ansible, tmp_path, backend):
    """The same playbook on every claim store; only claim_store changes."""
    store = options_for(backend, tmp_path) if backend != "local" else {"backend": "local", "path": ansible.home}
    run = ansible.playbook(HERE + "/playbooks/lifecycle.yml", "-vvv", extra_vars={
        "hello_bundle": HELLO, "showcase_bundle": SHOWCASE, "store": store,
        "admin_password": SECRET_PARAMETER, "api_token": SECRET_CREDENTIAL})
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", run.stdout)
    assert "api_token=********" in run.stdout  # the image did print the credential
    for secret in (SECRET_PARAMETER, SECRET_CREDENTIAL, "secret-%s-out" % SECRET_PARAMETER):
        assert secret not in run.stdout + run.stderr
    for path, content in store_files(ansible.home).items():
        assert SECRET_CREDENTIAL.encode() not in content, path


def test_adhoc_install_four_steps(ansible):
    args = {"installation": "adhoc-hello", "bundle": HELLO, "parameters": {"greeting": "Howdy"}}
    steps = [ansible.adhoc("cnab_install", args, *flags)[0] for flags in (["--check"], [], [], ["--check"])]
    assert [s["changed"] for s in steps] == [True, True, False, False]
    assert steps[1]["outputs"] == {"message": "Howdy from adhoc-hello"}
    assert steps[1]["logs"] == "install adhoc-hello\n"
    assert steps[1]["result"]["status"] == "succeeded"


@pytest.mark.parametrize("driver", DRIVERS)
def test_secrets_never_reach_output_logs_or_claim_records(ansible, driver):
    use_driver(ansible, driver)
    args = {"installation": "leaky", "bundle": SHOWCASE, "state": "present",
            "parameters": {"admin_password": SECRET_PARAMETER, "echo_secrets": True},
            "credentials": {"api_token": SECRET_CREDENTIAL}}
    result, raw = ansible.adhoc("cnab_installation", args, "-vvv", "--diff")
    assert result["changed"] is True, raw
    # The image printed all three secrets; none survives into what Ansible shows.
    assert "api_token=********" in result["logs"]
    sensitive_output = "secret-%s-out" % SECRET_PARAMETER
    for secret in (SECRET_PARAMETER, SECRET_CREDENTIAL, sensitive_output):
        assert secret not in raw
    files = store_files(ansible.home)
    assert files, "the run wrote no claim records"
    for path, content in files.items():
        assert SECRET_CREDENTIAL.encode() not in content, path
        if not path.split("/")[2:3] == ["sensitive"]:
            assert SECRET_PARAMETER.encode() not in content, path
            assert sensitive_output.encode() not in content, path
    kept = [p for p, c in files.items() if SECRET_PARAMETER.encode() in c]
    assert kept and all("/sensitive/" in p for p in kept)


@pytest.mark.parametrize("driver", DRIVERS)
def test_failed_action_is_recorded_and_reported(ansible, driver):
    use_driver(ansible, driver)
    base = {"installation": "failing", "bundle": SHOWCASE,
            "parameters": {"admin_password": SECRET_PARAMETER}, "credentials": {"api_token": SECRET_CREDENTIAL}}
    installed, raw = ansible.adhoc("cnab_install", base)
    assert installed["changed"], raw
    failed, raw = ansible.adhoc("cnab_action", {"installation": "failing", "action": "fail"})
    assert failed.get("failed") is True, raw
    assert failed["result"]["status"] == "failed"
    assert "exited with code 3" in failed["msg"]
    assert "simulated failure" in failed["logs"]
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "failing"})
    assert info["installation"]["status"] == "failed"
    # A failed modifying action puts the installation out of sync: present repairs it.
    repaired, raw = ansible.adhoc("cnab_installation", dict(base, state="present"))
    assert repaired["operation"] == "upgrade" and repaired["changed"], raw


def test_module_defaults_of_the_action_group_apply(ansible, tmp_path):
    store = tmp_path / "group-store"
    run = ansible.playbook(HERE + "/playbooks/module_defaults.yml",
                           extra_vars={"hello_bundle": HELLO, "store_dir": str(store)})
    assert run.returncode == 0, run.stdout + run.stderr
    assert (store / "installations" / "grouped" / "claims").is_dir()
    assert not any("/claims/" in p for p in store_files(ansible.home)), "CNAB_HOME was used instead"
