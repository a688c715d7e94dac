"""Each module's options: its docs (as ansible-doc shows them) list exactly its argument spec, it reads
every option it takes (but those it accepts only for its action group's module_defaults), and the
module_defaults of each action group reach every module that needs the group's setting."""

import ast
import glob
import importlib
import json
import os
import subprocess

import pytest
from support import BIN, HELLO, HERE, REPO

from ansible_collections.cnab.runtime.plugins.module_utils import adapter

MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "cnab_*.py")))
# The adapter layer: adapter.py (the shared part) and the runners' files beside it (adapter_<job>.py).
ADAPTER_FILES = sorted(glob.glob(os.path.join(REPO, "plugins", "module_utils", "adapter*.py")))


def _adapter_modules():
    return [importlib.import_module("ansible_collections.cnab.runtime.plugins.module_utils."
                                    + os.path.basename(path)[:-3]) for path in ADAPTER_FILES]


class _SpecTaken(Exception):
    pass


def _argument_spec(module_name, monkeypatch):
    """The argument spec ``module_name``'s main() builds, taken before anything runs."""
    taken = {}

    def take(*_args, **kwargs):
        taken.update(kwargs["argument_spec"])
        raise _SpecTaken()

    for layer in _adapter_modules():
        if hasattr(layer, "CnabModule"):
            monkeypatch.setattr(layer, "CnabModule", take)
    module = __import__("ansible_collections.cnab.runtime.plugins.modules." + module_name, fromlist=["main"])
    with pytest.raises(_SpecTaken):
        module.main()
    return taken


def _from_spec(spec):
    return {name: dict(type=option.get("type", "str"), required=bool(option.get("required")),
                       default=option.get("default"), choices=option.get("choices"),
                       suboptions=_from_spec(option.get("options") or {}))
            for name, option in spec.items()}


def _from_docs(options):
    return {name: dict(type=option.get("type", "str"), required=bool(option.get("required")),
                       default=option.get("default"), choices=option.get("choices"),
                       suboptions=_from_docs(option.get("suboptions") or {}))
            for name, option in options.items()}


@pytest.fixture(scope="module")
def docs(collections_path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path)
    shown = subprocess.run([os.path.join(BIN, "ansible-doc"), "--json", *("cnab.runtime." + m for m in MODULES)],
                           env=env, capture_output=True, text=True, check=True)
    return {name.rsplit(".", 1)[1]: entry["doc"] for name, entry in json.loads(shown.stdout).items()}


@pytest.mark.parametrize("module_name", MODULES)
def test_docs_list_exactly_the_argument_spec(docs, module_name, monkeypatch):
    documented = _from_docs(docs[module_name]["options"])
    taken = _from_spec(_argument_spec(module_name, monkeypatch))
    assert sorted(documented) == sorted(taken)
    assert documented == taken


def _runner_reads():
    """{runner function of the adapter files: the option names it reads from ``params``/``module.params``}."""
    functions = [node for path in ADAPTER_FILES for node in ast.parse(open(path).read()).body
                 if isinstance(node, ast.FunctionDef)]
    found = {}
    for function in functions:
        names = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Subscript) and _is_params(node.value) and isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and _is_params(node.func.value) and node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_store_options":
                names.add(node.args[1].value)  # reads module.params[name]
        found[function.name] = names
    return found


def _is_params(node):
    return (isinstance(node, ast.Name) and node.id == "params") or \
        (isinstance(node, ast.Attribute) and node.attr == "params")


def _runner_of(module_name):
    tree = ast.parse(open(os.path.join(REPO, "plugins", "modules", module_name + ".py")).read())
    (main,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    (call,) = [node for node in ast.walk(main)
               if isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("run_")]
    return call.func.id


@pytest.mark.parametrize("module_name", MODULES)
def test_every_option_is_read_but_those_kept_for_the_action_group(module_name, monkeypatch):
    reads = _runner_reads()[_runner_of(module_name)]
    spec = _argument_spec(module_name, monkeypatch)
    # An option with one allowed value (state: present) says what the module does; it has nothing to read.
    taken = {name for name, option in spec.items() if option.get("choices") != [option.get("default")]}
    group_only = adapter.GROUP_ONLY_OPTIONS.get(module_name, frozenset())
    assert sorted(taken - reads - group_only) == [], "options %s does nothing with" % module_name
    assert sorted(group_only & reads) == [] and group_only <= set(spec)


def test_group_module_defaults_reach_every_module_that_needs_them(ansible, tmp_path):
    run = ansible.playbook(os.path.join(HERE, "playbooks", "group_defaults.yml"),
                           extra_vars={"hello_bundle": HELLO, "work": str(tmp_path)})
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((tmp_path / "results.json").read_text())

    # cnab_claims: the store's preparation, the install and the lookup all used the group's store.
    assert results["prepared"]["changed"] and os.stat(tmp_path / "claims").st_mode & 0o777 == 0o700
    assert results["installed"]["changed"] and results["installed"]["result"]["status"] == "succeeded"
    assert (tmp_path / "claims" / "installations" / "claims-grouped" / "claims").is_dir()
    assert results["info"]["installation"]["status"] == "installed"
    assert not os.path.exists(os.path.join(ansible.home, "installations", "claims-grouped"))

    # cnab_registry: both refused the unsigned archive because of the group's verify policy.
    for name in ("copied", "refused"):
        assert results[name]["failed"] and results[name]["msg"].endswith("was refused: it has no signature."), name

    # cnab_driver: the setup and the kubernetes driver both read the group's kubeconfig.
    missing = "could not load kubeconfig %s" % (tmp_path / "missing-kubeconfig")
    assert results["setup"]["failed"] and missing in results["setup"]["msg"], results["setup"]["msg"]
    assert results["driven"]["failed"] and missing in results["driven"]["msg"], results["driven"]["msg"]
