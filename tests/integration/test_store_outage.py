"""A claim store that goes away while an action runs, through the modules.

The run fails with one sentence that names the store and the reason, and leaves nothing
that confuses the next run: once the store is back, the next run takes the lock over
(when the dead run's lease has expired), records the interrupted claim as ``unknown`` and
does the work, and the history is complete.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

from stores_azure import AZURITE, azure_options, ensure_azurite
from stores_kubernetes import kubeconfig_text
from support import REPO, SLEEPER, _task_result, wait_for_container

from ansible_collections.cnab.runtime.plugins.module_utils.claims import kubernetes as kstore
from tests.k8s_emulator import Emulator
from tests.k8s_emulator.cluster import SECRETS

TOKEN = "outage-token"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port, process):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the private Azurite exited with code %s" % process.returncode
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the private Azurite did not answer on port %d" % port)


def _start_azurite(port, location):
    azurite = os.path.join(REPO, "build", "azurite", "node_modules", ".bin", "azurite-blob")
    process = subprocess.Popen([azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", location,
                                "--skipApiVersionCheck", "--silent"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait_for_port(port, process)
    return process


def _failed_with_one_sentence(run, prefix):
    out, err = run.communicate(timeout=120)
    result = _task_result(out)
    assert result.get("failed") is True, out + err
    message = result["msg"]
    assert message.startswith(prefix), message
    assert message.endswith(".") and "\n" not in message, message
    assert "Traceback" not in out + err and "exception" not in result, out + err
    return message


def _settled_history(ansible, args, store):
    """The next run, then the installation's history: [(action, [statuses])], and its info."""
    again, raw = ansible.adhoc("cnab_install", dict(args, parameters={"sleep": 0}, lock_timeout=60))
    assert again["changed"] and again["result"]["status"] == "succeeded", raw
    info, raw = ansible.adhoc("cnab_claim_info", {"installation": args["installation"], "history": True,
                                                  "claim_store": store})
    history = info["installation"]["history"]
    assert [h["claim"]["action"] for h in history] == ["install", "install"], raw
    interrupted = history[0]["results"]
    assert [r["status"] for r in interrupted] == ["running", "unknown"], raw
    assert interrupted[-1]["message"].startswith("the run ended without recording a result")
    assert [r["status"] for r in history[1]["results"]] == ["running", "succeeded"], raw
    assert info["installation"]["status"] == "installed"
    assert info["installation"]["outputs"] == {"progress": "written-before-sleep\n"}
    return history


def test_azurite_stopped_mid_action(ansible, tmp_path):
    ensure_azurite()  # installs Azurite; this test runs a private one on its own port and stops it
    port, location = _free_port(), str(tmp_path / "azurite")
    azurite = _start_azurite(port, location)
    try:
        store = dict(azure_options("outage" + uuid.uuid4().hex[:8]),
                     connection_string=AZURITE.replace(":10000/", ":%d/" % port))
        name = "outage-az-" + uuid.uuid4().hex[:6]
        args = {"installation": name, "bundle": SLEEPER, "parameters": {"sleep": 4}, "claim_store": store}
        run = ansible.adhoc_process("cnab_install", args)
        wait_for_container(name)
        azurite.send_signal(signal.SIGTERM)  # a clean stop: Azurite saves its database
        azurite.wait(30)
        message = _failed_with_one_sentence(
            run, "the azure_blob claim store at devstoreaccount1/%s could not write a result of installation %s: "
                 % (store["container"], name))
        assert "Connection refused" in message, message

        azurite = _start_azurite(port, location)  # the same data back
        history = _settled_history(ansible, args, store)
        # Nothing of the lost final result was left behind: every record blob is in the history.
        from azure.storage.blob import BlobServiceClient

        container = BlobServiceClient.from_connection_string(store["connection_string"]).get_container_client(
            store["container"])
        blobs = [b.name for b in container.list_blobs(name_starts_with="installations/%s/" % name)]
        recorded = {"installations/%s/claims/%s.json" % (name, h["claim"]["id"]) for h in history} | {
            "installations/%s/results/%s.json" % (name, r["id"]) for h in history for r in h["results"]}
        assert {b for b in blobs if "/claims/" in b or "/results/" in b} == recorded
        assert {b.split("/")[3] for b in blobs if "/outputs/" in b} == {history[1]["results"][-1]["id"]}
    finally:
        azurite.kill()
        azurite.wait()


def test_kubernetes_api_server_gone_mid_commit(ansible, tmp_path):
    """The API server dies between the final result's Secret and its commit to the index: the
    record is there but invisible, and the next run records the claim as unknown."""
    emulator = Emulator(token=TOKEN)
    emulator.start()
    emulator.cluster.create_namespace("cnab")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kubeconfig_text(emulator.url, TOKEN))
    store = {"backend": "kubernetes", "kubeconfig": str(kubeconfig), "namespace": "cnab", "lease_seconds": 3}
    name = "outage-k8s-" + uuid.uuid4().hex[:6]
    index_path = "/api/v1/namespaces/cnab/secrets/" + kstore.index_name(name)
    updates, down = [], threading.Event()

    def die_at_the_final_commit(method, path, query):
        if method == "PUT" and path == index_path:
            updates.append(path)  # the running result's commit, then the final result's
            if len(updates) == 2:
                down.set()
                threading.Thread(target=emulator.stop).start()
        return "drop" if down.is_set() else None

    emulator.fault = die_at_the_final_commit
    revived = None
    try:
        args = {"installation": name, "bundle": SLEEPER, "parameters": {"sleep": 1}, "claim_store": store}
        run = ansible.adhoc_process("cnab_install", args)
        message = _failed_with_one_sentence(
            run, "the kubernetes claim store in namespace cnab could not write a result of installation %s: "
                 "cannot reach the API server at %s (" % (name, emulator.url))
        assert down.is_set(), message

        revived = Emulator(port=emulator.port, cluster=emulator.cluster, token=TOKEN)  # the same objects back
        revived.start()
        orphans = [s for s in emulator.cluster.list(SECRETS, "cnab", "cnab.io/record=result")["items"]
                   if json.loads(_decoded(s, "result.json"))["status"] == "succeeded"]
        assert len(orphans) == 1  # written, never committed
        history = _settled_history(ansible, args, store)
        assert orphans[0]["metadata"]["annotations"]["cnab.io/result"] not in json.dumps(history)
    finally:
        emulator.stop()
        if revived is not None:
            revived.stop()


def _decoded(secret, key):
    import base64

    return base64.b64decode(secret["data"][key])
