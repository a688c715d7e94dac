"""The adapter layer (adapter.py, the shared part, and the runners' adapter_<job>.py beside it) is the only
code of module_utils that imports Ansible: the rest is plain Python."""

import ast
import pathlib

UTILS = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "module_utils"


def _imports_ansible(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        if any(name == "ansible" or name.startswith("ansible.") for name in names):
            return True
    return False


def test_only_the_adapter_layer_imports_ansible():
    importers = sorted(str(path.relative_to(UTILS)) for path in UTILS.rglob("*.py") if _imports_ansible(path))
    assert importers and all(name.startswith("adapter") and "/" not in name for name in importers), importers


def test_the_check_sees_an_ansible_import(tmp_path):
    (tmp_path / "late.py").write_text("def f():\n    from ansible.module_utils.basic import AnsibleModule\n")
    (tmp_path / "plain.py").write_text("from ansible_collections.cnab.runtime.plugins.module_utils import errors\n")
    assert _imports_ansible(tmp_path / "late.py") and not _imports_ansible(tmp_path / "plain.py")
