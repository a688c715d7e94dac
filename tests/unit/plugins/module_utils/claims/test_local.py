"""LocalStore: records round trip, per-installation isolation, secrecy on disk, locking."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore, atomic_write
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import check_installation_name, open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ActionError, ClaimStoreError, LockTimeout

PASSWORD = "pw-7c1e55d0-sensitive"
SECRET_OUTPUT = b"out-4b9a2f-sensitive"
DOCUMENT = {
    "schemaVersion": "v1.2.0", "name": "acme", "version": "1.0.0",
    "invocationImages": [{"image": "acme:1", "imageType": "docker"}],
    "definitions": {"s": {"type": "string"}, "w": {"type": "string", "writeOnly": True}},
    "parameters": {"port": {"definition": "s"}, "password": {"definition": "w"}},
    "outputs": {"endpoint": {"definition": "s", "path": "/cnab/app/outputs/endpoint"},
                "secret": {"definition": "w", "path": "/cnab/app/outputs/secret"}},
}


@pytest.fixture
def store(tmp_path):
    return LocalStore(str(tmp_path / "store"))


def _claim(name="app", action="install"):
    bundle = Bundle(DOCUMENT, reference="/bundles/acme/bundle.json")
    return model.new_claim(name, action, bundle, {"port": "80"}, model.new_ulid(),
                           {"bundleDigest": bundle.digest, "modifies": True, "sensitiveParameters": ["password"]})


def _install(store, name="app"):
    claim = _claim(name)
    store.write_claim(name, claim, {"password": PASSWORD})
    running = model.new_result(claim, model.STATUS_RUNNING)
    store.write_result(name, running, {}, ())
    final = model.new_result(claim, model.STATUS_SUCCEEDED, outputs={"endpoint": {"generatedByBundle": "true"}})
    store.write_result(name, final, {"endpoint": b"http://app:80", "secret": SECRET_OUTPUT}, {"secret"})
    return claim, running, final


def _files(root):
    for directory, _unused, names in os.walk(root):
        for name in names:
            yield os.path.join(directory, name)


# ---- records --------------------------------------------------------------------------------


def test_claims_results_and_values_round_trip(store):
    claim, running, final = _install(store)
    installation = store.installation("app")
    assert installation.claims == [claim]
    assert installation.results == {claim["id"]: [running, final]}
    assert installation.status == "installed"
    assert store.sensitive_parameters("app", claim["id"]) == {"password": PASSWORD}
    assert store.output_values("app", final["id"]) == {"endpoint": b"http://app:80", "secret": SECRET_OUTPUT}
    assert store.output_values("app", running["id"]) == {}
    assert store.installation_names() == ["app"]


def test_unknown_installation_is_empty_and_creates_nothing(store):
    installation = store.installation("nobody")
    assert not installation.exists and installation.status == "unknown"
    assert store.installation_names() == []
    assert not os.path.exists(store.root)
    assert store.sensitive_parameters("nobody", model.new_ulid()) == {}


def test_open_store_defaults_to_local(tmp_path):
    store = open_store({"path": str(tmp_path)})
    assert isinstance(store, LocalStore) and store.root == str(tmp_path)
    with pytest.raises(ClaimStoreError, match="backend"):
        open_store({"backend": "s3"})


def test_installation_reads_only_its_own_directory(store, monkeypatch):
    _install(store, "app")
    _install(store, "other")
    broken = os.path.join(store.root, "installations", "other", "claims", "zzz.json")
    with open(broken, "w") as handle:
        handle.write("{not json")
    with pytest.raises(ClaimStoreError, match="could not read installation other"):
        store.installation("other")  # the corrupt file would be noticed if it were read

    seen = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    # Every directory and file is opened with os.open, relative to its parent (dir_fd).
    monkeypatch.setattr(os, "open", recording_open)
    installation = store.installation("app")
    monkeypatch.undo()

    assert installation.status == "installed"
    assert store.root in seen and "app" in seen and "other" not in seen, seen
    assert all(p in (store.root, "installations", "app", "claims", "results") or p.endswith(".json") for p in seen), seen


# ---- secrecy on disk ------------------------------------------------------------------------


def test_sensitive_values_live_only_under_sensitive(store):
    claim, _unused, final = _install(store)
    base = os.path.join(store.root, "installations", "app")
    sensitive = os.path.join(base, "sensitive")
    found = {}
    for path in _files(store.root):
        with open(path, "rb") as handle:
            data = handle.read()
        if PASSWORD.encode() in data or SECRET_OUTPUT in data:
            found[os.path.relpath(path, base)] = stat.S_IMODE(os.stat(path).st_mode)
    assert found == {
        os.path.join("sensitive", claim["id"] + ".parameters.json"): 0o600,
        os.path.join("sensitive", final["id"], "secret"): 0o600,
    }
    for directory, _unused, _unused in os.walk(sensitive):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
    assert os.listdir(os.path.join(base, "outputs", final["id"])) == ["endpoint"]


def test_sensitive_files_are_private_even_with_a_permissive_umask(store):
    old = os.umask(0)
    try:
        claim, _unused, final = _install(store)
    finally:
        os.umask(old)
    sensitive = os.path.join(store.root, "installations", "app", "sensitive")
    assert stat.S_IMODE(os.stat(sensitive).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(sensitive, final["id"])).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(sensitive, final["id"], "secret")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(sensitive, claim["id"] + ".parameters.json")).st_mode) == 0o600


# ---- atomic writes --------------------------------------------------------------------------


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = str(tmp_path / "deep" / "file.json")
    atomic_write(path, b"one")
    atomic_write(path, b"two", mode=0o600)
    with open(path, "rb") as handle:
        assert handle.read() == b"two"
    assert os.listdir(tmp_path / "deep") == ["file.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = str(tmp_path / "file.json")
    atomic_write(path, b"old")
    with pytest.raises(TypeError):
        atomic_write(path, "text is not bytes")
    with open(path, "rb") as handle:
        assert handle.read() == b"old"
    assert os.listdir(tmp_path) == ["file.json"]


def test_store_writes_leave_no_temp_files(store):
    _install(store)
    leftovers = [p for p in _files(store.root) if ".tmp-" in os.path.basename(p)]
    assert leftovers == []


# ---- installation names ---------------------------------------------------------------------

BAD_NAMES = ["../x", "", "a/b", "..", ".hidden", "-x", "x y", "a\nb", "a" * 254, None, 7]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_installation_names_are_rejected(store, tmp_path, name):
    with pytest.raises(ActionError, match="invalid"):
        check_installation_name(name)
    with pytest.raises(ActionError):
        store.installation(name)
    with pytest.raises(ActionError):
        with store.lock(name, 0):
            pass
    if isinstance(name, str):
        claim = dict(_claim(), installation=name)
        with pytest.raises(ActionError):
            store.write_claim(name, claim, {"password": PASSWORD})
    assert sorted(os.listdir(tmp_path)) == []


def test_name_with_trailing_newline_is_rejected(store):
    with pytest.raises(ActionError):
        check_installation_name("app\n")
    with pytest.raises(ActionError):
        with store.lock("app\n", 0):
            pass
    assert not os.path.exists(store.root)


@pytest.mark.parametrize("name", ["a", "A.b_c-1", "9lives", "a" * 253])
def test_valid_installation_names(name):
    assert check_installation_name(name) == name


# ---- locking across processes -----------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    sys.path[:0] = json.loads(sys.argv[1])
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
    store = LocalStore(sys.argv[2])
    if sys.argv[3] == "lock":
        with store.lock("app", 5):
            print("locked", flush=True)
            sys.stdin.readline()
        print("released", flush=True)
    else:
        print("ready", flush=True)
        sys.stdin.readline()
        print(store.fingerprint_key().hex(), flush=True)
""")


