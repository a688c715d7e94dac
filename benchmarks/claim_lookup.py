"""Claim lookup at scale: one installation's cnab_claim_info in a store holding many.

For each backend: the time of ``lookup.describe_installation`` for one installation
(10 claims, 20 results, 10 outputs) in a store holding only it, then in the same store
grown to --installations installations of the same shape, and the ratio of the two
(target <= 1.5). Medians of --runs lookups, in process: the module's own fixed cost
(about 0.7 s of Ansible) would only dilute the ratio. The probe installation is written
through the store's API; the others are copies of it made behind the store's back
(files, emulator objects, blob copies), because writing hundreds of thousands of
records through the API would take far longer than the measurement.

Backends: local (a temporary directory), kubernetes (the API emulator of tests/, in
process) and azure_blob (Azurite, which `make azurite` starts).
"""

import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(REPO)
sys.path.append(os.path.join(REPO, "tests", "integration"))  # the test helpers that start the services
ROOT = tempfile.mkdtemp(prefix="cnab-bench-colls-")
os.makedirs(os.path.join(ROOT, "ansible_collections", "cnab"))
os.symlink(REPO, os.path.join(ROOT, "ansible_collections", "cnab", "runtime"))
sys.path.insert(0, ROOT)

from ansible_collections.cnab.runtime.plugins.module_utils import lookup  # noqa: E402
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle  # noqa: E402
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model  # noqa: E402
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store  # noqa: E402

PROBE = "probe"
HELLO = load_bundle(os.path.join(REPO, "examples", "hello"))


def write_probe(store, claims):
    for index in range(claims):
        claim = model.new_claim(PROBE, "install" if index == 0 else "upgrade", HELLO, {"greeting": "hi %d" % index},
                                model.new_ulid(), {"modifies": True, "sensitiveParameters": []})
        store.write_claim(claim, {})
        store.write_result(PROBE, model.new_result(claim, model.STATUS_RUNNING), {}, ())
        result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {"generatedByBundle": "true"}})
        store.write_result(PROBE, result, {"message": b"hello %d" % index}, set())


def measure(store, runs):
    times = []
    for _index in range(runs):
        started = time.perf_counter()
        info = lookup.describe_installation(store, PROBE)
        times.append(time.perf_counter() - started)
    assert info["status"] == "installed" and len(info["outputs"]) == 1
    return statistics.median(times)


# -- growing each backend behind its API ---------------------------------------------------

def grow_local(options, count):
    base = os.path.join(options["path"], "installations")
    for index in range(count):
        shutil.copytree(os.path.join(base, PROBE), os.path.join(base, "other-%05d" % index))


def grow_kubernetes(cluster, namespace, count):
    with cluster._lock:  # the emulator's own store, so that 300,000 objects take seconds, not an hour
        probe = [(k, v) for k, v in cluster._objects.items()
                 if k[1] == namespace and (v["metadata"].get("labels") or {}).get("cnab.io/installation") == PROBE]
        for index in range(count):
            name = "other-%05d" % index
            for (plural, ns, object_name), obj in probe:
                clone = copy.deepcopy(obj)
                meta = clone["metadata"]
                meta["name"] = "%s-%d" % (object_name[:200], index)
                meta["labels"]["cnab.io/installation"] = name
                meta.setdefault("annotations", {})["cnab.io/installation"] = name
                meta["resourceVersion"] = cluster._next_version()
                meta["uid"] = str(uuid.uuid4())
                cluster._objects[(plural, ns, meta["name"])] = clone


def grow_azure(options, count):
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(options["connection_string"]).get_container_client(
        options["container"])
    probe = [(b.name, container.download_blob(b.name).readall())
             for b in container.list_blobs(name_starts_with="installations/%s/" % PROBE)]

    def upload(index):
        prefix = "installations/other-%05d/" % index
        for name, data in probe:
            container.upload_blob(prefix + name.split("/", 2)[2], data, overwrite=True)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(upload, range(count)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installations", type=int, default=10000)
    parser.add_argument("--azure-installations", type=int, default=None,
                        help="Azurite stores every blob as files: a smaller count keeps the run short")
    parser.add_argument("--claims", type=int, default=10)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--backends", default="local,kubernetes,azure_blob")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        count = args.installations
        if backend == "local":
            options = {"backend": "local", "path": tempfile.mkdtemp(prefix="cnab-bench-store-")}
            grow = grow_local
        elif backend == "kubernetes":
            from tests.integration.stores_kubernetes import emulator, kubernetes_options

            server, _kubeconfig = emulator()
            options = kubernetes_options("bench" + uuid.uuid4().hex[:8])

            def grow(options, count, cluster=server.cluster):
                grow_kubernetes(cluster, options["namespace"], count)
        else:
            from tests.integration.stores_azure import azure_options, ensure_azurite

            ensure_azurite()
            count = args.azure_installations or count
            options = azure_options("bench" + uuid.uuid4().hex[:8])
            grow = grow_azure
        store = open_store(options)
        write_probe(store, args.claims)
        alone = measure(store, args.runs)
        started = time.perf_counter()
        grow(options, count - 1)
        grown_in = time.perf_counter() - started
        crowded = measure(open_store(options), args.runs)
        print("%-10s 1 installation %.1f ms; %d installations %.1f ms; ratio %.2f (target <= 1.5; grown in %.0f s)"
              % (backend, alone * 1000, count, crowded * 1000, crowded / alone, grown_in))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
