"""The azure_blob backend under test: a fresh container in the local Azurite emulator.

Azurite is started by ``scripts/start-azurite.sh`` (``make test`` runs it); when it does not
answer, the first test that needs it runs the script once, so plain ``pytest`` works too."""

import os
import socket
import subprocess

import pytest
from support import REPO

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
ADDRESS = ("127.0.0.1", 10000)
_started = []


def azurite_answers():
    try:
        with socket.create_connection(ADDRESS, timeout=1):
            return True
    except OSError:
        return False


def ensure_azurite():
    if azurite_answers():
        return
    if not _started:
        _started.append(True)
        script = os.path.join(REPO, "scripts", "start-azurite.sh")
        run = subprocess.run(["bash", script], capture_output=True, text=True, check=False)
        if run.returncode == 0 and azurite_answers():
            return
        pytest.fail("Azurite does not answer on %s:%d and scripts/start-azurite.sh could not start it:\n%s%s"
                    % (ADDRESS + (run.stdout, run.stderr)))
    pytest.fail("Azurite does not answer on %s:%d: run scripts/start-azurite.sh" % ADDRESS)


def azure_options(unique):
    ensure_azurite()
    return {"backend": "azure_blob", "connection_string": AZURITE, "container": unique,
            "encryption_key": "test-encryption-key", "lease_seconds": 15}
