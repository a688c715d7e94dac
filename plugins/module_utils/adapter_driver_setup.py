"""The runner of cnab_driver_setup: the kubernetes driver's namespace, account and pull secret."""

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import CnabModule, argument_spec, fail
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def run_driver_setup_module():
    spec = argument_spec("cnab_driver_setup", dict(
        state=dict(type="str", default="present", choices=["present"]),
        service_account=dict(type="str", default="cnab-driver"),
        create_namespace=dict(type="bool", default=True),
        image_pull_secret=dict(type="str", default="cnab-registry", no_log=False),  # a Secret's name
        registry=dict(type="dict", options=dict(
            server=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
        )),
    ))
    module = CnabModule(argument_spec=spec, supports_check_mode=True)
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.setup import prepare_driver

    params = module.params
    try:
        report = prepare_driver(params["driver_options"], params["service_account"], params["create_namespace"],
                                params["registry"], params["image_pull_secret"], module.check_mode)
    except CnabError as exc:
        fail(module, exc)
    module.exit_json(changed=bool(report["created"] or report["updated"]), **report)
