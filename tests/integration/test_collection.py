"""The collection builds, installs, and documents every module."""

import glob
import os
import subprocess

import pytest
from support import BIN, REPO

MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "cnab_*.py")))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("galaxy")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                    str(work), REPO], check=True, capture_output=True)
    (artifact,) = glob.glob(str(work / "cnab-runtime-*.tar.gz"))
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p",
                    str(work / "collections"), artifact], check=True, capture_output=True)
    return str(work / "collections")


def test_artifact_leaves_tests_out(installed):
    root = os.path.join(installed, "ansible_collections", "cnab", "runtime")
    assert os.path.isfile(os.path.join(root, "plugins", "module_utils", "runtime.py"))
    assert not os.path.exists(os.path.join(root, "tests"))


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_module(installed, module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=installed)
    doc = subprocess.run([os.path.join(BIN, "ansible-doc"), "cnab.runtime." + module], env=env,
                         capture_output=True, text=True, check=False)
    assert doc.returncode == 0, doc.stderr
    assert "EXAMPLES:" in doc.stdout and "RETURN VALUES:" in doc.stdout
    assert "[WARNING]" not in doc.stderr, doc.stderr


def test_every_module_is_in_the_action_group():
    with open(os.path.join(REPO, "meta", "runtime.yml")) as handle:
        text = handle.read()
    # cnab_claim_copy names two stores explicitly; the group's one claim_store does not apply to it.
    # cnab_signing_key shares no option with the group.
    outside = {"cnab_claim_copy", "cnab_signing_key"}
    for module in set(MODULES) - outside:
        assert "    - %s\n" % module in text, module
    for module in outside:
        assert module not in text, module


def test_ansible_doc_renders_the_lookup_plugin(installed):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=installed)
    doc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "lookup", "cnab.runtime.cnab_output"], env=env,
                         capture_output=True, text=True, check=False)
    assert doc.returncode == 0, doc.stderr
    assert "EXAMPLES:" in doc.stdout and "RETURN VALUES:" in doc.stdout
