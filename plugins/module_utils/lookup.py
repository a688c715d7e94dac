"""Read-only views of the claim store: what ``cnab_claim_info`` and module results show.

Nothing here writes; sensitive values are masked unless the caller asks to reveal them.
"""

import fnmatch

from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK, Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model


def claim_summary(claim):
    custom = model.runtime_custom(claim)
    bundle = claim.get("bundle") or {}
    return {
        "id": claim["id"],
        "revision": claim["revision"],
        "action": claim["action"],
        "created": claim.get("created"),
        "bundle": {"name": bundle.get("name"), "version": bundle.get("version"), "digest": custom.get("bundleDigest"),
                   "reference": claim.get("bundleReference"), "index_digest": custom.get("indexDigest"),
                   "signature": custom.get("signature")},
    }


def current_claim(installation):
    """The claim that describes an installation: its last successful modifying one, else its last
    modifying one, else (only non-modifying claims recorded) its newest."""
    return installation.last_successful_modifying or installation.last_modifying or installation.claims[-1]


def render_outputs(bundle, outputs, reveal, sensitive=()):
    """Outputs as returned: sensitive ones (declared so by ``bundle``, or named in ``sensitive``) masked."""
    return {n: (v.output_value(bundle, n, c) if reveal or not is_sensitive_output(bundle, n, sensitive)
                else SENSITIVE_MASK)
            for n, c in sorted(outputs.items())}


def is_sensitive_output(bundle, name, sensitive=()):
    return name in sensitive or bundle.is_sensitive_output(name)


def recorded_sensitive_outputs(result):
    """Names a result records as sensitive beyond its bundle's declaration (outputs holding a secret input)."""
    names = model.runtime_custom(result).get("sensitiveOutputs")
    return set(names) if isinstance(names, list) else set()


def binary_outputs(bundle, outputs, reveal, sensitive=()):
    """Names of the outputs ``render_outputs`` shows as base64 text, because their bytes are not UTF-8."""
    return sorted(n for n, c in outputs.items()
                  if (reveal or not is_sensitive_output(bundle, n, sensitive)) and v.is_binary(c))


def recorded_parameters(claim):
    """A claim's parameters with its sensitive ones present but masked."""
    parameters = dict(claim.get("parameters") or {})
    parameters.update(dict.fromkeys(model.runtime_custom(claim).get("sensitiveParameters") or [], SENSITIVE_MASK))
    return parameters


def describe_installation(store, name, history=False, reveal=False):
    """cnab_claim_info's view of installation ``name``, an ``InstallationName`` (checked by the caller)."""
    installation = store.installation(name)
    if not installation.exists:
        return {"name": name, "exists": False, "status": model.STATUS_UNKNOWN}
    current = current_claim(installation)
    bundle = Bundle(current["bundle"])
    marked = set()
    outputs = latest_outputs(store, installation, marked)
    info = {
        "name": name,
        "exists": True,
        "status": installation.status,
        "revision": installation.current_revision,
        "bundle": claim_summary(current)["bundle"],
        "parameters": recorded_parameters(current),
        "outputs": render_outputs(bundle, outputs, reveal, marked),
        "sensitive_outputs": sorted(n for n in outputs if is_sensitive_output(bundle, n, marked)),
        "binary_outputs": binary_outputs(bundle, outputs, reveal, marked),
        "last_action": _last_action(installation),
        "lock_holder": store.lock_holder(name),
    }
    if history:
        info["history"] = [
            {"claim": _public_claim(claim), "results": installation.results.get(claim["id"], [])}
            for claim in installation.claims
        ]
    return info


def _last_action(installation):
    claim = installation.claims[-1]
    result = installation.last_result(claim)
    return {"action": claim["action"], "claim_id": claim["id"], "status": installation.status_of(claim),
            "message": (result or {}).get("message", "")}


def _public_claim(claim):
    summary = claim_summary(claim)
    summary["parameters"] = recorded_parameters(claim)
    summary["modifies"] = model.runtime_custom(claim).get("modifies", True)
    return summary


def latest_outputs(store, installation, sensitive=None):
    """The newest value of every output name across the installation's results. ``sensitive``
    (a set) gains the names whose newest value its result recorded as sensitive."""
    found = {}
    for claim in reversed(installation.claims):
        for result in reversed(installation.results.get(claim["id"], [])):
            names = set(result.get("outputs") or {}) - set(found)
            if names:
                values = store.output_values(installation.name, result["id"])
                found.update({n: values[n] for n in names if n in values})
                if sensitive is not None:
                    sensitive.update(names & recorded_sensitive_outputs(result))
    return found


def list_installations(store, pattern=None, status=None):
    rows = []
    for name in store.installation_names():
        if pattern and not fnmatch.fnmatchcase(name, pattern):
            continue
        installation = store.installation(name)
        if not installation.exists or (status and installation.status != status):
            continue
        current = current_claim(installation)
        rows.append({"name": name, "status": installation.status, "bundle": claim_summary(current)["bundle"],
                     "revision": installation.current_revision})
    return rows
