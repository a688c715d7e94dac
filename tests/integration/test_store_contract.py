"""The contract every claim-store backend keeps, run against each real backend.

The same records, the same per-installation lock, the same separation of sensitive
values, whichever store holds them.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from stores import BACKENDS, options_for
from support import REPO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout

BUNDLE = Bundle(json.load(open(os.path.join(REPO, "examples", "hello", "bundle.json"))))


@pytest.fixture(params=BACKENDS)
def options(request, tmp_path):
    return options_for(request.param, tmp_path)


def _record(store, name, action="install", status=model.STATUS_SUCCEEDED, outputs=None, sensitive=()):
    claim = model.new_claim(name, action, BUNDLE, {"greeting": "hi"}, model.new_ulid(),
                            {"modifies": True, "sensitiveParameters": ["password"] if sensitive else []})
    store.write_claim(name, claim, {"password": "pw-" + name} if sensitive else {})
    store.write_result(name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    metadata = {n: {"generatedByBundle": "true"} for n in (outputs or {})}
    result = model.new_result(claim, status, None, metadata)
    store.write_result(name, result, outputs or {}, set(sensitive))
    return claim, result


def test_records_round_trip(options):
    store = open_store(options)
    claim, result = _record(store, "app", outputs={"message": b"hello", "secret": b"s3cr3t"}, sensitive=("secret",))
    installation = store.installation("app")
    assert [c["id"] for c in installation.claims] == [claim["id"]]
    assert [r["status"] for r in installation.results[claim["id"]]] == ["running", "succeeded"]
    assert installation.status == "installed"
    assert store.output_values("app", result["id"]) == {"message": b"hello", "secret": b"s3cr3t"}
    assert store.sensitive_parameters("app", claim["id"]) == {"password": "pw-app"}
    assert store.installation("other").exists is False
    assert store.installation_names() == ["app"]


def test_a_claim_is_written_only_as_a_claim_of_the_installation_it_names(options):
    store = open_store(options)
    claim = model.new_claim("app", "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(), {"modifies": True})
    with pytest.raises(ClaimStoreError, match=r"claim \w+ names installation 'app', so it cannot be recorded as a "
                                              r"claim of installation other\.$"):
        store.write_claim("other", claim, {"password": "pw"})
    assert store.installation("other").exists is False
    assert store.installation_names() == []


def test_history_keeps_order(options):
    store = open_store(options)
    ids = [_record(store, "app", action)[0]["id"] for action in ("install", "upgrade", "uninstall")]
    installation = store.installation("app")
    assert [c["id"] for c in installation.claims] == ids
    assert installation.status == "uninstalled"


def test_fingerprint_key_is_stable_and_shared(options):
    first, second = open_store(options), open_store(options)
    key = first.fingerprint_key()
    assert len(key) >= 32 and key == second.fingerprint_key()


def _hold_lock(options, name, seconds):
    """A child process holding the lock; prints 'held' once it has it."""
    script = textwrap.dedent("""
        import json, sys, time
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
        store = open_store(json.loads(sys.argv[1]))
        with store.lock(sys.argv[2], 30):
            print("held", flush=True)
            time.sleep(float(sys.argv[3]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script, json.dumps(options), name, str(seconds)],
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert child.stdout.readline().strip() == "held"
    return child


def test_lock_excludes_other_processes_and_names_the_holder(options):
    store = open_store(options)
    child = _hold_lock(options, "app", 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="locked by the run of pid %d" % child.pid):
            with store.lock("app", 1):
                pass
        assert time.monotonic() - started >= 1
        assert store.lock_holder("app")["pid"] == child.pid
        with store.lock("other", 1):  # other installations are not affected
            pass
    finally:
        child.kill()
        child.wait()


def test_lock_is_released_on_exit(options):
    store = open_store(options)
    child = _hold_lock(options, "app", 0.2)
    child.wait()
    with store.lock("app", 5):
        assert store.lock_holder("app")["pid"] == os.getpid()
    assert store.lock_holder("app") is None


def test_dead_holder_loses_the_lock(options):
    """kill -9 of the holder: the next run gets the lock (local: at once; remote: when the lease expires)."""
    options = dict(options, lease_seconds=2)
    store = open_store(options)
    child = _hold_lock(options, "app", 60)
    child.kill()
    child.wait()
    with store.lock("app", 30):  # Azure's shortest lease is 15 s: wait well past it
        assert store.lock_holder("app")["pid"] == os.getpid()
