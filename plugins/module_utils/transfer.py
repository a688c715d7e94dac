"""Copy installations, history included, from one claim store to another.

Records are immutable and identified by ULIDs, so a copy only adds what the
destination lacks: running it again copies nothing, and it never overwrites.

The source may be another tool's store or one edited by hand: everything copied is read
(and checked, by the source store's reader) before the first write, so a record the
runtime refuses leaves the destination as it was.

Fingerprints are HMACs keyed by the store's own secret. A claim read from a foreign store
(porter_v0) carries none, and one read from another cnab.runtime store carries fingerprints
made with that store's key, which the destination cannot compare with. Both are therefore
fingerprinted here with the destination's key, as a run computes them, from the claim's
parameters and the credentials given to the copy (credentials are never stored, so only the
copy's caller can give them). The next run with the same bundle, parameters and credentials
then finds the installation in sync.
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
        want = source.installation(name)
        _check_results_name_claims(want)
        have = destination.installation(name)
        have_claims = {c["id"] for c in have.claims}
        have_results = {r["id"] for results in have.results.values() for r in results}
        claims = [c for c in want.claims if c["id"] not in have_claims]
        results = sorted((r for rs in want.results.values() for r in rs if r["id"] not in have_results),
                         key=lambda r: r["id"])
        if claims or results:
            missing[name] = (claims, results)
    return missing


def _needs_fingerprints(claim, rekey):
    """A claim whose fingerprints the destination must make: one a foreign store's reader mapped
    (``importedFrom``) that records none, or, when ``rekey`` (the stores' keys differ), any claim
    that records some."""
    custom = runtime_custom(claim)
    if "parametersFingerprint" in custom:
        return rekey
    return bool(custom.get("importedFrom"))


def keys_differ(source, destination):
    """Whether fingerprints made with ``source``'s key mean nothing to ``destination`` (read only:
    a destination with no key yet gets a new one, which differs)."""
    source_key = source.fingerprint_key(create=False)
    return source_key is None or source_key != destination.fingerprint_key(create=False)


def with_fingerprints(claim, sensitive_parameters, key, credentials, rekey=False):
    """``claim`` with the fingerprints a run would record for its bundle, parameters and ``credentials``
    when the destination must make them (see ``_needs_fingerprints``); else ``claim`` itself."""
    custom = runtime_custom(claim)
    if not _needs_fingerprints(claim, rekey):
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


def _check_results_name_claims(installation):
    claim_ids = {c["id"] for c in installation.claims}
    for claim_id, results in sorted(installation.results.items()):
        if claim_id not in claim_ids:
            raise ClaimStoreError(
                "installation %s cannot be copied: its result %s belongs to claim %s, which the source store does "
                "not hold." % (installation.name, results[0]["id"], claim_id)
            )


def _read_everything(source, name, claims, results):
    """What the copy writes, read and checked in full: [(claim, sensitive)], [(result, values, sensitive)]."""
    by_claim = {c["id"]: c for c in source.installation(name).claims}
    claim_writes = [(claim, source.sensitive_parameters(name, claim["id"])) for claim in claims]
    result_writes = []
    for result in results:
        claim = by_claim.get(result["claimId"])
        if claim is None:  # the claim went away since the plan was made
            raise ClaimStoreError("installation %s cannot be copied: its result %s belongs to claim %s, which the "
                                  "source store no longer holds." % (name, result["id"], result["claimId"]))
        bundle = Bundle(claim["bundle"])
        values = source.output_values(name, result["id"]) if result.get("outputs") else {}
        marked = recorded_sensitive_outputs(result)  # outputs found holding a secret stay sensitive
        result_writes.append((result, values, {n for n in values if is_sensitive_output(bundle, n, marked)}))
    return claim_writes, result_writes


def copy_installations(source, destination, names, lock_timeout, check_mode=False, credentials=None, warnings=None):
    """Copy what ``destination`` lacks; returns {installation: [claim and result ids copied]}.
    ``credentials`` (name -> value or source, as the action modules take them) go into the
    fingerprints the destination makes (see ``_needs_fingerprints``); ``warnings`` gets a sentence per
    installation whose bundle declares credentials that were not given."""
    planned = plan_copy(source, destination, names)
    copied = {name: [c["id"] for c in claims] + [r["id"] for r in results]
              for name, (claims, results) in planned.items()}
    rekey = bool(planned) and keys_differ(source, destination)
    foreign = {name: [c for c in claims if _needs_fingerprints(c, rekey)]
               for name, (claims, _results) in planned.items()}
    for name, claims in sorted(foreign.items()):
        missing = sorted({n for c in claims for n in Bundle(c["bundle"]).credentials} - set(credentials or {}))
        if missing and warnings is not None:
            warnings.append("installation %s: its bundle declares credentials %s, which were not given to the copy; "
                            "the next run that gives them will upgrade it." % (name, ", ".join(missing)))
    if check_mode:
        for name, claims in foreign.items():  # what the run would refuse, check mode refuses too
            for claim in claims:
                with_fingerprints(claim, source.sensitive_parameters(name, claim["id"]), b"check mode", credentials, rekey)
        return copied
    # Every installation is read whole before the first write: a refused record anywhere writes nothing.
    writes = {name: _read_everything(source, name, claims, results) for name, (claims, results) in planned.items()}
    key = destination.fingerprint_key() if any(foreign.values()) else None
    for name, (claim_writes, result_writes) in writes.items():
        writes[name] = ([(with_fingerprints(c, sensitive, key, credentials, rekey), sensitive)
                         for c, sensitive in claim_writes],
                        result_writes)
    for name, (claim_writes, result_writes) in writes.items():
        with destination.lock(name, lock_timeout):
            for claim, sensitive in claim_writes:
                destination.write_claim(name, claim, sensitive)  # the reader checked it is a claim of ``name``
            for result, values, sensitive in result_writes:
                destination.write_result(name, result, values, sensitive)
    return copied
