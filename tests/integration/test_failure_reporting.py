"""How a failure reaches the user: one sentence via Ansible's missing_required_lib for a Python
library that is not installed where the module runs, and the cause as ``exception`` at -vvv,
masked like the rest of the result."""

import os
import uuid

import pytest
from support import HELLO, SHOWCASE


def _shim(tmp_path, *packages):
    """A directory for PYTHONPATH in which importing each of ``packages`` fails, as if it were not installed."""
    shim = tmp_path / "shim"
    for package in packages:
        (shim / package).mkdir(parents=True)
        (shim / package / "__init__.py").write_text('raise ImportError("no module named %s (test shim)")\n' % package)
    return str(shim)


@pytest.mark.parametrize("package, pip_name, args", [
    ("docker", "docker", {}),
    ("ulid", "python-ulid", {}),
    ("rfc8785", "rfc8785", {}),
])
def test_a_missing_library_is_one_sentence(ansible, tmp_path, package, pip_name, args):
    ansible.env["PYTHONPATH"] = _shim(tmp_path, package)
    result, out = ansible.adhoc("cnab_install", dict(args, installation="lib-" + uuid.uuid4().hex[:6], bundle=HELLO))
    assert result.get("failed") is True, out
    assert result["msg"].startswith("Failed to import the required Python library (%s) on " % pip_name), result["msg"]
    assert "Traceback" not in result["msg"] and "ImportError" not in result["msg"]


def test_vvv_shows_the_cause_and_no_secret(ansible, tmp_path):
    canary = "canary-" + uuid.uuid4().hex
    missing = str(tmp_path / canary)  # the credential's file: its name is as secret as its content
    ansible.env["ANSIBLE_DISPLAY_TRACEBACK"] = "error"  # ansible-core >= 2.19 shows tracebacks only when asked
    result, out = ansible.adhoc("cnab_install", {
        "installation": "vvv-" + uuid.uuid4().hex[:6], "bundle": SHOWCASE,
        "credentials": {"api_token": {"path": missing}}}, "-vvv")
    assert result.get("failed") is True, out
    assert 'credential "api_token" comes from file' in result["msg"]
    assert "CredentialError" in out and "read_credential" in out, out  # the traceback, down to the raise
    assert "FileNotFoundError" in out  # and its cause
    assert canary not in out
    assert not os.path.exists(missing)


def test_a_no_op_imports_no_sdk(ansible, tmp_path):
    """What keeps a no-op as cheap as ping: it succeeds with every heavy SDK made unimportable."""
    name = "nosdk-" + uuid.uuid4().hex[:6]
    first, out = ansible.adhoc("cnab_install", {"installation": name, "bundle": HELLO})
    assert first.get("changed") is True, out
    ansible.env["PYTHONPATH"] = _shim(tmp_path, "docker", "requests", "oras", "jsonschema", "ulid", "kubernetes",
                                      "azure", "cryptography", "nacl", "urllib3")
    again, out = ansible.adhoc("cnab_install", {"installation": name, "bundle": HELLO})
    assert again.get("changed") is False and again.get("failed") is not True, out
