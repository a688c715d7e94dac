"""payload_imports: the collection's files in a zipped payload are compiled once each, and load as zipimport
would load them (file names, packages, source for tracebacks, names the zip lacks)."""

import ast
import json
import pathlib
import subprocess
import sys
import zipfile

from ansible_collections.cnab.runtime.plugins.module_utils import payload_imports

PLUGINS = pathlib.Path(__file__).resolve().parents[4] / "plugins"
PACKAGE = "ansible_collections.cnab.runtime.plugins.module_utils"

# Run in a fresh interpreter with the zip first on sys.path, as an AnsiballZ payload runs: count the
# compiles per file name, import a few modules, report what they look like.
PROBE = r"""
import builtins, collections, importlib, inspect, json, sys, traceback
compiles = collections.Counter()
real_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    compiles[str(filename)] += 1
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile
sys.path.insert(0, sys.argv[1])
P = "ansible_collections.cnab.runtime.plugins.module_utils"
if sys.argv[2] == "hook":
    importlib.import_module(P + ".payload_imports").compile_once()
    importlib.import_module(P + ".payload_imports").compile_once()  # a second call adds nothing
plan = importlib.import_module(P + ".plan")
model = importlib.import_module(P + ".claims.model")
try:
    importlib.import_module(P + ".no_such_module")
    missing = None
except ModuleNotFoundError as error:
    missing = error.name
try:
    model.load_record(b"{", "claim")
except Exception:
    last = traceback.extract_tb(sys.exc_info()[2])[-1]
    raised_in = [last.filename, bool(last.line)]
print(json.dumps({
    "compiles": {name: count for name, count in compiles.items() if "ansible_collections" in name},
    "plan_file": plan.__file__, "plan_origin": plan.__spec__.origin,
    "claims_path": list(sys.modules[P + ".claims"].__path__),
    "decide_source": inspect.getsource(plan.decide).splitlines()[0],
    "missing": missing, "raised_in": raised_in,
    "finders": sum(type(f).__name__ == "_PayloadFinder" for f in sys.meta_path),
}))
"""


def _payload(tmp_path):
    """A zip laid out as AnsiballZ lays out a module's payload: the collection under ansible_collections/."""
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as payload:
        for package in ("ansible_collections", "ansible_collections/cnab", "ansible_collections/cnab/runtime",
                        "ansible_collections/cnab/runtime/plugins"):
            payload.writestr(package + "/__init__.py", "")
        for source in PLUGINS.rglob("*.py"):
            payload.write(source, "ansible_collections/cnab/runtime/plugins/" + source.relative_to(PLUGINS).as_posix())
    return str(archive)


def _probe(archive, mode):
    done = subprocess.run([sys.executable, "-c", PROBE, archive, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_each_file_of_the_payload_is_compiled_once(tmp_path):
    archive = _payload(tmp_path)
    seen = _probe(archive, "hook")
    imported_after = ("plan.py", "errors.py", "identifiers.py", "bundle.py", "claims/__init__.py", "claims/model.py")
    loaded_after = {name: count for name, count in seen["compiles"].items()
                    if name.rsplit("/module_utils/", 1)[-1] in imported_after}
    assert len(loaded_after) == 6, seen["compiles"]
    assert set(loaded_after.values()) == {1}, loaded_after
    assert seen["finders"] == 1


def test_without_it_zipimport_compiles_each_file_twice(tmp_path):
    """The cost the finder removes (CPython 3.11-3.13): if this fails, zipimport was fixed and the finder
    can go."""
    seen = _probe(_payload(tmp_path), "plain")
    assert seen["compiles"][_in_zip(tmp_path, "plan.py")] == 2, seen["compiles"]
    assert seen["finders"] == 0


def test_modules_load_as_zipimport_loads_them(tmp_path):
    archive = _payload(tmp_path)
    hooked, plain = _probe(archive, "hook"), _probe(archive, "plain")
    for key in ("plan_file", "plan_origin", "claims_path", "decide_source", "missing", "raised_in"):
        assert hooked[key] == plain[key], key
    assert hooked["plan_file"] == _in_zip(tmp_path, "plan.py")
    assert hooked["claims_path"] == [_in_zip(tmp_path, "claims")]
    assert hooked["decide_source"].startswith("def decide(")
    assert hooked["missing"] == PACKAGE + ".no_such_module"
    assert hooked["raised_in"] == [_in_zip(tmp_path, "claims/model.py"), True]  # the line is shown


def test_outside_a_zip_it_does_nothing():
    before = list(sys.meta_path)
    payload_imports.compile_once()
    assert sys.meta_path == before


def _in_zip(tmp_path, relative):
    return str(tmp_path / "payload.zip" / "ansible_collections/cnab/runtime/plugins/module_utils" / relative)


def test_every_module_installs_it_before_importing_the_rest_of_the_collection():
    modules = sorted((PLUGINS / "modules").glob("cnab_*.py"))
    assert len(modules) >= 11
    for module in modules:
        statements = [node for node in ast.parse(module.read_text()).body
                      if isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))
                      and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        ours = [index for index, node in enumerate(statements)
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ansible_collections.")]
        first, then = statements[ours[0]], statements[ours[0] + 1]
        assert first.module == PACKAGE + ".payload_imports", module.name
        assert isinstance(then, ast.Expr) and ast.unparse(then) == "compile_once()", module.name
