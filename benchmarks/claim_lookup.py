"""Claim lookup at scale: one installation's cnab_claim_info in a store holding many.

For each backend: the time of ``lookup.describe_installation`` for one installation
(10 claims, 20 results, 10 outputs) in a store holding only it, and in a store holding it
and --installations - 1 other installations of the same shape; the ratio of the two
(target <= 1.5). The two stores run side by side and the lookups alternate between them,
so that load from other processes on the machine weighs on both alike; medians of --runs
lookups each, in process: the module's own fixed cost (about 0.7 s of Ansible) would only
dilute the ratio. The probe installation is written through the store's API; the others
are copies of it made behind the store's back, in the service's own storage (files,
emulator objects, Azurite's metadata database), because writing 400,000 records through
the API would take far longer than the measurement. The lookups go through the real API.

Backends:
- local: temporary directories.
- kubernetes: two API emulators of tests/k8s_emulator, each in a process of its own (as an
  API server is); the crowded one's objects are cloned with their own names, ids and index.
- azure_blob: two private Azurite instances (ports --azurite-port and the next one). With
  --azurite-db (a MySQL/MariaDB URL, e.g. mysql://azurite:azurite@127.0.0.1:3306/) Azurite
  keeps its metadata in SQL tables indexed by blob name, and the crowded store is seeded with
  one INSERT ... SELECT; without it Azurite uses its default in-memory LokiJS database, which
  scans every blob of the account on each request (see docs/benchmarks.md), seeded through
  the blob API, and --azure-installations keeps that run short.
"""

import argparse
import base64
import gc
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(REPO)
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
AZURITE = os.path.join(REPO, "build", "azurite", "node_modules", ".bin", "azurite-blob")
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def write_probe(store, claims):
    for index in range(claims):
        claim = model.new_claim(PROBE, "install" if index == 0 else "upgrade", HELLO, {"greeting": "hi %d" % index},
                                model.new_ulid(), {"modifies": True, "sensitiveParameters": []})
        store.write_claim(PROBE, claim, {})
        store.write_result(PROBE, model.new_result(claim, model.STATUS_RUNNING), {}, ())
        result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {"generatedByBundle": "true"}})
        store.write_result(PROBE, result, {"message": b"hello %d" % index}, set())


def lookup_time(store):
    started = time.perf_counter()
    info = lookup.describe_installation(store, PROBE)
    elapsed = time.perf_counter() - started
    assert info["status"] == "installed" and len(info["outputs"]) == 1
    return elapsed


def measure(alone, crowded, runs):
    """Medians of ``runs`` lookups in each store, alternating (after one warm-up each)."""
    lookup_time(alone)
    lookup_time(crowded)
    times = ([], [])
    for _index in range(runs):
        times[0].append(lookup_time(alone))
        times[1].append(lookup_time(crowded))
    return statistics.median(times[0]), statistics.median(times[1])


def report(backend, count, alone, crowded, grown_in, extra=""):
    print("%-10s 1 installation %.1f ms; %d installations %.1f ms; ratio %.2f (target <= 1.5; seeded in %.0f s)%s"
          % (backend, alone * 1000, count, crowded * 1000, crowded / alone, grown_in, extra), flush=True)


# -- local -----------------------------------------------------------------------------------

def bench_local(args):
    paths = [tempfile.mkdtemp(prefix="cnab-bench-store-") for _index in range(2)]
    try:
        stores = [open_store({"backend": "local", "path": path}) for path in paths]
        for store in stores:
            write_probe(store, args.claims)
        started = time.perf_counter()
        base = os.path.join(paths[1], "installations")
        for index in range(args.installations - 1):
            shutil.copytree(os.path.join(base, PROBE), os.path.join(base, "other-%05d" % index))
        grown_in = time.perf_counter() - started
        report("local", args.installations, *measure(stores[0], stores[1], args.runs), grown_in)
    finally:
        for path in paths:
            shutil.rmtree(path, True)


# -- kubernetes --------------------------------------------------------------------------------

