"""The CPU of ``cnab_install`` module processes given a thick archive, and how often each read it.

Cases (each run ``--runs`` times, medians printed):
  bomb      a 1 GiB member of zeros in a 1 MB gzip (tests/unit/archive_bombs.py): refused, "no bundle.json"
  install   ``--archive`` installed with the docker driver into a fresh local store (its image must load)
  refused   ``--archive`` with a parameter that does not exist: fails before the inputs are resolved,
            so the module masks the given parameters by what the bundle says of them

The module file runs as a child process (``python <module>.py <args.json>``, as the bomb tests run it) from
``--collection`` (a directory holding ``ansible_collections/cnab/runtime``; default: this checkout), so an
older tree (``git archive <rev> | tar -x -C <dir>/ansible_collections/cnab/runtime``) can be compared.
The child's CPU is its user + system time (RUSAGE_CHILDREN before and after); reads are the archive's
openings the child reports.

    python benchmarks/archive_reads.py --archive /tmp/database.tgz [--collection DIR] [--runs 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in the child: count ThickArchive's openings, then run the module as Ansible would.
_CHILD = r"""
import atexit, runpy, sys
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive
opened = []
original = archive.ThickArchive._open
def _open(self):
    opened.append(self.path)
    return original(self)
archive.ThickArchive._open = _open
atexit.register(lambda: sys.stderr.write("\nARCHIVE_READS=%d\n" % len(opened)))
sys.argv = [sys.argv[1], sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def collection_of(directory):
    if os.path.isdir(os.path.join(directory, "ansible_collections", "cnab", "runtime")):
        return directory
    base = tempfile.mkdtemp(prefix="bench-archive-reads-")
    os.makedirs(os.path.join(base, "ansible_collections", "cnab"))
    os.symlink(directory, os.path.join(base, "ansible_collections", "cnab", "runtime"))
    return base


def run_module(base, args, workdir):
    """``(archive reads, failed, msg)`` of one cnab_install child process."""
    module = os.path.join(base, "ansible_collections", "cnab", "runtime", "plugins", "modules", "cnab_install.py")
    args_path = os.path.join(workdir, "args.json")
    with open(args_path, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=base + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, module, args_path], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    reads = [line for line in err.splitlines() if line.startswith("ARCHIVE_READS=")]
    result = next((json.loads(line) for line in out.splitlines() if line.startswith("{")), {})
    return int(reads[-1].split("=")[1]) if reads else None, bool(result.get("failed")), result.get("msg")


def measured(base, args, workdir):
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    reads, failed, message = run_module(base, args, workdir)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, reads, failed, message


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", required=True, help="a thick archive whose bundle installs with the docker driver")
    parser.add_argument("--collection", default=REPO)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    base = collection_of(os.path.abspath(options.collection))
    sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
    from archive_bombs import write_bomb

    workdir = tempfile.mkdtemp(prefix="bench-archive-reads-")
    try:
        bomb = os.path.join(workdir, "zeros.tgz")
        write_bomb(bomb, "zeros", 1 << 30)
        cases = {
            "bomb": lambda store: {"installation": "bomb", "bundle": bomb, "claim_store": store},
            "install": lambda store: {"installation": "bench", "bundle": options.archive, "claim_store": store},
            "refused": lambda store: {"installation": "bench", "bundle": options.archive, "claim_store": store,
                                      "parameters": {"no_such_parameter": "x"}},
        }
        for name, args in cases.items():
            cpus, notes = [], set()
            for run in range(options.runs):
                store = {"backend": "local", "path": os.path.join(workdir, "store-%s-%d" % (name, run))}
                cpu, reads, failed, message = measured(base, args(store), workdir)
                cpus.append(cpu)
                notes.add("reads=%s failed=%s%s" % (reads, failed, (": " + message[:90]) if failed else ""))
            spread = (statistics.median(cpus), min(cpus), max(cpus))
            print("%-8s cpu median %.2f s (min %.2f, max %.2f)  %s" % ((name,) + spread + ("; ".join(sorted(notes)),)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
