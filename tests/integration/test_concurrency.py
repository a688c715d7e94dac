"""Locking and interruption: concurrent runs, cancel, and a run that dies."""

import os
import signal
import subprocess
import time

import pytest
from stores import BACKENDS, options_for
from support import DRIVERS, HELLO, SLEEPER, module_pids, use_driver, wait_for_container


def _container_starts(installation, since):
    events = subprocess.run(
        ["docker", "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "event=start",
         "--filter", "label=io.cnab.runtime.installation=" + installation, "--format", "{{.ID}}"],
        capture_output=True, text=True, check=True).stdout.split()
    return len(events)


def test_eight_concurrent_installs_run_the_image_once(ansible):
    since = str(int(time.time()) - 1)
    args = {"installation": "crowd", "bundle": HELLO}
    runs = [ansible.adhoc_process("cnab_install", args) for _unused in range(8)]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert all(r.returncode == 0 for r in runs), outputs
    assert sum('"changed": true' in out for out, _unused in outputs) == 1
    assert _container_starts("crowd", since) == 1
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "crowd", "history": True})
    history = info["installation"]["history"]
    assert [h["claim"]["action"] for h in history] == ["install"]
    assert [r["status"] for r in history[0]["results"]] == ["running", "succeeded"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_sigterm_cancels_keeps_outputs_and_releases_the_lock(ansible, driver):
    cluster = use_driver(ansible, driver)
    run = ansible.adhoc_process("cnab_install", {"installation": "cancel-me", "bundle": SLEEPER,
                                                 "parameters": {"sleep": 60}})
    if cluster:
        from drivers_kubernetes import wait_for_invocation

        wait_for_invocation(cluster[1], cluster[0], "cancel-me")
    else:
        container = wait_for_container("cancel-me")
    time.sleep(0.5)
    for pid in module_pids(run):
        os.kill(pid, signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert "canceled" in out, out + err
    if cluster:  # the Job was deleted; the garbage collector removes its pod, Secret and containers
        from drivers_kubernetes import wait_until_gone

        assert wait_until_gone(cluster[1], cluster[0]) == {}
    else:
        assert subprocess.run(["docker", "inspect", container[0]], capture_output=True,
                              check=False).returncode != 0, "container left"
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "cancel-me", "history": True})
    results = info["installation"]["history"][0]["results"]
    assert [r["status"] for r in results] == ["running", "canceled"]
    assert info["installation"]["status"] == "failed"
    # The lock was released: the next run proceeds at once and installs again.
    again, raw = ansible.adhoc("cnab_install", {"installation": "cancel-me", "bundle": SLEEPER, "lock_timeout": 5})
    assert again["changed"] and again["result"]["status"] == "succeeded", raw
    assert again["outputs"] == {"progress": "written-before-sleep\n"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_killed_mid_action_is_recorded_unknown_by_the_next_run(ansible, tmp_path, backend):
    """kill -9 of the holder: the next run takes over (remote stores: once the lease expired)."""
    store = options_for(backend, tmp_path)
    run = ansible.adhoc_process("cnab_install", {"installation": "killed", "bundle": SLEEPER,
                                                 "parameters": {"sleep": 60}, "claim_store": store})
    wait_for_container("killed")
    for pid in module_pids(run):
        os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=60)
    again, raw = ansible.adhoc("cnab_install", {"installation": "killed", "bundle": SLEEPER, "lock_timeout": 60,
                                                "claim_store": store})
    assert again["changed"] and again["result"]["status"] == "succeeded", raw
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "killed", "history": True,
                                                      "claim_store": store})
    first = info["installation"]["history"][0]["results"]
    assert [r["status"] for r in first] == ["running", "unknown"]
    assert "stopped and removed" in first[-1]["message"]  # the dead run's container did not run on
    assert info["installation"]["status"] == "installed"
    dead_claim = info["installation"]["history"][0]["claim"]["id"]
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.cnab.runtime.claim=" + dead_claim],
                               capture_output=True, text=True, check=True).stdout.split()
    assert leftovers == []
