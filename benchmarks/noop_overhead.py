"""Cost of doing nothing, against baselines measured in the same run, for one ansible-core venv.

(a) a playbook of --tasks no-op cnab_install tasks (an installed, unchanged installation) divided by a
    playbook of as many ansible.builtin.ping tasks;                                   target <= 1.10
(b) the ad-hoc no-op `ansible localhost -m cnab.runtime.cnab_install` divided by
    `ansible localhost -m ping`;                                                      target <= 1.10
(c) cnab_bundle: an unchanged re-push of a bundle to the registry, net of `ansible -m ping`, divided
    by its first push net of ping; each round pushes a new bundle whose image (examples/hello plus a
    4 MiB layer of random bytes, built before the timed part) no registry holds yet;  target <= 0.05

Every round runs each command once, baseline and subject alternating, so that load from other
processes weighs on all alike; the figures are medians over --runs rounds. The ansible-core under
test is the venv given by --venv (its bin/ansible*, and its Python runs the modules), so that
`make bench` can run it per ansible-core version.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELLO = os.path.join(REPO, "examples", "hello")
IMAGE = "cnab-examples/hello:0.1.0"


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, env, expect):
    """Wall-clock seconds of ``command``, and the CPU seconds of it and every process it waited for
    (the controller, its forked workers, the modules): CPU time is much less disturbed by other load."""
    start, start_cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - start_cpu
    if done.returncode != 0 or expect not in done.stdout:
        sys.exit("benchmark command failed or did not print %r: %s\n%s%s"
                 % (expect, " ".join(command), done.stdout[-3000:], done.stderr[-3000:]))
    return elapsed, cpu


def playbook(path, name, task):
    with open(path, "w") as out:
        json.dump([{"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
                    "tasks": [dict(task, name="%s %d" % (name, n)) for n in range(ARGS.tasks)]}], out)
    return path


def main():
    work = tempfile.mkdtemp(prefix="cnab-bench-noop-")
    try:
        run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def copy_collection(work):
    """A copy of the collection as it is now, under ``work``: edits made while a benchmark runs do not
    leak into it. Returns the ANSIBLE_COLLECTIONS_PATH to use."""
    collections = os.path.join(work, "collections")
    tree = os.path.join(collections, "ansible_collections", "cnab", "runtime")
    os.makedirs(tree)
    for part in ("galaxy.yml", "meta", "plugins"):
        copy = shutil.copytree if os.path.isdir(os.path.join(REPO, part)) else shutil.copy
        copy(os.path.join(REPO, part), os.path.join(tree, part),
             **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    return collections


def bench_env(work, venv_bin):
    """The environment of every timed command: the venv's Ansible and Python, the copied collection,
    a claim store of the run's own."""
    env = dict(os.environ, CNAB_HOME=os.path.join(work, "home"), ANSIBLE_COLLECTIONS_PATH=copy_collection(work),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=os.path.join(venv_bin, "python"), ANSIBLE_NOCOLOR="1",
               PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PYTHONPATH", None)
    return env


def run(work):
    venv_bin = os.path.join(os.path.abspath(ARGS.venv), "bin")
    env = bench_env(work, venv_bin)
    ansible, ansible_playbook = os.path.join(venv_bin, "ansible"), os.path.join(venv_bin, "ansible-playbook")
    version = subprocess.run([os.path.join(venv_bin, "python"), "-c", "import ansible.release as r; print(r.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), HELLO, IMAGE], check=True, capture_output=True)

    install_args = {"installation": "bench", "bundle": HELLO}
    install = [ansible, "localhost", "-m", "cnab.runtime.cnab_install", "-a", json.dumps(install_args)]
    timed(install, env, "CHANGED")  # the installation the no-ops find unchanged
    ping = [ansible, "localhost", "-m", "ping"]
    ping_book = [ansible_playbook, playbook(os.path.join(work, "ping.yml"), "ping", {"ansible.builtin.ping": {}})]
    noop_book = [ansible_playbook, playbook(os.path.join(work, "noop.yml"), "noop",
                                            {"cnab.runtime.cnab_install": install_args})]
    run_id = uuid.uuid4().hex[:8]
    prefix = "%s/cnab-bench-%s" % (ARGS.registry, run_id)
    images = []

    def fresh_bundle(index):
        """A bundle whose invocation image has a layer no registry holds yet (hello plus 4 MiB of
        random bytes), so that the first push really uploads; built outside the timed part."""
        context = os.path.join(work, "image-%d" % index)
        os.makedirs(context)
        with open(os.path.join(context, "noise"), "wb") as out:
            out.write(os.urandom(4 * 1024 * 1024))
        with open(os.path.join(context, "Dockerfile"), "w") as out:
            out.write("FROM %s\nCOPY noise /noise\n" % IMAGE)
        tag = "cnab-bench/push-%s:%d" % (run_id, index)
        subprocess.run(["docker", "build", "-q", "-t", tag, context], check=True, capture_output=True)
        images.append(tag)
        with open(os.path.join(HELLO, "bundle.json")) as source:
            document = json.load(source)
        document["invocationImages"][0]["image"] = tag
        with open(os.path.join(context, "bundle.json"), "w") as out:
            json.dump(document, out)
        return os.path.join(context, "bundle.json")

    def push(src, repository):
        return [ansible, "localhost", "-m", "cnab.runtime.cnab_bundle", "-a",
                json.dumps({"src": src, "dest": "%s/%s:0.1.0" % (prefix, repository)})]

    commands = {
        "ping": (ping, "SUCCESS"),
        "noop": (install, '"changed": false'),
        "ping_playbook": (ping_book, "ok=%d " % ARGS.tasks),
        "noop_playbook": (noop_book, "ok=%d " % ARGS.tasks),
    }
    for _name, (command, expect) in commands.items():  # warm-up: bytecode caches, the engine's image cache
        timed(command, env, expect)
    samples = {name: [] for name in list(commands) + ["first_push", "repush"]}
    try:
        for index in range(ARGS.runs):
            bundle = fresh_bundle(index)
            for name, (command, expect) in commands.items():
                samples[name].append(timed(command, env, expect))
            samples["first_push"].append(timed(push(bundle, "hello-%d" % index), env, "CHANGED"))
            samples["repush"].append(timed(push(bundle, "hello-%d" % index), env, '"changed": false'))
    finally:
        if images:
            subprocess.run(["docker", "rmi", *images], check=False, capture_output=True)
    report = {"ansible_core": version, "runs": ARGS.runs, "tasks": ARGS.tasks, "load": os.getloadavg()}
    print("ansible-core %s, %d tasks per playbook, medians of %d rounds, load average %s"
          % (version, ARGS.tasks, ARGS.runs, " ".join("%.1f" % n for n in os.getloadavg())))
    for kind, column in (("wall", 0), ("cpu", 1)):
        median = {name: statistics.median(pair[column] for pair in pairs) for name, pairs in samples.items()}
        ratios = {
            "playbook": median["noop_playbook"] / median["ping_playbook"],
            "adhoc": median["noop"] / median["ping"],
            "repush": (median["repush"] - median["ping"]) / (median["first_push"] - median["ping"]),
        }
        report[kind] = {"medians": median, "ratios": ratios}
        print("%s time (s): %s" % (kind, ", ".join("%s %.3f" % kv for kv in median.items())))
        print("  (a) %d no-op cnab_install / %d ping, playbook:    %.3f  (target <= 1.10)"
              % (ARGS.tasks, ARGS.tasks, ratios["playbook"]))
        print("  (b) no-op cnab_install / ping, ad hoc:            %.3f  (target <= 1.10)" % ratios["adhoc"])
        print("  (c) cnab_bundle re-push / first push, net of ping: %.3f  (target <= 0.05)" % ratios["repush"])
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=os.path.dirname(os.path.dirname(sys.executable)),
                        help="virtualenv holding the ansible-core under test (default: this Python's)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--registry", default=os.environ.get("CNAB_BENCH_REGISTRY", "127.0.0.1:5100"))
    ARGS = parser.parse_args()
    main()
