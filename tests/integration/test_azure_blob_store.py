"""What the azure_blob claim store adds to the contract: encrypted sensitive values, the
credential options, its errors as sentences, and blob-lease locking. Against Azurite."""

import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from stores import holding_child, write_after_resuming
from stores_azure import AZURITE, azure_options, ensure_azurite
from support import REPO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout

BUNDLE = Bundle(json.load(open(os.path.join(REPO, "examples", "hello", "bundle.json"))))
NEEDS_KEY = r"needs claim_store\.encryption_key \(or CNAB_CLAIM_ENCRYPTION_KEY\) to %s sensitive values\.$"


@pytest.fixture
def options():
    return azure_options("a" + uuid.uuid4().hex[:12])


def _connection_reset(*args, **kwargs):
    """A commit cut off: the service went away after the record was written."""
    raise ConnectionResetError(104, "Connection reset by peer")


def _record(store, name, outputs=None, sensitive=()):
    """An install claim with its running and final results, as a run writes them."""
    claim = model.new_claim(name, "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    store.write_claim(name, claim, {"password": "pw-" + name} if sensitive else {})
    store.write_result(name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {n: {} for n in outputs or {}})
    store.write_result(name, result, outputs or {}, set(sensitive))
    return claim, result


def _container(options):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(AZURITE).get_container_client(options["container"])


def _blobs(options, prefix=""):
    return sorted(b.name for b in _container(options).list_blobs(name_starts_with=prefix))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sensitive_values_are_encrypted_at_rest(options):
    store = open_store(options)
    claim, result = _record(store, "app", outputs={"message": b"hello", "secret": b"s3cr3t"}, sensitive=("secret",))
    container = _container(options)
    sealed = ["installations/app/sensitive/%s.parameters" % claim["id"], "installations/app/sensitive/%s/secret" % result["id"]]
    assert set(sealed) <= set(_blobs(options))
    for name in sealed:
        data = container.download_blob(name).readall()
        assert b"s3cr3t" not in data and b"pw-app" not in data
    assert container.download_blob("installations/app/outputs/%s/message" % result["id"]).readall() == b"hello"
    # Another store with the same key (a later run) reads them back.
    again = open_store(options)
    assert again.sensitive_parameters("app", claim["id"]) == {"password": "pw-app"}
    assert again.output_values("app", result["id"])["secret"] == b"s3cr3t"


def test_a_sealed_value_copied_to_another_record_does_not_decrypt(options):
    store = open_store(options)
    first, second = _record(store, "app", sensitive=("x",))[0], _record(store, "app", sensitive=("x",))[0]
    container = _container(options)
    data = container.download_blob("installations/app/sensitive/%s.parameters" % first["id"]).readall()
    container.upload_blob("installations/app/sensitive/%s.parameters" % second["id"], data, overwrite=True)
    with pytest.raises(ClaimStoreError, match="does not match"):
        store.sensitive_parameters("app", second["id"])


def test_without_a_key_nothing_sensitive_is_written(options):
    store = open_store(dict(options, encryption_key=None))
    claim = model.new_claim("app", "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    with pytest.raises(ClaimStoreError, match="azure_blob claim store " + NEEDS_KEY % "store"):
        store.write_claim("app", claim, {"password": "pw"})
    assert _blobs(options, "installations/") == []
    store.write_claim("app", claim, {})  # nothing sensitive: no key needed
    result = model.new_result(claim, model.STATUS_SUCCEEDED)
    with pytest.raises(ClaimStoreError, match=NEEDS_KEY % "store"):
        store.write_result("app", result, {"message": b"hello", "secret": b"s3cr3t"}, {"secret"})
    claim_blob = "installations/app/claims/%s.json" % claim["id"]
    assert _blobs(options, "installations/app/") == [claim_blob, "installations/app/index.json"]


def test_reading_sensitive_values_needs_the_right_key(options):
    claim, result = _record(open_store(options), "app", outputs={"secret": b"s3cr3t"}, sensitive=("secret",))
    keyless = open_store(dict(options, encryption_key=None))
    with pytest.raises(ClaimStoreError, match=NEEDS_KEY % "read"):
        keyless.sensitive_parameters("app", claim["id"])
    with pytest.raises(ClaimStoreError, match=NEEDS_KEY % "read"):
        keyless.output_values("app", result["id"])
    assert keyless.installation("app").status == "installed"  # the shareable records need no key
    wrong = open_store(dict(options, encryption_key="another key"))
    with pytest.raises(ClaimStoreError, match=r"cannot decrypt .*: claim_store\.encryption_key does not match"):
        wrong.sensitive_parameters("app", claim["id"])
    with pytest.raises(ClaimStoreError, match="does not match"):
        wrong.output_values("app", result["id"])


def test_claims_and_results_are_written_once(options):
    store = open_store(options)
    claim, result = _record(store, "app")
    with pytest.raises(ClaimStoreError, match="already holds installations/app/claims/.*: claims and results are written once"):
        store.write_claim("app", claim, {})
    with pytest.raises(ClaimStoreError, match="written once"):
        store.write_result("app", result, {}, ())


def test_installation_is_read_by_name_never_listed(options):
    """The index, then each record by its exact name: the cost does not grow with the container."""
    store = open_store(options)
    for name in ("app", "app2", "app-x"):
        _record(store, name, outputs={"message": b"hello"})
    claim, result = _record(store, "app", outputs={"message": b"again"})
    listed, downloaded = [], []
    real_list, real_download = store._container.list_blobs, store._container.download_blob
    store._container.list_blobs = lambda **kwargs: listed.append(kwargs) or real_list(**kwargs)
    store._container.download_blob = lambda name, **kwargs: downloaded.append(name) or real_download(name, **kwargs)
    installation = store.installation("app")
    assert len(installation.claims) == 2 and installation.status == "installed"
    assert store.output_values("app", result["id"]) == {"message": b"again"}
    assert listed == []
    assert downloaded[0] == "installations/app/index.json" and len(downloaded) == 1 + 2 + 4 + 1
    assert set(downloaded[1:]) == {"installations/app/claims/%s.json" % c["id"] for c in installation.claims} | {
        "installations/app/results/%s.json" % r["id"] for rs in installation.results.values() for r in rs} | {
        "installations/app/outputs/%s/message" % result["id"]}
    assert store.installation_names() == ["app", "app-x", "app2"]


def test_a_record_whose_commit_never_happened_is_invisible_then_adopted(options):
    store = open_store(options)
    claim, unused = _record(store, "app")
    orphan = model.new_claim("app", "upgrade", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    writer = open_store(options)
    writer._commit = _connection_reset
    with pytest.raises(ClaimStoreError, match="Connection reset by peer"):
        writer.write_claim("app", orphan, {})
    assert "installations/app/claims/%s.json" % orphan["id"] in _blobs(options, "installations/app/claims/")
    assert [c["id"] for c in store.installation("app").claims] == [claim["id"]]
    store.write_claim("app", orphan, {})  # the same record again: adopted, committed
    assert [c["id"] for c in store.installation("app").claims] == [claim["id"], orphan["id"]]
    index = json.loads(_container(options).download_blob("installations/app/index.json").readall())
    assert index["claims"] == [claim["id"], orphan["id"]] and len(index["results"]) == 2
    other = dict(orphan, id=model.new_ulid())
    with pytest.raises(ClaimStoreError):
        writer.write_claim("app", other, {})
    with pytest.raises(ClaimStoreError, match="already holds installations/app/claims/%s.json" % other["id"]):
        store.write_claim("app", dict(other, action="uninstall"), {})  # same id, other content: refused


def test_concurrent_stores_agree_on_the_fingerprint_key(options):
    stores = [open_store(options) for index in range(8)]
    start = threading.Barrier(len(stores))
    keys = [None] * len(stores)

    def fetch(index):
        start.wait()
        keys[index] = stores[index].fingerprint_key()

    threads = [threading.Thread(target=fetch, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys[0]) == 32 and keys == [keys[0]] * len(keys)
    assert _container(options).download_blob("fingerprint.key").readall() == keys[0]


def test_account_url_with_key_or_sas_token(options):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    url = "http://127.0.0.1:10000/devstoreaccount1"
    key = AZURITE.split("AccountKey=")[1].split(";")[0]
    base = {"backend": "azure_blob", "container": options["container"], "encryption_key": "k"}
    claim = _record(open_store(dict(base, account_url=url, account_key=key)), "app")[0]
    sas = generate_container_sas("devstoreaccount1", options["container"], account_key=key,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    with_sas = open_store(dict(base, account_url=url, sas_token="?" + sas))
    assert [c["id"] for c in with_sas.installation("app").claims] == [claim["id"]]


def test_missing_credentials_name_the_options():
    with pytest.raises(ClaimStoreError, match=r"needs claim_store\.connection_string \(or AZURE_STORAGE_CONNECTION_STRING\), "
                                              r"or claim_store\.account_url .* claim_store\.sas_token"):
        open_store({"backend": "azure_blob", "account_url": "https://x.blob.core.windows.net"})


def test_without_the_sdk_the_error_names_the_package():
    script = textwrap.dedent("""
        import sys
        sys.modules["azure"] = None  # as in ansible-test's import sanity test
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.azure_blob import AzureBlobStore
        from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError
        try:
            AzureBlobStore({"connection_string": "x"})
        except ClaimStoreError as exc:
            print(exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert "needs the Python package azure-storage-blob" in run.stdout


def test_a_stopped_azurite_fails_fast_with_one_sentence(tmp_path):
    ensure_azurite()  # installs Azurite; this test runs a second, private one and stops it
    port = _free_port()
    azurite = os.path.join(REPO, "build", "azurite", "node_modules", ".bin", "azurite-blob")
    server = subprocess.Popen([azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(tmp_path),
                               "--skipApiVersionCheck", "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        options = dict(azure_options("stopped"), connection_string=AZURITE.replace(":10000/", ":%d/" % port))
        store = open_store(options)
        _record(store, "app")
    finally:
        server.kill()
        server.wait()
    for call in (lambda: store.installation("app"), lambda: store.lock("app", 30).__enter__(),
                 store.fingerprint_key, store.installation_names,
                 # A new store creates its container with its first write, not when opened.
                 lambda: open_store(options).lock("app", 30).__enter__()):
        started = time.monotonic()
        with pytest.raises(ClaimStoreError) as caught:
            call()
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert not isinstance(caught.value, LockTimeout)
        assert message.startswith("the azure_blob claim store at devstoreaccount1/stopped could not ")
        assert "Connection refused" in message and message.endswith(".") and "\n" not in message


def _wait_for_port(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the private Azurite did not start on port %d" % port)


def _hold_lock(options, seconds):
    script = textwrap.dedent("""
        import json, sys, time
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
        with open_store(json.loads(sys.argv[1])).lock("app", 30):
            print("held", flush=True)
            time.sleep(float(sys.argv[2]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script, json.dumps(options), str(seconds)], stdout=subprocess.PIPE,
                             text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert child.stdout.readline().strip() == "held"
    return child


def test_break_lock_frees_a_held_lock_at_once(options):
    store = open_store(options)
    assert store.break_lock("app") is None
    child = _hold_lock(options, 60)
    try:
        assert store.break_lock("app")["pid"] == child.pid
        assert store.lock_holder("app") is None
        with store.lock("app", 1):
            assert store.lock_holder("app")["pid"] == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_the_holder_keeps_its_lease_past_its_duration(options):
    """Azure's shortest lease is 15 s: the keeper renews it while the run holds the lock."""
    store = open_store(dict(options, lease_seconds=1))  # clamped to 15
    with store.lock("app", 1):
        time.sleep(17)
        with pytest.raises(LockTimeout, match=r"installation app is locked by the run of pid %d .*; gave up after "
                                              r"waiting 0 seconds \(raise lock_timeout to wait longer\)\.$" % os.getpid()):
            with open_store(options).lock("app", 0):
                pass
    assert store.lock_holder("app") is None


LOST_LOCK = (r"^the azure_blob claim store at devstoreaccount1/\w+ could not write a claim of installation app: it lost "
             r"the lock of installation app to %s\.$")


def test_break_lock_and_the_holder_that_lost_it(options):
    holder, operator = open_store(options), open_store(options)
    claim = model.new_claim("app", "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    with holder.lock("app", 1):
        assert operator.break_lock("app")["pid"] == os.getpid()
        with operator.lock("app", 1):
            with pytest.raises(ClaimStoreError, match=LOST_LOCK % (r"the run of pid %d .*" % os.getpid())):
                holder.write_claim("app", claim, {})
    assert not holder.installation("app").exists
    assert _blobs(options, "installations/app/claims/") == []


def test_a_holder_paused_past_its_lease_writes_nothing_after_a_takeover(options):
    """A holder stopped (SIGSTOP) stops renewing; once its lease expired and another run
    took the lock, its next write is refused and the new holder's history stays intact."""
    paused_claim = model.new_claim("app", "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    child = holding_child(options)
    try:
        os.kill(child.pid, signal.SIGSTOP)
        taker = open_store(options)
        started = time.monotonic()
        with taker.lock("app", 30):  # waits for the paused holder's 15 s lease to expire
            assert time.monotonic() - started > 5
            claim, result = _record(taker, "app")
            refusal = write_after_resuming(child, paused_claim)
            history = taker.installation("app")
            assert [c["id"] for c in history.claims] == [claim["id"]]
            assert list(history.results) == [claim["id"]] and len(history.results[claim["id"]]) == 2
            assert history.last_result(claim)["id"] == result["id"] and history.installed
            assert taker.lock_holder("app")["pid"] == os.getpid()
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        child.wait()
    assert re.match(LOST_LOCK % (r"the run of pid %d .*" % os.getpid()), refusal), refusal
    assert [b.rsplit("/", 1)[1] for b in _blobs(options, "installations/app/claims/")] == [claim["id"] + ".json"]
    assert _blobs(options, "installations/app/sensitive/") == []
