"""Claim-store backends under test: each gives the ``claim_store`` options of a fresh,
empty store. ``make test`` starts the services (Azurite, the Kubernetes API emulator);
a backend whose service is not running fails its tests rather than skipping them."""

import uuid

BACKENDS = ["local", "azure_blob", "kubernetes"]


def local_options(tmp_path):
    return {"backend": "local", "path": str(tmp_path / "store")}


def options_for(backend, tmp_path):
    """Options of an empty store of ``backend``, unique to the calling test."""
    unique = "t" + uuid.uuid4().hex[:12]
    if backend == "local":
        return local_options(tmp_path)
    if backend == "azure_blob":
        from stores_azure import azure_options

        return azure_options(unique)
    if backend == "kubernetes":
        from stores_kubernetes import kubernetes_options

        return kubernetes_options(unique)
    raise ValueError(backend)


_HOLDER = """
import json, sys
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError
store = open_store(json.loads(sys.argv[1]))
with store.lock("app", 30):
    print("held", flush=True)
    claim = json.loads(sys.stdin.readline())
    try:
        store.write_claim("app", claim, {"password": "pw-paused"})
        print("written", flush=True)
    except ClaimStoreError as exc:
        print(exc, flush=True)
"""


def holding_child(options):
    """A process holding the lock of installation ``app``; it writes the claim sent on its stdin
    (with a sensitive parameter) and prints "written" or the store's refusal."""
    import json
    import os
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", _HOLDER, json.dumps(options)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert child.stdout.readline().strip() == "held"
    return child


def write_after_resuming(child, claim):
    """Resume a stopped ``holding_child``, have it write ``claim``; what it printed."""
    import json
    import os
    import signal

    os.kill(child.pid, signal.SIGCONT)
    child.stdin.write(json.dumps(claim) + "\n")
    child.stdin.flush()
    answer = child.stdout.readline().strip()
    assert child.wait(30) == 0
    return answer
