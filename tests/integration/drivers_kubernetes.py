"""The Kubernetes driver under test: the session's API emulator (tests/k8s_emulator, which runs pods on
the local Docker engine), a namespace per test, and the environment that points the modules at them.

Everything reaches the modules through the documented environment fallbacks (CNAB_DRIVER,
K8S_AUTH_KUBECONFIG, CNAB_DRIVER_NAMESPACE, CNAB_K8S_HELPER_IMAGE), so the playbooks and module
arguments of the Docker-driver tests run unchanged with ``driver: kubernetes``.
"""

import os
import shutil
import subprocess
import time
import uuid

from stores_kubernetes import emulator
from support import HERE

HELPER_IMAGE = "cnab-tests/k8s-helper:0.1.0"
_built = []


def helper_image():
    """Build the helper image (a static busybox at /bin/busybox, FROM scratch) once per session."""
    if not _built:
        context = os.path.join(HERE, "images", "k8s-helper")
        shutil.copy("/bin/busybox", os.path.join(context, "busybox"))  # keeps its mode
        subprocess.run(["docker", "build", "-q", "-t", HELPER_IMAGE, context], check=True, capture_output=True,
                       env=dict(os.environ, DOCKER_BUILDKIT="0"))
        _built.append(HELPER_IMAGE)
    return HELPER_IMAGE


def kubernetes_environment():
    """``(environment, namespace, emulator)``: a fresh namespace, and the variables that select the driver."""
    server, kubeconfig = emulator()
    namespace = "d" + uuid.uuid4().hex[:12]
    server.cluster.create_namespace(namespace)
    environment = {"CNAB_DRIVER": "kubernetes", "K8S_AUTH_KUBECONFIG": kubeconfig,
                   "CNAB_DRIVER_NAMESPACE": namespace, "CNAB_K8S_HELPER_IMAGE": helper_image()}
    return environment, namespace, server


def objects(server, namespace, plural, selector=None):
    """Names of the objects of a kind in the namespace, read straight from the emulated cluster."""
    from tests.k8s_emulator.server import resource_of

    listed = server.cluster.list(resource_of(plural), namespace, selector or "")
    return [item["metadata"]["name"] for item in listed["items"]]


def pod_containers(namespace):
    """Docker containers the emulator's kubelet runs for pods of the namespace."""
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.kubernetes.pod.namespace=" + namespace],
                          capture_output=True, text=True, check=True).stdout.split()


def wait_for_invocation(server, namespace, installation, timeout=60):
    """Wait until the invocation container of the installation's pod runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        from tests.k8s_emulator.server import resource_of

        for pod in server.cluster.list(resource_of("pods"), namespace, "cnab.io/installation=" + installation)["items"]:
            for status in pod["status"].get("containerStatuses") or []:
                if status["name"] == "invocation" and "running" in status.get("state", {}):
                    return pod["metadata"]["name"]
        time.sleep(0.1)
    raise AssertionError("no invocation pod started for " + installation)


def wait_until_gone(server, namespace, timeout=30):
    """Wait until no Job, Pod, Secret or container is left in the namespace; what is left otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        left = {plural: objects(server, namespace, plural) for plural in ("jobs", "pods", "secrets")}
        left["containers"] = pod_containers(namespace)
        if not any(left.values()) or time.monotonic() > deadline:
            return {k: v for k, v in left.items() if v}
        time.sleep(0.2)