def _swapped(text, swaps):
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def grow_kubernetes(cluster, namespace, count):
    """Clone the probe's Secrets into ``count`` installations as the store would have written them
    (their own names, ids, labels, annotations and index), straight into the emulator's object map."""
    with cluster._lock:
        probe = [(key, obj) for key, obj in cluster._objects.items() if key[1] == namespace
                 and (obj["metadata"].get("annotations") or {}).get("cnab.io/installation") == PROBE]
        ids = sorted({v for _key, obj in probe for k, v in obj["metadata"]["annotations"].items()
                      if k in ("cnab.io/claim", "cnab.io/result")})
        for index in range(count):
            name = "other-%05d" % index
            swaps = [('"installation":"%s"' % PROBE, '"installation":"%s"' % name),
                     ("cnab-index-" + PROBE, "cnab-index-" + name)]
            for record_id in ids:
                clone_id = record_id[:-6] + "%06d" % index  # still a ULID, unique per clone
                swaps += [(record_id, clone_id), (record_id.lower(), clone_id.lower())]
            for (plural, ns, object_name), obj in probe:
                meta = obj["metadata"]
                data = {k: base64.b64encode(_swapped(base64.b64decode(v).decode("utf-8"), swaps).encode("utf-8"))
                        .decode("ascii") for k, v in (obj.get("data") or {}).items()}
                clone = dict(obj, data=data)
                clone["metadata"] = dict(meta, name=_swapped(object_name, swaps), uid=str(uuid.uuid4()),
                                         resourceVersion=cluster._next_version(),
                                         labels=dict(meta["labels"], **{"cnab.io/installation": name}),
                                         annotations={k: name if k == "cnab.io/installation" else _swapped(v, swaps)
                                                      for k, v in meta["annotations"].items()})
                cluster._objects[(plural, ns, clone["metadata"]["name"])] = clone


