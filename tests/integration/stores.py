"""Claim-store backends under test: each gives the ``claim_store`` options of a fresh,
empty store. ``make test`` starts the services (Azurite, the Kubernetes API emulator);
a backend whose service is not running fails its tests rather than skipping them."""

import uuid

BACKENDS = ["local", "azure_blob", "kubernetes"]


def local_options(tmp_path):
    return {"backend": "local", "path": str(tmp_path / "store")}


def options_for(backend, tmp_path):
    """Options of an empty store of ``backend``, unique to the calling test."""
    unique = "t" + uuid.uuid4().hex[:12]
    if backend == "local":
        return local_options(tmp_path)
    if backend == "azure_blob":
        from stores_azure import azure_options

        return azure_options(unique)
    if backend == "kubernetes":
        from stores_kubernetes import kubernetes_options

        return kubernetes_options(unique)
    raise ValueError(backend)
