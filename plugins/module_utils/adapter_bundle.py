"""The runner of cnab_bundle: bundles pushed, copied, archived, pulled and inspected, signed and
verified on the way."""

import copy

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import (
    REGISTRY_AUTH_SPEC, CnabModule, argument_spec, fail,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def run_bundle_module():
    dest_auth = copy.deepcopy(REGISTRY_AUTH_SPEC)
    for option in dest_auth["options"].values():
        option.pop("fallback", None)  # the destination's credentials are never taken from the environment
    dest_auth.pop("apply_defaults")
    spec = argument_spec("cnab_bundle", dict(
        src=dict(type="str", required=True),
        dest=dict(type="str"),
        dest_registry_auth=dest_auth,
        compression=dict(type="str", default="gzip", choices=["gzip", "fast", "best", "none"]),
        dependencies=dict(type="bool"),
    ))
    module = CnabModule(argument_spec=spec, supports_check_mode=True)
    from ansible_collections.cnab.runtime.plugins.module_utils.oci import operations
    from ansible_collections.cnab.runtime.plugins.module_utils.signing import bundle_ops

    params = module.params
    dest_options = params["dest_registry_auth"]
    if dest_options is not None:
        dest_options = {key: value for key, value in dest_options.items() if value is not None}
    try:
        prepared = bundle_ops.before(params["src"], params["dest"], params["sign"], params["verify"],
                                     params["registry_auth"])
        result = operations.run(prepared.src, params["dest"], params["registry_auth"], dest_options,
                                params["compression"], module.check_mode,
                                dependencies=params["dependencies"])
        for warning in bundle_ops.after(prepared, result, params["dest"], params["registry_auth"], dest_options,
                                        module.check_mode):
            module.warn(warning)
    except CnabError as exc:
        fail(module, exc, changed=False)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
