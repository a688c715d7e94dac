"""Modules, lookup plugin and copies against every claim-store backend."""

import os
from pathlib import Path

import pytest
from stores import BACKENDS, options_for
from support import HELLO, HERE, SHOWCASE

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


def _store_contents(backend, store):
    """What a store holds: file paths, blob names, or the namespace's Secrets and Leases."""
    if backend == "local":
        return sorted(str(p) for p in Path(store["path"]).rglob("*")) if os.path.exists(store["path"]) else []
    if backend == "azure_blob":
        from azure.storage.blob import BlobServiceClient
        from stores_azure import AZURITE

        container = BlobServiceClient.from_connection_string(AZURITE).get_container_client(store["container"])
        return ["container " + store["container"]] if container.exists() else []
    from stores_kubernetes import emulator

    from tests.k8s_emulator.cluster import LEASES, SECRETS

    cluster = emulator()[0].cluster
    return [item["metadata"]["name"] for resource in (SECRETS, LEASES)
            for item in cluster.list(resource, store["namespace"])["items"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_on_a_fresh_store_creates_nothing(ansible, tmp_path, backend):
    """Nothing recorded reads as an empty store: install is planned, and not even the
    fingerprint key, a container or a directory is created."""
    store = options_for(backend, tmp_path)
    args = {"installation": "fresh", "bundle": HELLO, "claim_store": store}
    result, output = ansible.adhoc("cnab_install", args, "--check")
    assert not result.get("failed") and result["changed"] and result["operation"] == "install", output
    assert _store_contents(backend, store) == []
    info, output = ansible.adhoc("cnab_claim_info", {"installation": "fresh", "claim_store": store})
    assert not info.get("failed") and info["installation"]["exists"] is False, output
    assert _store_contents(backend, store) == []


@pytest.mark.parametrize("destination", ["local", "azure_blob"])
def test_a_copy_between_stores_is_in_sync_for_the_same_values(ansible, tmp_path, destination):
    """Each store keys its fingerprints with its own secret: the copy re-keys them, so the next
    run with the same bundle, parameters and credentials against the copy changes nothing."""
    run = ansible.playbook(HERE + "/playbooks/copy_then_run.yml", extra_vars={
        "store": options_for("local", tmp_path),
        "copy_store": options_for(destination, tmp_path / "copy"),
        "bare_copy_store": options_for("local", tmp_path / "bare"),
        "showcase_bundle": SHOWCASE, "admin_password": PASSWORD, "api_token": TOKEN})
    assert run.returncode == 0, run.stdout + run.stderr
    for secret in (PASSWORD, TOKEN):
        assert secret not in run.stdout + run.stderr