def serve_emulator():
    """``--serve-emulator``: one API emulator in this process. Commands on stdin: ``namespace NS``,
    ``grow NS COUNT``, ``requests``; each answers with the number of requests served so far."""
    from tests.k8s_emulator import Emulator

    server = Emulator(port=0)
    print(server.start(), flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "namespace":
            server.cluster.create_namespace(command[1])
        elif command[0] == "grow":
            grow_kubernetes(server.cluster, command[1], int(command[2]))
            gc.collect()
            gc.freeze()  # the seeded objects live as long as the process: the collector need not walk them
        print(len(server.requests), flush=True)


class EmulatorProcess:
    def __init__(self):
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-emulator"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def bench_kubernetes(args):
    emulators = [EmulatorProcess(), EmulatorProcess()]
    try:
        stores = []
        for emulator in emulators:
            emulator.ask("namespace bench")
            stores.append(open_store({"backend": "kubernetes", "host": emulator.url, "namespace": "bench"}))
            write_probe(stores[-1], args.claims)
        started = time.perf_counter()
        emulators[1].ask("grow bench %d" % (args.installations - 1))
        grown_in = time.perf_counter() - started
        other = stores[1].installation("other-%05d" % (args.installations // 2))  # clones are whole installations
        assert len(other.claims) == args.claims and other.status == "installed"
        assert len(stores[1].installation_names()) == args.installations
        served = [emulator.ask("requests") for emulator in emulators]
        alone, crowded = measure(stores[0], stores[1], args.runs)
        per_lookup = ["%.0f" % ((emulator.ask("requests") - before) / (args.runs + 1.0))
                      for emulator, before in zip(emulators, served)]
        report("kubernetes", args.installations, alone, crowded, grown_in,
               "; API requests per lookup: %s and %s" % tuple(per_lookup))
    finally:
        for emulator in emulators:
            emulator.close()


# -- azure_blob -------------------------------------------------------------------------------

def _wait_for_port(port, process):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("Azurite on port %d exited with code %s" % (port, process.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("Azurite did not answer on port %d" % port)


class Azurite:
    """A private Azurite: in-memory LokiJS metadata, or SQL metadata in database ``database``."""

    def __init__(self, port, db_url=None, database=None):
        if not os.path.exists(AZURITE):
            raise SystemExit("Azurite is not installed in build/azurite: run `make azurite` first")
        self.port, self.db_url, self.database = port, db_url, database
        self.directory = tempfile.mkdtemp(prefix="cnab-bench-azurite-")
        command = [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--skipApiVersionCheck", "--silent"]
        env = dict(os.environ)
        if db_url:
            self.sql("CREATE DATABASE %s" % database, database=None)
            env["AZURITE_DB"] = db_url.rstrip("/") + "/" + database
            command += ["--location", self.directory]
        else:
            command += ["--inMemoryPersistence"]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(port, self.process)
        self.connection_string = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;"
                                  "BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1;" % (AZURITE_KEY, port))

    def sql(self, statement, database=""):
        url = urlsplit(self.db_url)
        command = ["mariadb", "-h", url.hostname, "-P", str(url.port or 3306), "-u", url.username, "-N", "-B",
                   "-e", statement]
        if url.password:
            command.insert(1, "-p" + url.password)
        if database is not None:
            command.append(database or self.database)
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def close(self):
        self.process.terminate()
        self.process.wait()
        if self.db_url:
            self.sql("DROP DATABASE IF EXISTS %s" % self.database, database=None)
        shutil.rmtree(self.directory, True)


def grow_azure_sql(azurite, container, count):
    """One INSERT ... SELECT: the probe's blob rows again under installations/other-NNNNN/, sharing
    the probe's stored bytes (Azurite's extents)."""
    columns = [c for c in azurite.sql("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                      "DATABASE() AND table_name = 'Blobs' ORDER BY ordinal_position").split()
               if c != "blobId"]
    prefix = "installations/%s/" % PROBE
    values = ["CONCAT('installations/other-', LPAD(seq, 5, '0'), '/', SUBSTRING(blobName, %d))" % (len(prefix) + 1)
              if c == "blobName" else c for c in columns]
    azurite.sql("INSERT INTO Blobs (%s) SELECT %s FROM Blobs JOIN seq_0_to_%d WHERE containerName = '%s' AND "
                "blobName LIKE '%s%%'" % (", ".join(columns), ", ".join(values), count - 1, container, prefix))


def grow_azure_api(connection_string, container_name, count):
    """The probe's blobs uploaded again under installations/other-NNNNN/ through the blob API."""
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(container_name)
    probe = [(b.name, container.download_blob(b.name).readall())
             for b in container.list_blobs(name_starts_with="installations/%s/" % PROBE)]

    def upload(index):
        prefix = "installations/other-%05d/" % index
        for name, data in probe:
            container.upload_blob(prefix + name.split("/", 2)[2], data, overwrite=True)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(upload, range(count)))


def bench_azure(args):
    count = args.azure_installations or args.installations
    suffix = uuid.uuid4().hex[:8]
    azurites = []
    try:
        for index in range(2):
            azurites.append(Azurite(args.azurite_port + index, args.azurite_db, "cnab_bench_%s_%d" % (suffix, index)))
        stores = []
        for azurite in azurites:
            stores.append(open_store({"backend": "azure_blob", "connection_string": azurite.connection_string,
                                      "container": "bench"}))
            write_probe(stores[-1], args.claims)
        started = time.perf_counter()
        if args.azurite_db:
            grow_azure_sql(azurites[1], "bench", count - 1)
        else:
            grow_azure_api(azurites[1].connection_string, "bench", count - 1)
        grown_in = time.perf_counter() - started
        other = stores[1].installation("other-%05d" % (count // 2))  # clones are readable installations
        assert len(other.claims) == args.claims and other.status == "installed"
        requests = _count_requests()
        alone, crowded = measure(stores[0], stores[1], args.runs)
        requests = dict(requests)  # a snapshot: the GETs below are not lookups
        per_lookup = sum(requests.values()) / (2 * (args.runs + 1.0))
        # What one request costs Azurite in either store: a GET of a blob of the same size as the index.
        probe = [s._container.get_blob_client("installations/%s/index.json" % PROBE) for s in stores]
        single = measure_get(probe, args.runs)
        report("azure_blob", count, alone, crowded, grown_in,
               "; metadata %s; requests per lookup %.0f (%s); one blob GET %.1f ms and %.1f ms (ratio %.2f)"
               % ("SQL (MariaDB)" if args.azurite_db else "LokiJS in memory", per_lookup,
                  ", ".join("%s %d" % item for item in sorted(requests.items())), single[0] * 1000,
                  single[1] * 1000, single[1] / single[0]))
    finally:
        for azurite in azurites:
            azurite.close()


def _count_requests():
    """Count the HTTP requests the Azure SDK sends from now on, by method (its transport is requests')."""
    import collections

    import requests

    counts = collections.Counter()
    send = requests.Session.send

    def counting(session, request, **kwargs):
        counts[request.method] += 1
        return send(session, request, **kwargs)

    requests.Session.send = counting
    return counts


def measure_get(blobs, runs):
    times = ([], [])
    for _index in range(runs):
        for slot, blob in enumerate(blobs):
            started = time.perf_counter()
            blob.download_blob().readall()
            times[slot].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installations", type=int, default=10000)
    parser.add_argument("--azure-installations", type=int, default=None,
                        help="installations of the azure_blob run (default: --installations)")
    parser.add_argument("--azurite-port", type=int, default=10010, help="the two private Azurites use this and the next")
    parser.add_argument("--azurite-db", help="mysql://user:password@host:port/ of a MySQL or MariaDB server for "
                                             "Azurite's SQL metadata store (databases cnab_bench_* are created)")
    parser.add_argument("--claims", type=int, default=10)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--backends", default="local,kubernetes,azure_blob")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        return serve_emulator()
    for backend in args.backends.split(","):
        {"local": bench_local, "kubernetes": bench_kubernetes, "azure_blob": bench_azure}[backend](args)
    return None


if __name__ == "__main__":
    main()
