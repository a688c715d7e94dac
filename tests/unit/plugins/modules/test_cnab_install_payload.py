"""What cnab_install's AnsiballZ payload carries: the adapter's shared part, its own family's runner and
the runtime it runs, never the runners of the other modules nor the code only they run (the controller
builds, and ships, every file a module's imports reach, lazy imports included).

The import graph is followed as Ansible's payload builder follows it (benchmarks/payload_reach.py)."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
_spec = importlib.util.spec_from_file_location("payload_reach", os.path.join(REPO, "benchmarks", "payload_reach.py"))
payload_reach = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(payload_reach)

UTILS = os.path.join(REPO, "plugins", "module_utils")
# The files of the runners of other modules, and what only those runners import.
NOT_FOR_INSTALL = (
    "adapter_bundle.py", "oci/operations.py", "signing/bundle_ops.py",  # cnab_bundle
    "adapter_claim_copy.py", "transfer.py",  # cnab_claim_copy
    "adapter_claim_info.py",  # cnab_claim_info
    "adapter_claim_store.py", "claims/setup.py",  # cnab_claim_store
    "adapter_driver_setup.py", "drivers/setup.py",  # cnab_driver_setup
    "adapter_signing_key.py", "signing/keyfiles.py",  # cnab_signing_key
)


def _reached(module_name):
    return {os.path.relpath(path, UTILS) for path in payload_reach.reach(module_name)}


def test_the_paths_named_here_exist():
    assert [name for name in NOT_FOR_INSTALL if not os.path.isfile(os.path.join(UTILS, name))] == []


def test_cnab_install_carries_its_runner_and_the_runtime():
    reached = _reached("cnab_install")
    assert {"adapter.py", "adapter_lifecycle.py", "runtime.py", "claims/store.py"} <= reached
    assert os.path.join("..", "modules", "cnab_install.py") in reached


def test_cnab_install_carries_no_other_modules_runner_code():
    assert sorted(_reached("cnab_install") & set(NOT_FOR_INSTALL)) == []


def test_each_module_carries_only_its_own_runner_file():
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                     if name.startswith("cnab_"))
    runners = {name for name in os.listdir(UTILS) if name.startswith("adapter_")}
    carried = {module: sorted(_reached(module) & runners) for module in modules}
    lifecycle = ("cnab_action", "cnab_install", "cnab_installation", "cnab_uninstall", "cnab_upgrade")
    expected = {module: ["adapter_lifecycle.py"] if module in lifecycle else ["adapter_%s.py" % module[len("cnab_"):]]
                for module in modules}
    assert carried == expected
