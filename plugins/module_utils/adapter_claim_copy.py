"""The runner of cnab_claim_copy: installations copied from one claim store to another."""

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import CLAIM_STORE_SPEC, CnabModule, fail
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def _store_options(module, name):
    """A free-form claim-store dict (same keys as ``claim_store``, no environment fallbacks,
    so a copy never reads or writes a store by accident), its secrets masked."""
    given = dict(module.params[name])
    spec = CLAIM_STORE_SPEC["options"]
    unknown = sorted(set(given) - set(spec))
    if unknown:
        module.fail_json(msg="%s has unknown keys %s (allowed: %s)." % (name, ", ".join(unknown), ", ".join(sorted(spec))))
    for key, value in given.items():
        if spec[key].get("no_log") and value:
            module.no_log_values.add(str(value))
    for key, option in spec.items():
        given.setdefault(key, option.get("default"))
    return given


def run_claim_copy_module():
    module = CnabModule(
        argument_spec=dict(
            source=dict(type="dict", required=True),
            destination=dict(type="dict", required=True),
            installations=dict(type="list", elements="str"),
            lock_timeout=dict(type="int", default=300),
            credentials=dict(type="dict", no_log=True),
        ),
        supports_check_mode=True,
    )
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import check_installation_name, open_store
    from ansible_collections.cnab.runtime.plugins.module_utils.transfer import copy_installations

    params = module.params
    try:
        source = open_store(_store_options(module, "source"))
        destination = open_store(_store_options(module, "destination"))
        names = [check_installation_name(n) for n in params["installations"] or source.installation_names()]
        warnings = []
        copied = copy_installations(source, destination, names, params["lock_timeout"], module.check_mode,
                                    params["credentials"], warnings)
    except CnabError as exc:
        fail(module, exc)
    for warning in list(source.warnings) + warnings:
        module.warn(warning)
    module.exit_json(changed=bool(copied), copied=copied)
