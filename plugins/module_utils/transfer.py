"""Copy installations, history included, from one claim store to another.

Records are immutable and identified by ULIDs, so a copy only adds what the
destination lacks: running it again copies nothing, and it never overwrites.

A claim read from a foreign store (porter_v0) carries no fingerprints: they are keyed by
the destination's secret, so they are computed here, as a run computes them (``values``),
from the claim's parameters and the credentials given to the copy. The next run with the
same bundle, parameters and credentials then finds the installation in sync.
"""

from ansible_collections.cnab.runtime.plugins.module_utils import parameter_sources
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import RUNTIME_KEY, runtime_custom
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, ParameterError
from ansible_collections.cnab.runtime.plugins.module_utils.lookup import is_sensitive_output, recorded_sensitive_outputs


def plan_copy(source, destination, names):
    """{installation: (claims to copy, results to copy)} for what ``destination`` lacks."""
    missing = {}
    for name in names:
        have = destination.installation(name)
        want = source.installation(name)
        have_claims = {c["id"] for c in have.claims}
        have_results = {r["id"] for results in have.results.values() for r in results}
        claims = [c for c in want.claims if c["id"] not in have_claims]
        results = sorted((r for rs in want.results.values() for r in rs if r["id"] not in have_results),
                         key=lambda r: r["id"])
        if claims or results:
            missing[name] = (claims, results)
    return missing


def with_fingerprints(claim, sensitive_parameters, key, credentials):
    """``claim`` with the fingerprints a run would record for its bundle, parameters and ``credentials``,
    when it has none (a claim of a foreign store); else ``claim`` itself."""
    custom = runtime_custom(claim)
    if "parametersFingerprint" in custom:
        return claim
    bundle = Bundle(claim["bundle"])
    parameters = dict(claim.get("parameters") or {}, **sensitive_parameters)
    try:
        resolved = parameter_sources.compared_parameters(bundle, parameters)
    except ParameterError as exc:
        raise ParameterError("claim %s of installation %s cannot be copied: %s" % (claim["id"], claim["installation"], exc)) from exc
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise ClaimStoreError("claim %s of installation %s holds a malformed bundle: %s." % (claim["id"], claim["installation"], exc)) from exc
    custom = dict(custom, parametersFingerprint=v.fingerprint(key, resolved),
                  credentialsFingerprint=v.fingerprint(key, v.declared_credentials(bundle, credentials)))
    return dict(claim, custom=dict(claim.get("custom") or {}, **{RUNTIME_KEY: custom}))


def copy_installations(source, destination, names, lock_timeout, check_mode=False, credentials=None, warnings=None):
    """Copy what ``destination`` lacks; returns {installation: [claim and result ids copied]}.
    ``credentials`` (name -> value or source, as the action modules take them) go into the
    fingerprints of claims that have none; ``warnings`` gets a sentence per installation whose
    bundle declares credentials that were not given."""
    copied = {}
    for name, (claims, results) in plan_copy(source, destination, names).items():
        copied[name] = [c["id"] for c in claims] + [r["id"] for r in results]
        foreign = [c for c in claims if "parametersFingerprint" not in runtime_custom(c)]
        missing = sorted({n for c in foreign for n in Bundle(c["bundle"]).credentials} - set(credentials or {}))
        if missing and warnings is not None:
            warnings.append("installation %s: its bundle declares credentials %s, which were not given to the copy; "
                            "the next run that gives them will upgrade it." % (name, ", ".join(missing)))
        if check_mode:
            for claim in foreign:  # what the run would refuse, check mode refuses too
                with_fingerprints(claim, source.sensitive_parameters(name, claim["id"]), b"check mode", credentials)
            continue
        with destination.lock(name, lock_timeout):
            by_claim = {c["id"]: c for c in source.installation(name).claims}
            key = destination.fingerprint_key() if foreign else None
            for claim in claims:
                sensitive = source.sensitive_parameters(name, claim["id"])
                destination.write_claim(with_fingerprints(claim, sensitive, key, credentials), sensitive)
            for result in results:
                bundle = Bundle(by_claim[result["claimId"]]["bundle"])
                values = source.output_values(name, result["id"]) if result.get("outputs") else {}
                marked = recorded_sensitive_outputs(result)
                sensitive = {n for n in values if is_sensitive_output(bundle, n, marked)}
                destination.write_result(name, result, values, sensitive)
    return copied
