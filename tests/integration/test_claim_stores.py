"""Modules, lookup plugin and copies against every claim-store backend."""

import pytest
from stores import BACKENDS, options_for
from support import HERE, SHOWCASE

PASSWORD = "store-canary-pw-1"
TOKEN = "store-canary-token-2"


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_playbook_on_every_store(ansible, tmp_path, backend):
    store = options_for(backend, tmp_path)
    copy_store = {"backend": "local", "path": str(tmp_path / "copy")}
    run = ansible.playbook(HERE + "/playbooks/stores.yml", "-v", extra_vars={
        "store": store, "copy_store": copy_store, "showcase_bundle": SHOWCASE,
        "admin_password": PASSWORD, "api_token": TOKEN})
    assert run.returncode == 0, run.stdout + run.stderr
    for secret in (PASSWORD, TOKEN):
        assert secret not in run.stdout + run.stderr
    copied = tmp_path / "copy" / "installations" / "stored"
    kept = [p for p in copied.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert kept and all("sensitive" in p.parts for p in kept), "sensitive values must stay apart in the copy"
