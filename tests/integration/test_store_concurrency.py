"""Concurrency on every claim-store backend: many runs, one action."""

import collections
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from stores import BACKENDS, options_for
from support import HELLO

PROCESSES = 10
REPETITIONS = 10  # 100 concurrent runs per backend, each round exactly one of ten installs (was 20: CI time, issue 15)

RUN = textwrap.dedent("""
    import json, sys
    from ansible_collections.cnab.runtime.plugins.module_utils import runtime
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import LockTimeout
    options, name, bundle = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    try:
        response = runtime.execute(runtime.Request("install", installation=name, bundle=bundle,
                                                   claim_store=options, lock_timeout=120))
        print(json.dumps({"changed": response.changed, "status": (response.result or {}).get("status")}))
    except LockTimeout as exc:
        print(json.dumps({"lock": str(exc)}))
""")


def _watch_starts():
    """Follow container starts live: the engine keeps only its last 256 events, fewer than
    twenty rounds of ten prepared-and-discarded containers produce."""
    return subprocess.Popen(
        ["docker", "events", "--filter", "event=start", "--filter", "label=io.cnab.runtime.installation",
         "--format", '{{index .Actor.Attributes "io.cnab.runtime.installation"}}'],
        stdout=subprocess.PIPE, text=True)


def _stop_watching(watcher):
    time.sleep(1)  # let the last events arrive
    watcher.terminate()
    out, _unused = watcher.communicate(timeout=30)
    return collections.Counter(out.split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_processes_one_action_ten_times(ansible, tmp_path, backend):
    options = options_for(backend, tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    watcher = _watch_starts()
    time.sleep(0.5)
    prefix = "conc-%s-%s-" % (backend.replace("_", "-"), uuid.uuid4().hex[:6])  # unique across test sessions
    for repetition in range(REPETITIONS):
        name = prefix + str(repetition)
        runs = [subprocess.Popen([sys.executable, "-c", RUN, json.dumps(options), name, HELLO],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for _index in range(PROCESSES)]
        outcomes = []
        for run in runs:
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        assert sum(1 for o in outcomes if o.get("changed")) == 1, outcomes
        assert all(o.get("changed") is False or o.get("status") == "succeeded" or "lock" in o for o in outcomes)
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store

    store = open_store(options)
    for repetition in range(REPETITIONS):
        installation = store.installation(prefix + str(repetition))
        assert [c["action"] for c in installation.claims] == ["install"]
        assert [r["status"] for r in installation.results[installation.claims[0]["id"]]] == ["running", "succeeded"]
    starts = _stop_watching(watcher)
    assert {prefix + str(r): 1 for r in range(REPETITIONS)} == {k: v for k, v in starts.items() if k.startswith(prefix)}
