"""Docker driver behaviour that only a real engine shows."""

import subprocess

from support import HELLO, NONROOT, SHOWCASE, containers


def test_files_are_readable_by_a_named_non_root_user(ansible):
    result, raw = ansible.adhoc("cnab_install", {"installation": "nonroot", "bundle": NONROOT,
                                                 "parameters": {"setting": "blue"},
                                                 "credentials": {"token": "sixteen-chars-ok"}})
    assert result["changed"] and result["result"]["status"] == "succeeded", raw
    assert result["outputs"] == {"report": "1000|blue|16"}


def test_keep_container_leaves_the_stopped_container(ansible):
    try:
        result, raw = ansible.adhoc("cnab_install", {"installation": "kept", "bundle": HELLO,
                                                     "driver_options": {"keep_container": True}})
        assert result["changed"], raw
        kept = containers("kept")
        assert len(kept) == 1
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", kept[0]],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert state == "exited"
    finally:
        for container in containers("kept"):
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def test_reveal_sensitive_returns_the_sensitive_output(ansible):
    args = {"installation": "revealed", "bundle": SHOWCASE,
            "parameters": {"admin_password": "reveal-me-please"}, "credentials": {"api_token": "token-xyz-123"},
            "reveal_sensitive": True}
    result, raw = ansible.adhoc("cnab_install", args)
    # Revealed, except for the sensitive parameter embedded in it, which stays masked.
    assert result["outputs"]["admin_secret"] == "secret-********-out", raw
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "revealed"})
    assert info["installation"]["outputs"]["admin_secret"] == "********"


def test_unreachable_engine_is_one_sentence(ansible):
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-engine", "bundle": HELLO,
                                                 "driver_options": {"docker_host": "unix:///nonexistent.sock"}})
    assert result.get("failed") is True, raw
    assert "cannot reach the Docker engine at unix:///nonexistent.sock" in result["msg"]
    assert "Traceback" not in raw
