"""Kubernetes-driver overhead over the Docker driver, for the hello bundle, against the API emulator.

Interleaved, --runs times: a fresh ad-hoc cnab_install of examples/hello with driver: docker, and the same
with driver: kubernetes against tests/k8s_emulator (started in this process; its kubelet runs the pod's two
containers - the helper init container, then the invocation image - on the same Docker engine).
Prints the medians, their ratio and difference. This is an EMULATOR figure: a real cluster adds
scheduling, image pulls, kubelet and API-server latencies that the emulator does not have (and lacks
none of the driver's own work: Job, Secret, polling, pods/log, deletion).
Run through `make bench` or directly with the venv's python.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = os.path.join(REPO, "examples", "hello")
IMAGE = "cnab-examples/hello:0.1.0"
HELPER = "cnab-tests/k8s-helper:0.1.0"
sys.path.insert(0, REPO)

from tests.k8s_emulator import Emulator  # noqa: E402


def timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "CHANGED" not in done.stdout:
        sys.exit("benchmark command failed: %s\n%s%s" % (" ".join(command), done.stdout, done.stderr))
    return elapsed


def build_images():
    subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), HELLO, IMAGE], check=True, capture_output=True)
    context = tempfile.mkdtemp(prefix="cnab-bench-helper-")
    subprocess.run(["cp", "/bin/busybox", os.path.join(context, "busybox")], check=True)
    with open(os.path.join(context, "Dockerfile"), "w") as handle:
        handle.write("FROM scratch\nCOPY busybox /bin/busybox\n")
    subprocess.run(["docker", "build", "-q", "-t", HELPER, context], check=True, capture_output=True,
                   env=dict(os.environ, DOCKER_BUILDKIT="0"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    build_images()
    server = Emulator(port=0, token="bench")
    url = server.start()
    server.cluster.create_namespace("cnab")
    work = tempfile.mkdtemp(prefix="cnab-bench-k8s-")
    kubeconfig = os.path.join(work, "kubeconfig")
    with open(kubeconfig, "w") as handle:
        handle.write("apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: '%s'}}]\n"
                     "users: [{name: u, user: {token: bench}}]\ncontexts: [{name: e, context: {cluster: e, user: u}}]\n"
                     "current-context: e\n" % url)
    colls = os.path.join(work, "collections", "ansible_collections", "cnab")
    os.makedirs(colls)
    os.symlink(REPO, os.path.join(colls, "runtime"))
    env = dict(os.environ, CNAB_HOME=os.path.join(work, "home"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(work, "collections"), K8S_AUTH_KUBECONFIG=kubeconfig,
               CNAB_DRIVER_NAMESPACE="cnab", CNAB_K8S_HELPER_IMAGE=HELPER)
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")

    def install(name, driver):
        return [ansible, "localhost", "-m", "cnab.runtime.cnab_install", "-a",
                json.dumps({"installation": name, "bundle": HELLO, "driver": driver})]

    timed(install("warm-docker", "docker"), env)  # first use pays for Python's bytecode caches
    timed(install("warm-k8s", "kubernetes"), env)
    samples = {"docker": [], "kubernetes": []}
    for index in range(args.runs):
        for driver in samples:
            samples[driver].append(timed(install("bench-%s-%d" % (driver, index), driver), env))
    server.stop()
    if getattr(server.cluster, "control_plane", None) is not None:
        server.cluster.control_plane.stop()
    median = {k: statistics.median(v) for k, v in samples.items()}
    print("medians of %d fresh installs of hello (s): docker %.3f, kubernetes (emulator) %.3f"
          % (args.runs, median["docker"], median["kubernetes"]))
    print("kubernetes / docker: %.2f; kubernetes - docker: %+.0f ms  (EMULATOR figure, see docs/benchmarks.md)"
          % (median["kubernetes"] / median["docker"], 1000 * (median["kubernetes"] - median["docker"])))


if __name__ == "__main__":
    main()
