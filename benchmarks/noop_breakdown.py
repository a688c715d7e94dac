"""Where a no-op cnab_install's time goes, against ansible.builtin.ping, for one ansible-core venv.

Keeps the AnsiballZ files of one ad-hoc no-op and one ping (ANSIBLE_KEEP_REMOTE_FILES=1) and reports:
- the payload: wrapper size, and the files of the zip it carries (the collection's and ansible-core's);
- the target: the kept wrappers run again directly, alternating, --runs times (wall and CPU medians:
  the module process alone, no controller);
- the target's imports (``python -X importtime`` of the kept wrapper): which collection modules the
  no-op imports, and the CPU time the venv's Python takes to compile them (what the target pays on
  every run: nothing caches bytecode for a zipped payload) against the payload's whole collection share;
- the controller: ad-hoc wall and CPU medians of both, so that (ad hoc - module process) is what the
  controller adds, the payload build included.

    python benchmarks/noop_breakdown.py --venv ~/.cache/cnab.runtime/matrix/2.16
"""

import argparse
import base64
import glob
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noop_overhead import HELLO, IMAGE, REPO, bench_env, timed  # noqa: E402

COLLECTION = "ansible_collections/cnab/runtime/"
ZIPDATA = re.compile(r"""['"](UEsDB[A-Za-z0-9+/=]+)['"]""")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def kept_wrapper(command, env, remote_tmp, expect):
    """Run ``command`` with its remote files kept in ``remote_tmp``; the path of its AnsiballZ file."""
    shutil.rmtree(remote_tmp, ignore_errors=True)
    timed(command, dict(env, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=remote_tmp), expect)
    found = glob.glob(os.path.join(remote_tmp, "*", "AnsiballZ_*.py"))
    if len(found) != 1:
        sys.exit("expected one AnsiballZ file in %s, found %s" % (remote_tmp, found))
    kept = os.path.join(os.path.dirname(remote_tmp), os.path.basename(found[0]))
    shutil.copy(found[0], kept)
    return kept


def payload(wrapper):
    """``{name: uncompressed size}`` of the zip inside an AnsiballZ wrapper."""
    with open(wrapper) as handle:
        match = ZIPDATA.search(handle.read())
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(match.group(1)))) as archive:
        return {info.filename: info.file_size for info in archive.infolist() if info.filename.endswith(".py")}


def imports(python, wrapper, env):
    """The modules one run of ``wrapper`` imports (``python -X importtime``)."""
    done = subprocess.run([python, "-X", "importtime", wrapper], env=env, capture_output=True, text=True, check=False)
    return {match.group(3) for match in map(IMPORT_LINE.match, done.stderr.splitlines()) if match}


COMPILE_CPU = """
import json, sys, time, zipfile
best = {}
with zipfile.ZipFile(sys.argv[1]) as archive:
    for name in json.loads(sys.argv[2]):
        source = archive.read(name)
        times = []
        for _ in range(5):
            start = time.process_time()
            compile(source, name, "exec", dont_inherit=True)
            times.append(time.process_time() - start)
        best[name] = min(times)
print(json.dumps(best))
"""


def compile_cpu(python, wrapper, names, work):
    """``{file: CPU seconds}`` that ``python`` takes to compile each of ``names`` of the wrapper's zip."""
    with open(wrapper) as handle:
        data = base64.b64decode(ZIPDATA.search(handle.read()).group(1))
    path = os.path.join(work, "payload.zip")
    with open(path, "wb") as out:
        out.write(data)
    done = subprocess.run([python, "-c", COMPILE_CPU, path, json.dumps(sorted(names))],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(args):
    work = tempfile.mkdtemp(prefix="cnab-bench-breakdown-")
    try:
        report = run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report))


