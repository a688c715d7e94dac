"""A no-op imports only the deciding half of the runtime: an unchanged installation, run again in a
fresh process, must not import the execution half, the drivers or the bundle validator (what
``runtime.execute`` compiles on every no-op task on the target)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME, PASSWORD, TOKEN

PREFIX = "ansible_collections.cnab.runtime.plugins.module_utils."
# What deciding never needs: running (drivers, outputs, results, the dependency graph's doing half),
# validating (a no-op's inputs equal those a validated run stored), the dependency graph of a bundle
# that declares none, and the registry code.
NOT_ON_A_NO_OP = ("execution", "drivers", "drivers.base", "bundle_validation", "bundle_schema",
                  "extension_schemas", "dependencies", "oci", "signing")

NO_OP = """
import json, sys
from ansible_collections.cnab.runtime.plugins.module_utils import runtime
request = runtime.Request(sys.argv[1], installation=sys.argv[2], bundle=sys.argv[3], parameters=json.loads(sys.argv[4]),
                          credentials=json.loads(sys.argv[5]), claim_store={"backend": "local", "path": sys.argv[6]})
response = runtime.execute(request)
print(json.dumps({"operation": response.operation, "changed": response.changed,
                  "modules": sorted(name for name in sys.modules if name.startswith("ansible_collections."))}))
"""


def _collections_root():
    """The directory holding ``ansible_collections`` as this test process resolves it."""
    location = importlib.util.find_spec("ansible_collections.cnab.runtime").submodule_search_locations[0]
    return os.path.dirname(os.path.dirname(os.path.dirname(location)))


def _no_op_in_a_fresh_process(h, intent, bundle, parameters, credentials):
    env = dict(os.environ, PYTHONPATH=_collections_root())
    done = subprocess.run([sys.executable, "-c", NO_OP, intent, NAME, h.bundles[bundle], json.dumps(parameters),
                           json.dumps(credentials), str(h.root)], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("bundle, parameters, credentials", [
    ("showcase", {"admin_password": PASSWORD}, {"api_token": TOKEN}),
    ("hello", {}, {}),
])
@pytest.mark.parametrize("intent", ["install", "present"])
def test_a_no_op_imports_only_the_deciding_half(h, driver, intent, bundle, parameters, credentials):
    first = h.execute("install", bundle=bundle, parameters=parameters, credentials=credentials)
    assert (first.operation, first.changed) == ("install", True)

    again = _no_op_in_a_fresh_process(h, intent, bundle, parameters, credentials)

    assert (again["operation"], again["changed"]) == ("none", False)
    imported = {name[len(PREFIX):] for name in again["modules"] if name.startswith(PREFIX)}
    assert "runtime" in imported  # the check sees the collection's modules at all
    assert sorted(imported & set(NOT_ON_A_NO_OP)) == []
    assert sorted(name for name in imported if name.split(".")[0] in ("drivers", "oci", "signing")) == []
