"""Copy installations, history included, from one claim store to another.

Records are immutable and identified by ULIDs, so a copy only adds what the
destination lacks: running it again copies nothing, and it never overwrites.
"""

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
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


def copy_installations(source, destination, names, lock_timeout, check_mode=False):
    """Copy what ``destination`` lacks; returns {installation: [claim and result ids copied]}."""
    copied = {}
    for name, (claims, results) in plan_copy(source, destination, names).items():
        copied[name] = [c["id"] for c in claims] + [r["id"] for r in results]
        if check_mode:
            continue
        with destination.lock(name, lock_timeout):
            by_claim = {c["id"]: c for c in source.installation(name).claims}
            for claim in claims:
                destination.write_claim(claim, source.sensitive_parameters(name, claim["id"]))
            for result in results:
                bundle = Bundle(by_claim[result["claimId"]]["bundle"])
                values = source.output_values(name, result["id"]) if result.get("outputs") else {}
                marked = recorded_sensitive_outputs(result)
                sensitive = {n for n in values if is_sensitive_output(bundle, n, marked)}
                destination.write_result(name, result, values, sensitive)
    return copied
