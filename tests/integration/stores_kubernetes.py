"""The Kubernetes API emulator behind the ``kubernetes`` claim-store tests.

One emulator per pytest process, started on a free loopback port the first time a test
asks for a store, with a kubeconfig (bearer token included, which the emulator checks)
written to a temporary directory. Each test gets its own namespace, so tests never see
each other's records. Child processes reach the same emulator through the kubeconfig.
"""

import atexit
import os
import shutil
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.append(REPO)  # for tests.k8s_emulator; appended so that it shadows nothing

from tests.k8s_emulator import Emulator  # noqa: E402

TOKEN = "cnab-test-token"
_started = {}
_lock = threading.Lock()


def kubeconfig_text(url, token=TOKEN, namespace="default"):
    return "\n".join([
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: emulator",
        "  cluster: {server: '%s'}" % url,
        "users:",
        "- name: tester",
        "  user: {token: '%s'}" % token,
        "contexts:",
        "- name: emulator",
        "  context: {cluster: emulator, user: tester, namespace: %s}" % namespace,
        "current-context: emulator",
        "",
    ])


def emulator():
    """The session's emulator and its kubeconfig path, started on first use."""
    with _lock:
        if not _started:
            server = Emulator(port=0, token=TOKEN)
            url = server.start()
            directory = tempfile.mkdtemp(prefix="cnab-k8s-")
            path = os.path.join(directory, "kubeconfig")
            with open(path, "w") as handle:
                handle.write(kubeconfig_text(url))
            atexit.register(shutil.rmtree, directory, True)
            atexit.register(server.stop)
            _started.update(server=server, kubeconfig=path)
        return _started["server"], _started["kubeconfig"]


def kubernetes_options(unique):
    server, kubeconfig = emulator()
    server.cluster.create_namespace(unique)
    return {"backend": "kubernetes", "kubeconfig": kubeconfig, "namespace": unique, "lease_seconds": 3}
