"""Integration fixtures: a real Docker engine, the example images, and an ``Ansible`` runner
with an isolated claim store. The collection under test is the working tree, reached through
a temporary ``ansible_collections/cnab/runtime`` symlink so that no stale build is exercised."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from support import IMAGES, REPO, Ansible, docker_answers

# One symlink tree serves Ansible (ANSIBLE_COLLECTIONS_PATH) and the tests that import the
# runtime directly, also in the child processes they start (PYTHONPATH).
_ROOT = tempfile.mkdtemp(prefix="cnab-colls-")
os.makedirs(os.path.join(_ROOT, "ansible_collections", "cnab"))
os.symlink(REPO, os.path.join(_ROOT, "ansible_collections", "cnab", "runtime"))
atexit.register(shutil.rmtree, _ROOT, True)
sys.path.insert(0, _ROOT)


@pytest.fixture(scope="session")
def collections_path():
    return _ROOT


@pytest.fixture(scope="session")
def images():
    if not docker_answers():
        pytest.fail("no Docker engine answers: run the tests through `make test`, which starts one")
    for context, tag in IMAGES.items():
        subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), context, tag], check=True,
                       capture_output=True)
    return IMAGES


@pytest.fixture
def ansible(collections_path, images, tmp_path):
    return Ansible(collections_path, str(tmp_path / "cnab-home"))
