"""The runner of cnab_signing_key: a signing key pair on disk."""

from ansible.module_utils.basic import env_fallback

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import CnabModule, fail
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def run_signing_key_module():
    module = CnabModule(
        argument_spec=dict(
            path=dict(type="path", required=True, fallback=(env_fallback, ["CNAB_SIGNING_KEY"])),
            public_key_path=dict(type="path"),
            passphrase=dict(type="str", no_log=True,
                            fallback=(env_fallback, ["CNAB_SIGNING_KEY_PASSWORD", "COSIGN_PASSWORD"])),
            format=dict(type="str", default="cosign", choices=["cosign", "pkcs8"]),
        ),
        supports_check_mode=True,
    )
    from ansible_collections.cnab.runtime.plugins.module_utils.signing.keyfiles import ensure_key_pair

    params = module.params
    try:
        report = ensure_key_pair(params["path"], params["public_key_path"], params["passphrase"], params["format"],
                                 module.check_mode)
    except CnabError as exc:
        fail(module, exc)
    module.exit_json(**report)
