"""Hostile claim stores: a valid installation recorded through the store, then one stored record
replaced behind the store's back, in each backend's own layout (a file, a blob, a Secret), the
way an attacker with write access to the store, or another tool's store being migrated, would."""

import base64
import json
import os

from support import REPO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store

BUNDLE = Bundle(json.load(open(os.path.join(REPO, "examples", "hello", "bundle.json"))))


def record_installation(options, name="app"):
    """An installed ``name`` with a sensitive parameter and an output; (claim, final result)."""
    store = open_store(options)
    claim = model.new_claim(name, "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(),
                            {"modifies": True, "sensitiveParameters": ["password"]})
    store.write_claim(name, claim, {"password": "pw-" + name})
    store.write_result(name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {"generatedByBundle": "true"}})
    store.write_result(name, result, {"message": b"hello"}, ())
    return claim, result


def replace_record(options, name, kind, record_id, document):
    """Store ``document`` (any JSON value, or bytes) as the ``kind`` record ``record_id`` of
    installation ``name``: kind is claim, result or parameters (sensitive parameters)."""
    data = document if isinstance(document, bytes) else json.dumps(document).encode("utf-8")
    backend = options["backend"]
    if backend == "local":
        relative = {"claim": "claims/%s.json", "result": "results/%s.json",
                    "parameters": "sensitive/%s.parameters.json"}[kind] % record_id
        with open(os.path.join(options["path"], "installations", name, relative), "wb") as handle:
            handle.write(data)
    elif backend == "azure_blob":
        store = open_store(options)
        relative = {"claim": "claims/%s.json", "result": "results/%s.json",
                    "parameters": "sensitive/%s.parameters"}[kind] % record_id
        blob_name = "installations/%s/%s" % (name, relative)
        if kind == "parameters":  # sealed as the store seals it, so that only the content is wrong
            data = store._seal(store._cipher("store"), blob_name, data)
        store._container.upload_blob(blob_name, data, overwrite=True)
    else:
        from stores_kubernetes import emulator

        from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import record_name
        from tests.k8s_emulator.cluster import SECRETS

        cluster = emulator()[0].cluster
        secret_name = record_name(kind, record_id)
        secret = cluster.get(SECRETS, options["namespace"], secret_name)
        key = {"claim": "claim.json", "result": "result.json", "parameters": "parameters.json"}[kind]
        secret["data"] = {key: base64.b64encode(data).decode("ascii")}
        for field in ("uid", "resourceVersion", "creationTimestamp"):
            secret["metadata"].pop(field, None)
        # Records are immutable Secrets: an attacker deletes and creates one, which the emulator allows too.
        cluster.delete(SECRETS, options["namespace"], secret_name)
        cluster.create(SECRETS, options["namespace"], secret)
