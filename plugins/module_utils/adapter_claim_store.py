"""The runner of cnab_claim_store: a claim store prepared (its directory, or namespace and
account, or container)."""

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import (
    CnabModule, argument_spec, backend_fallbacks, fail,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def run_claim_store_module():
    spec = argument_spec("cnab_claim_store", dict(
        state=dict(type="str", default="present", choices=["present"]),
        service_account=dict(type="str", default="cnab-claims"),
        create_namespace=dict(type="bool", default=True),
    ))
    module = CnabModule(argument_spec=spec, supports_check_mode=True)
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.setup import prepare_store

    params = module.params
    try:
        report = prepare_store(backend_fallbacks(params["claim_store"]), params["service_account"],
                               params["create_namespace"], module.check_mode)
    except CnabError as exc:
        fail(module, exc)
    module.exit_json(changed=bool(report["created"] or report["updated"]), **report)