def run(work, args):
    venv_bin = os.path.join(os.path.abspath(args.venv), "bin")
    python = os.path.join(venv_bin, "python")
    env = bench_env(work, venv_bin)
    ansible = os.path.join(venv_bin, "ansible")
    subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), HELLO, IMAGE], check=True, capture_output=True)
    install = [ansible, "localhost", "-m", "cnab.runtime.cnab_install", "-a",
               json.dumps({"installation": "breakdown", "bundle": HELLO})]
    ping = [ansible, "localhost", "-m", "ping"]
    timed(install, env, "CHANGED")
    wrappers = {"noop": kept_wrapper(install, env, os.path.join(work, "remote-noop"), '"changed": false'),
                "ping": kept_wrapper(ping, env, os.path.join(work, "remote-ping"), "SUCCESS")}
    expects = {"noop": '"changed": false', "ping": '"ping"'}
    adhoc = {"noop": (install, '"changed": false'), "ping": (ping, "SUCCESS")}
    samples = {key: [] for key in ("noop_module", "ping_module", "noop_adhoc", "ping_adhoc")}
    for _round in range(args.runs):
        for name in ("noop", "ping"):
            samples[name + "_module"].append(timed([python, wrappers[name]], env, expects[name]))
            samples[name + "_adhoc"].append(timed(adhoc[name][0], env, adhoc[name][1]))
    medians = {key: [statistics.median(pair[column] for pair in pairs) for column in (0, 1)]
               for key, pairs in samples.items()}

    files = {name: payload(wrapper) for name, wrapper in wrappers.items()}
    ours = {name: size for name, size in files["noop"].items() if name.startswith(COLLECTION)}
    imported = imports(python, wrappers["noop"], env)
    imported_files = {name for name in ours if name[:-3].replace("/__init__", "").replace("/", ".") in imported}
    compiling = compile_cpu(python, wrappers["noop"], ours, work)
    version = subprocess.run([python, "-c", "import ansible.release as r; print(r.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    report = {
        "ansible_core": version, "runs": args.runs, "load": os.getloadavg(),
        "wrapper_bytes": {name: os.path.getsize(wrapper) for name, wrapper in wrappers.items()},
        "payload_files": {name: len(entries) for name, entries in files.items()},
        "collection_files": len(ours), "collection_source_bytes": sum(ours.values()),
        "collection_files_imported_by_noop": len(imported_files),
        "collection_source_bytes_imported_by_noop": sum(ours[name] for name in imported_files),
        "compile_cpu_ms_imported_by_noop": 1000 * sum(compiling[name] for name in imported_files),
        "compile_cpu_ms_whole_collection": 1000 * sum(compiling.values()),
        "medians_wall_cpu_s": medians,
    }
    print("ansible-core %s, medians of %d alternating runs, load average %s"
          % (version, args.runs, " ".join("%.1f" % n for n in os.getloadavg())))
    print("payload: AnsiballZ %(noop)d bytes (no-op) / %(ping)d bytes (ping)" % report["wrapper_bytes"])
    print("  collection files in the no-op's zip: %d, %d bytes of source; imported by a no-op: %d, %d bytes"
          % (report["collection_files"], report["collection_source_bytes"],
             report["collection_files_imported_by_noop"], report["collection_source_bytes_imported_by_noop"]))
    print("target: compiling the collection files a no-op imports: %.1f ms of CPU (the whole collection share:"
          " %.1f ms); the largest:" % (report["compile_cpu_ms_imported_by_noop"],
                                       report["compile_cpu_ms_whole_collection"]))
    for name in sorted(imported_files, key=lambda name: -compiling[name])[:8]:
        print("  %6.1f ms  %7d bytes  %s" % (compiling[name] * 1000, ours[name], name[len(COLLECTION):]))
    for kind, column in (("wall", 0), ("CPU", 1)):
        noop_module, ping_module = medians["noop_module"][column], medians["ping_module"][column]
        noop_adhoc, ping_adhoc = medians["noop_adhoc"][column], medians["ping_adhoc"][column]
        print("%s: module process no-op %.3f s / ping %.3f s (+%.0f ms); ad hoc %.3f s / %.3f s (+%.0f ms); "
              "controller's share of the difference %+.0f ms"
              % (kind, noop_module, ping_module, (noop_module - ping_module) * 1000, noop_adhoc, ping_adhoc,
                 (noop_adhoc - ping_adhoc) * 1000, ((noop_adhoc - ping_adhoc) - (noop_module - ping_module)) * 1000))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=os.path.dirname(os.path.dirname(sys.executable)),
                        help="virtualenv holding the ansible-core under test (default: this Python's)")
    parser.add_argument("--runs", type=int, default=9)
    main(parser.parse_args())
