"""Overhead of cnab_install against baselines measured in the same run.

(a) fresh install of the hello bundle, ad hoc, divided by
    [ansible localhost -m ping] + [docker run --rm of the same invocation image];
(b) the same command on an unchanged installation, divided by [ansible localhost -m ping].

Each figure is the median of --runs runs; the commands are interleaved so that drift
of the machine affects all of them alike. Targets: (a) <= 1.15, (b) <= 1.10.
Run through `make bench` (it builds the collection, the image and starts Docker).
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


def timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit("benchmark command failed: %s\n%s%s" % (" ".join(command), done.stdout, done.stderr))
    return elapsed, done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="cnab-bench-")
    env = dict(os.environ, CNAB_HOME=home, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), HELLO, IMAGE], check=True, capture_output=True)

    def install(name):
        return [ansible, "localhost", "-m", "cnab.runtime.cnab_install", "-a",
                json.dumps({"installation": name, "bundle": HELLO})]

    ping = [ansible, "localhost", "-m", "ping"]
    docker_run = ["docker", "run", "--rm", "--entrypoint", "/cnab/app/run", "-e", "CNAB_ACTION=install",
                  "-e", "CNAB_INSTALLATION_NAME=bench", IMAGE]
    timed(install("bench-warmup"), env)  # first use pays for Python's bytecode caches
    # For the breakdown: the cost of any cnab.runtime module that only reads the store.
    info = [ansible, "localhost", "-m", "cnab.runtime.cnab_claim_info", "-a", json.dumps({"installation": "bench-warmup"})]
    samples = {"ping": [], "docker_run": [], "fresh": [], "noop": [], "claim_info": []}
    for index in range(args.runs):
        samples["ping"].append(timed(ping, env)[0])
        samples["docker_run"].append(timed(docker_run, env)[0])
        elapsed, out = timed(install("bench-%d" % index), env)
        assert "CHANGED" in out, out
        samples["fresh"].append(elapsed)
        elapsed, out = timed(install("bench-%d" % index), env)
        assert "SUCCESS" in out and '"changed": false' in out, out
        samples["noop"].append(elapsed)
        samples["claim_info"].append(timed(info, env)[0])
    median = {k: statistics.median(v) for k, v in samples.items()}
    fresh_ratio = median["fresh"] / (median["ping"] + median["docker_run"])
    noop_ratio = median["noop"] / median["ping"]
    print("medians of %d runs (s): %s" % (args.runs, ", ".join("%s %.3f" % kv for kv in median.items())))
    print("(a) fresh install / (ping + docker run): %.3f  (target <= 1.15)" % fresh_ratio)
    print("(b) no-op install / ping:                %.3f  (target <= 1.10)" % noop_ratio)
    print("breakdown: claim_info / ping %.3f; fresh - (ping + docker run) = %+.0f ms"
          % (median["claim_info"] / median["ping"], 1000 * (median["fresh"] - median["ping"] - median["docker_run"])))


if __name__ == "__main__":
    main()
