"""The no-op benchmark's (a) and (b) for two trees of the collection side by side: an earlier commit and
the working tree, against ansible.builtin.ping, for one ansible-core venv.

Every round runs ping, the earlier tree's no-op and this tree's no-op once each, alternating, so that a
change is measured against its own baseline under the same load (noop_overhead.py measures one tree, and
separate runs of it differ by more than a change of a few ms per task). Per round: a playbook of --tasks
no-op `cnab_install` tasks (an installed, unchanged installation of examples/hello) and the ad-hoc
no-op, each against the same number of pings. Medians over --runs rounds, wall and CPU time.

    python benchmarks/noop_ab.py --venv ~/.cache/cnab.runtime/matrix/2.16 --before 3dea18d
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noop_overhead import HELLO, IMAGE, REPO, bench_env, timed  # noqa: E402


def tree_at(revision, work):
    """The collection's files (galaxy.yml, meta, plugins) at ``revision``; its ANSIBLE_COLLECTIONS_PATH."""
    collections = os.path.join(work, "before")
    tree = os.path.join(collections, "ansible_collections", "cnab", "runtime")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", REPO, "archive", revision, "galaxy.yml", "meta", "plugins"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return collections


def write_playbook(path, name, task, tasks):
    with open(path, "w") as out:
        json.dump([{"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
                    "tasks": [dict(task, name="%s %d" % (name, n)) for n in range(tasks)]}], out)
    return path


def main(args):
    work = tempfile.mkdtemp(prefix="cnab-bench-ab-")
    try:
        venv_bin = os.path.join(os.path.abspath(args.venv), "bin")
        after = bench_env(work, venv_bin)  # copies this tree
        before = dict(after, ANSIBLE_COLLECTIONS_PATH=tree_at(args.before, work))
        ansible, ansible_playbook = os.path.join(venv_bin, "ansible"), os.path.join(venv_bin, "ansible-playbook")
        subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), HELLO, IMAGE], check=True, capture_output=True)
        install_args = {"installation": "bench", "bundle": HELLO}
        adhoc = [ansible, "localhost", "-m", "cnab.runtime.cnab_install", "-a", json.dumps(install_args)]
        timed(adhoc, after, "CHANGED")  # the installation both trees find unchanged
        noop_book = write_playbook(os.path.join(work, "noop.yml"), "noop",
                                   {"cnab.runtime.cnab_install": install_args}, args.tasks)
        ping_book = write_playbook(os.path.join(work, "ping.yml"), "ping", {"ansible.builtin.ping": {}}, args.tasks)
        played = "ok=%-4s changed=0    unreachable=0    failed=0" % args.tasks  # the recap: every task unchanged
        cases = {
            "ping playbook": ([ansible_playbook, ping_book], after, played),
            "before playbook": ([ansible_playbook, noop_book], before, played),
            "after playbook": ([ansible_playbook, noop_book], after, played),
            "ping ad hoc": ([ansible, "localhost", "-m", "ping"], after, "SUCCESS"),
            "before ad hoc": (adhoc, before, '"changed": false'),
            "after ad hoc": (adhoc, after, '"changed": false'),
        }
        for command, env, expect in cases.values():  # warm-up
            timed(command, env, expect)
        samples = {name: [] for name in cases}
        for _round in range(args.runs):
            for name, (command, env, expect) in cases.items():
                samples[name].append(timed(command, env, expect))
        version = subprocess.run([os.path.join(venv_bin, "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print("ansible-core %s, before = %s, %d tasks per playbook, medians of %d rounds, load average %s"
              % (version, args.before, args.tasks, args.runs, " ".join("%.1f" % n for n in os.getloadavg())))
        report = {"ansible_core": version, "before": args.before, "runs": args.runs, "tasks": args.tasks}
        for kind, column in (("wall", 0), ("cpu", 1)):
            median = {name: statistics.median(pair[column] for pair in pairs) for name, pairs in samples.items()}
            report[kind] = median
            for form in ("playbook", "ad hoc"):
                ping = median["ping " + form]
                print("%-4s %-8s ping %.3f s, before %.3f s (%.3f), after %.3f s (%.3f)"
                      % (kind, form, ping, median["before " + form], median["before " + form] / ping,
                         median["after " + form], median["after " + form] / ping))
        print(json.dumps(report))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=os.path.dirname(os.path.dirname(sys.executable)),
                        help="virtualenv holding the ansible-core under test (default: this Python's)")
    parser.add_argument("--before", required=True, help="the git revision to compare the working tree with")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=20)
    main(parser.parse_args())
