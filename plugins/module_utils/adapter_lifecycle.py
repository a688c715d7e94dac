"""The runner of the mutating modules (cnab_install, cnab_upgrade, cnab_uninstall, cnab_action,
cnab_installation): module parameters in, a runtime ``Request`` out, the ``Response`` back as module output.

Apart from adapter.py, the only code this family's payload carries is the runtime it runs.
"""

import gc

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import (
    CnabModule, argument_spec, backend_fallbacks, fail,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


# The mutating module of each intent of run_action_module.
ACTION_MODULES = dict(install="cnab_install", upgrade="cnab_upgrade", uninstall="cnab_uninstall",
                      action="cnab_action", state="cnab_installation")


def run_action_module(intent, extra=None, required=("installation",)):
    """main() of every mutating module. ``intent`` is install/upgrade/uninstall/action,
    or ``state`` to take it from the module's ``state`` option (cnab_installation)."""
    # A module run is one short-lived process whose memory is bounded (logs are capped):
    # garbage collection during the SDK imports would only cost time.
    gc.disable()
    module = CnabModule(argument_spec=argument_spec(ACTION_MODULES[intent], extra, required), supports_check_mode=True)
    from ansible_collections.cnab.runtime.plugins.module_utils import runtime

    params = module.params
    request = runtime.Request(
        intent=params["state"] if intent == "state" else intent,
        installation=params["installation"],
        bundle=params["bundle"],
        parameters=params["parameters"],
        credentials=params["credentials"],
        action=params.get("action"),
        force=params["force"],
        check_mode=module.check_mode,
        driver=params["driver"],
        driver_options=params["driver_options"],
        claim_store=backend_fallbacks(params["claim_store"]),
        lock_timeout=params["lock_timeout"],
        break_lock=params["break_lock"],
        reveal_sensitive=params["reveal_sensitive"],
        registry_auth=params["registry_auth"],
        verify=params["verify"],
        dependencies=params["dependencies"],
    )
    module.no_log_values.update(_dependency_secrets(params["dependencies"]))
    resolved = []

    def on_secrets(masker, sensitive_parameters):
        resolved.append(True)
        module.keep_secrets(masker, sensitive_parameters)

    try:
        response = runtime.execute(request, on_secrets=on_secrets)
    except CnabError as exc:
        if not resolved:  # failed before the bundle said which parameters are secret
            names, masker = runtime.sensitive_inputs(request)
            module.keep_secrets(masker, names)
        fail(module, exc, changed=False)
    module.no_log_values.update(response.secrets)
    for warning in response.warnings:
        module.warn(warning)
    result = response.as_dict()
    if not module._diff:
        result.pop("diff", None)
    if response.failed:
        module.fail_json(
            msg='action "%s" of installation %s failed: %s'
            % (response.operation, response.installation or request.installation or "(stateless)",
               response.result["message"] or "see logs"),
            **result
        )
    module.exit_json(**result)


def _dependency_secrets(options):
    """The credential values given per dependency: the option is free-form, so Ansible cannot
    mark them no_log itself."""
    found = set()
    for entry in (options or {}).values():
        credentials = entry.get("credentials") if isinstance(entry, dict) else None
        for value in (credentials or {}).values() if isinstance(credentials, dict) else ():
            value = value.get("value") if isinstance(value, dict) else value
            if isinstance(value, str) and value:
                found.add(value)
    return found