def _child(store, mode):
    return subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(sys.path), store.root, mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def holder(store):
    child = _child(store, "lock")
    try:
        assert child.stdout.readline().strip() == "locked"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()


def test_lock_held_by_another_process_times_out_naming_the_holder(store, holder):
    assert store.lock_holder("app")["pid"] == holder.pid
    started = time.monotonic()
    with pytest.raises(LockTimeout) as info:
        with store.lock("app", 0.3):
            pytest.fail("the lock was acquired while another process held it")
    assert 0.3 <= time.monotonic() - started < 3
    message = str(info.value)
    assert "pid %d" % holder.pid in message and socket.gethostname() in message and "app" in message


def test_lock_is_released_when_the_holder_leaves_its_context(store, holder):
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    with store.lock("app", 2):
        assert store.lock_holder("app")["pid"] == os.getpid()
    assert store.lock_holder("app") is None


def test_lock_is_released_when_the_holder_dies(store, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with store.lock("app", 2):
        assert time.monotonic() - started < 1
        assert store.lock_holder("app")["pid"] == os.getpid()


def test_lock_is_released_on_exception_and_is_per_installation(store):
    with pytest.raises(RuntimeError):
        with store.lock("app", 0):
            with store.lock("other", 0):  # another installation's lock is independent
                pass
            raise RuntimeError("boom")
    with store.lock("app", 0):
        with pytest.raises(LockTimeout):  # flock is per open file: a second open in-process conflicts too
            with store.lock("app", 0):
                pass


# ---- fingerprint key --------------------------------------------------------------------------


def test_fingerprint_key_is_stable_and_private(store):
    key = store.fingerprint_key()
    assert len(key) == 32
    assert store.fingerprint_key() == key == LocalStore(store.root).fingerprint_key()
    path = os.path.join(store.root, "fingerprint.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert LocalStore(store.root + "-elsewhere").fingerprint_key() != key


def test_concurrent_fingerprint_key_creation_yields_one_key(store):
    children = [_child(store, "key") for _unused in range(6)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # release them together so they race for the first write
            child.stdin.write("\n")
            child.stdin.flush()
        keys = {child.stdout.readline().strip() for child in children}
    finally:
        for child in children:
            child.wait(timeout=10)
            child.stdin.close()
            child.stdout.close()
    assert keys == {store.fingerprint_key().hex()}
    assert os.listdir(store.root) == ["fingerprint.key"]


def test_lock_holder_is_the_live_holder_and_none_once_it_died(store, holder):
    assert store.lock_holder("app")["pid"] == holder.pid
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with open(os.path.join(store.root, "installations", "app", "lock"), "rb") as handle:
        assert json.loads(handle.read())["pid"] == holder.pid  # a dead holder's identity stays behind
    assert store.lock_holder("app") is None
