"""The runner of cnab_claim_info: read-only views of the installations a claim store holds."""

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import (
    CnabModule, argument_spec, backend_fallbacks, fail,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def run_claim_info_module():
    # The action modules' options are accepted (and ignored) so that module_defaults set for
    # group/cnab.runtime.cnab apply to every module of the group, as Ansible requires (GROUP_ONLY_OPTIONS).
    spec = argument_spec("cnab_claim_info", dict(
        name_pattern=dict(type="str"),
        status=dict(type="str", choices=["installed", "uninstalled", "failed", "running", "unknown"]),
        history=dict(type="bool", default=False),
    ))
    module = CnabModule(
        argument_spec=spec,
        mutually_exclusive=[("installation", "name_pattern"), ("installation", "status")],
        supports_check_mode=True,
    )
    from ansible_collections.cnab.runtime.plugins.module_utils import lookup
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import check_installation_name, open_store

    params = module.params
    try:
        store = open_store(backend_fallbacks(params["claim_store"]))
        if params["installation"]:
            name = check_installation_name(params["installation"])  # the one check; carried checked from here
            installation = lookup.describe_installation(store, name, params["history"], params["reveal_sensitive"])
            from ansible_collections.cnab.runtime.plugins.module_utils.dependencies import describe_dependencies

            installation["dependencies"] = describe_dependencies(store, name)
            result = dict(installation=installation)
        else:
            result = dict(installations=lookup.list_installations(store, params["name_pattern"], params["status"]))
    except CnabError as exc:
        fail(module, exc)
    for warning in store.warnings:
        module.warn(warning)
    module.exit_json(changed=False, **result)
