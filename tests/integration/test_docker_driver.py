"""Docker driver behaviour that only a real engine shows."""

import json
import os
import signal
import socket
import subprocess
import time

from support import (
    HELLO,
    NONROOT,
    SHOWCASE,
    SLEEPER,
    _task_result,
    containers,
    module_pids,
    store_files,
    wait_for_container,
)


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


def test_an_image_reference_outside_the_grammar_never_reaches_the_engine_api(ansible, tmp_path):
    """Issue 16 item 4: "../../containers/json" used to address another Engine API endpoint."""
    with open(os.path.join(HELLO, "bundle.json")) as handle:
        document = json.load(handle)
    document["invocationImages"][0]["image"] = "../../containers/json"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    result, raw = ansible.adhoc("cnab_install", {"installation": "traversal", "bundle": str(path)})
    assert result.get("failed") is True, raw
    assert result["msg"] == ('the invocation image "../../containers/json" is not a valid image reference '
                             "([host[:port]/]repository[:tag][@sha256:digest], repository in lowercase).")
    assert not [p for p in store_files(ansible.home) if "/claims/" in p]


def _python_module_pids(run):
    """The module's Python process(es) under ``run``, not the shell that started them."""
    found = []
    for pid in module_pids(run):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if not os.path.basename(argv[0]).startswith(b"sh") and b"python" in os.path.basename(argv[0]):
            found.append(pid)
    return found


def _wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("gave up waiting for " + what)


def test_sigterm_while_connecting_to_the_engine_is_one_clean_sentence(ansible):
    """Issue 16 item 11: the SDK wrapped our cancel ("...canceled by signal 15..")."""
    with socket.socket() as silent:  # accepts connections, never answers: connecting hangs on /version
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(60)
        engine = "tcp://127.0.0.1:%d" % silent.getsockname()[1]
        run = ansible.adhoc_process("cnab_install", {"installation": "connecting", "bundle": HELLO,
                                                     "driver_options": {"docker_host": engine}})
        connection, _unused = silent.accept()
        with connection:
            for pid in _python_module_pids(run):
                os.kill(pid, signal.SIGTERM)
            out, err = run.communicate(timeout=120)
    result = _task_result(out)
    assert result.get("failed") is True, out + err
    assert result["msg"] == "the run was canceled by signal 15.", out + err


def test_sigterm_before_the_module_runs_is_a_valid_result(ansible):
    """Issue 16 item 11: a SIGTERM in the first moments ended in "Module result deserialization failed"."""
    run = ansible.adhoc_process("cnab_install", {"installation": "early", "bundle": HELLO})
    for pid in _wait_for(lambda: _python_module_pids(run), "the module process", timeout=120):
        os.kill(pid, signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert "deserialization" not in out + err
    result = _task_result(out)
    assert result.get("failed") is True and result["changed"] is False, out + err
    assert result["msg"] in ("cnab.runtime.cnab_install was stopped by signal 15 (SIGTERM) before it could report a "
                             "result.", "the run was canceled by signal 15."), out + err
    assert containers("early") == []


def _has_open(pid, path):
    try:
        return any(os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path for fd in os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return False


def _environments(installation):
    """``{container id: its Env list}`` of every container of the installation, as `docker inspect` shows it."""
    ids = containers(installation)
    if not ids:
        return {}
    shown = json.loads(subprocess.run(["docker", "inspect"] + ids, capture_output=True, text=True,
                                      check=True).stdout)
    return {c["Id"]: c["Config"]["Env"] or [] for c in shown}


def _exists(container):
    return subprocess.run(["docker", "inspect", container], capture_output=True, check=False).returncode == 0


def test_a_run_killed_in_the_lock_wait_leaves_no_secret_and_its_container_is_reaped(ansible):
    """Issue 16 item 3e: a container prepared before the lock wait outlived a SIGKILL, named by no claim, its
    credential in its environment."""
    password, token = "canary-pw-9f3e21", "canary-token-77c0d4"
    holder = ansible.adhoc_process("cnab_install", {"installation": "orphans", "bundle": SLEEPER,
                                                    "parameters": {"sleep": 120}})
    waiters = []
    try:
        wait_for_container("orphans")  # it holds the lock
        lock = os.path.join(ansible.home, "installations", "orphans", "lock")
        plain = ansible.adhoc_process("cnab_install", {"installation": "orphans", "bundle": HELLO})
        secret = ansible.adhoc_process("cnab_install", {"installation": "orphans", "bundle": SHOWCASE,
                                                        "parameters": {"admin_password": password},
                                                        "credentials": {"api_token": token}})
        waiters = [plain, secret]
        for waiter in waiters:  # prepared, now waiting for the lock
            _wait_for(lambda w=waiter: any(_has_open(p, lock) for p in _python_module_pids(w)), "the lock wait")
        prepared = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", "status=created", "--filter",
                                   "label=io.cnab.runtime.installation=orphans"],
                                  capture_output=True, text=True, check=True).stdout.split()
        # hello's container is prepared; showcase's would hold secrets in its environment, so it waits uncreated.
        assert len(prepared) == 1
        for container, environment in _environments("orphans").items():
            assert not [v for v in environment if password in v or token in v], container
        # A live waiter's container is not taken for an orphan.
        bystander, raw = ansible.adhoc("cnab_install", {"installation": "bystander", "bundle": HELLO})
        assert bystander["changed"], raw
        assert _exists(prepared[0])

        for waiter in waiters:
            for pid in module_pids(waiter):
                os.kill(pid, signal.SIGKILL)
            waiter.communicate(timeout=60)
        assert _exists(prepared[0])  # nothing could remove it when its run was killed
        # The next run, on any installation of the engine, removes it.
        other, raw = ansible.adhoc("cnab_installation", {"installation": "another", "bundle": HELLO})
        assert other["changed"], raw
        assert not _exists(prepared[0])
    finally:
        for pid in module_pids(holder):
            os.kill(pid, signal.SIGTERM)
        holder.communicate(timeout=120)
        for waiter in waiters:
            if waiter.poll() is None:
                waiter.kill()
    info, _unused = ansible.adhoc("cnab_claim_info", {"installation": "orphans", "history": True})
    assert [h["claim"]["bundle"]["name"] for h in info["installation"]["history"]] == ["sleeper"]
