"""The Ansible-aware layer's shared part: argument specs with environment fallbacks (options declared
once per concern), the module class that keeps secrets out of what a module returns, and ``fail``.

The runners of the modules live beside it, one file per family (adapter_lifecycle, adapter_claims,
adapter_setup, adapter_bundle), so that each module's payload carries only the code its family runs;
those files and this one are the only code with Ansible imports. Typed runtime errors become
``fail_json(msg=...)`` there and nowhere else, through ``fail``.
"""

import copy
import os

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK
from ansible_collections.cnab.runtime.plugins.module_utils.errors import MissingLibrary
from ansible_collections.cnab.runtime.plugins.module_utils.values import Masker

# Kubernetes connection settings (the variables kubernetes.core users know), declared once: the
# kubernetes claim store and the kubernetes driver each take them (docs: doc_fragments/kubernetes.py).
KUBERNETES_CONNECTION = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG", "KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    ca_cert=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    validate_certs=dict(type="bool", fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
)


def _with_kubernetes_connection(before, after):
    """Suboptions ``before``, then the Kubernetes connection settings, then ``after``."""
    options = dict(before)
    options.update(copy.deepcopy(KUBERNETES_CONNECTION))
    options.update(after)
    return options


CLAIM_STORE_SPEC = dict(
    type="dict",
    apply_defaults=True,
    options=_with_kubernetes_connection(
        dict(
            backend=dict(type="str", default="local", choices=["local", "kubernetes", "azure_blob", "porter_v0"],
                         fallback=(env_fallback, ["CNAB_CLAIM_STORE"])),
            # local, porter_v0: each store takes its own default ($CNAB_HOME, $PORTER_HOME)
            path=dict(type="path"),
            # kubernetes: its namespace, then the connection
            namespace=dict(type="str", default="cnab", fallback=(env_fallback, ["CNAB_CLAIM_NAMESPACE"])),
        ),
        dict(
            # azure_blob (and porter_v0's blob container): the default and fallback depend on the backend
            container=dict(type="str"),
            connection_string=dict(type="str", no_log=True,
                                   fallback=(env_fallback, ["AZURE_STORAGE_CONNECTION_STRING"])),
            account_url=dict(type="str", fallback=(env_fallback, ["AZURE_STORAGE_ACCOUNT_URL"])),
            account_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_STORAGE_KEY"])),
            sas_token=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_STORAGE_SAS_TOKEN"])),
            encryption_key=dict(type="str", no_log=True, fallback=(env_fallback, ["CNAB_CLAIM_ENCRYPTION_KEY"])),
            # remote locks
            lease_seconds=dict(type="int", default=30, fallback=(env_fallback, ["CNAB_LEASE_SECONDS"])),
        ),
    ),
)

# Environment fallbacks that belong to one backend (an argument spec cannot say so): a porter_v0
# store must not read the container named for the team's azure_blob store.
BACKEND_FALLBACKS = {"azure_blob": {"container": "CNAB_CLAIM_CONTAINER"}}


def backend_fallbacks(options, environ=None):
    """``claim_store`` options with the environment fallbacks of their backend filled in."""
    environ = os.environ if environ is None else environ
    options = dict(options or {})
    for key, variable in BACKEND_FALLBACKS.get(options.get("backend") or "local", {}).items():
        if options.get(key) is None and environ.get(variable):
            options[key] = environ[variable]
    return options


# Registry connection settings shared by every module that reaches an OCI registry.
REGISTRY_AUTH_SPEC = dict(
    type="dict",
    apply_defaults=True,
    options=dict(
        username=dict(type="str", fallback=(env_fallback, ["CNAB_REGISTRY_USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, ["CNAB_REGISTRY_PASSWORD"])),
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["CNAB_REGISTRY_TOKEN"])),
        docker_config=dict(type="path", fallback=(env_fallback, ["DOCKER_CONFIG"])),
        ca_cert=dict(type="path", fallback=(env_fallback, ["CNAB_REGISTRY_CA_CERT"])),
        insecure=dict(type="bool", default=False, fallback=(env_fallback, ["CNAB_REGISTRY_INSECURE"])),
        timeout=dict(type="int", default=60, fallback=(env_fallback, ["CNAB_REGISTRY_TIMEOUT"])),
        retries=dict(type="int", default=3),
    ),
)

# Signing on push (cnab_bundle): the private key and its passphrase (cosign's variable too).
SIGN_SPEC = dict(
    type="dict",
    apply_defaults=True,
    options=dict(
        key=dict(type="path", fallback=(env_fallback, ["CNAB_SIGNING_KEY"])),
        passphrase=dict(type="str", no_log=True,
                        fallback=(env_fallback, ["CNAB_SIGNING_KEY_PASSWORD", "COSIGN_PASSWORD"])),
    ),
)

# Verification policy: trusted public keys, and whether an unverified bundle is refused.
VERIFY_SPEC = dict(
    type="dict",
    apply_defaults=True,
    options=dict(
        keys=dict(type="list", elements="path", no_log=False, fallback=(env_fallback, ["CNAB_VERIFY_KEYS"])),
        required=dict(type="bool", default=False, fallback=(env_fallback, ["CNAB_VERIFY_REQUIRED"])),
    ),
)

# The driver's settings; the kubernetes driver's namespace and connection are those cnab_driver_setup takes.
KUBERNETES_DRIVER_SETUP = dict(
    namespace=dict(type="str", default="cnab", fallback=(env_fallback, ["CNAB_DRIVER_NAMESPACE"])),
)
DRIVER_OPTIONS_SPEC = dict(
    type="dict",
    apply_defaults=True,
    options=_with_kubernetes_connection(
        dict(
            docker_host=dict(type="str", fallback=(env_fallback, ["DOCKER_HOST"])),
            tls_verify=dict(type="bool", fallback=(env_fallback, ["DOCKER_TLS_VERIFY"])),
            cert_path=dict(type="path", fallback=(env_fallback, ["DOCKER_CERT_PATH"])),
            pull=dict(type="str", default="missing", choices=["missing", "always", "never"],
                      fallback=(env_fallback, ["CNAB_DOCKER_PULL"])),
            network=dict(type="str", fallback=(env_fallback, ["CNAB_DOCKER_NETWORK"])),
            keep_container=dict(type="bool", default=False),
            stop_timeout=dict(type="int", default=10),
            timeout=dict(type="int", fallback=(env_fallback, ["CNAB_DRIVER_TIMEOUT"])),
            api_version=dict(type="str", fallback=(env_fallback, ["DOCKER_API_VERSION"])),
            allow_docker_host_access=dict(type="bool", default=False,
                                          fallback=(env_fallback, ["CNAB_ALLOW_DOCKER_HOST_ACCESS"])),
            # kubernetes: the namespace and the connection, then the Job's settings
            **copy.deepcopy(KUBERNETES_DRIVER_SETUP)
        ),
        dict(
            service_account=dict(type="str", fallback=(env_fallback, ["CNAB_DRIVER_SERVICE_ACCOUNT"])),
            image_pull_secrets=dict(type="list", elements="str", no_log=False),  # Secret names, not secrets
            node_selector=dict(type="dict"),
            tolerations=dict(type="list", elements="dict"),
            resources=dict(type="dict"),
            labels=dict(type="dict"),
            annotations=dict(type="dict"),
            keep_resources=dict(type="bool", default=False),
            ttl_seconds=dict(type="int", default=300),
            helper_image=dict(type="str", fallback=(env_fallback, ["CNAB_K8S_HELPER_IMAGE"])),
            # plugin drivers (cnab-<name> executables, entry points)
            config=dict(type="dict"),
        ),
    ),
)

# Options by concern, each declared once; a module's argument spec is the union of the concerns it
# uses and its own options (MODULE_CONCERNS). The doc fragments have the same names.
CONCERNS = dict(
    # What one run of an installation takes (doc fragment cnab.runtime.lifecycle).
    lifecycle=dict(
        installation=dict(type="str"),
        bundle=dict(type="str", fallback=(env_fallback, ["CNAB_BUNDLE"])),
        parameters=dict(type="dict"),
        credentials=dict(type="dict", no_log=True),
        lock_timeout=dict(type="int", default=300, fallback=(env_fallback, ["CNAB_LOCK_TIMEOUT"])),
        # {alias: {parameters, credentials, bundle}}; credential values are masked (_dependency_secrets).
        dependencies=dict(type="dict"),
        force=dict(type="bool", default=False),
        break_lock=dict(type="bool", default=False),
        reveal_sensitive=dict(type="bool", default=False),
    ),
    driver=dict(
        driver=dict(type="str", default="docker", fallback=(env_fallback, ["CNAB_DRIVER"])),
        driver_options=DRIVER_OPTIONS_SPEC,
    ),
    # cnab_driver_setup: the kubernetes driver's namespace and connection, no more.
    kubernetes_driver=dict(
        driver_options=dict(type="dict", apply_defaults=True,
                            options=_with_kubernetes_connection(KUBERNETES_DRIVER_SETUP, {})),
    ),
    claim_store=dict(claim_store=CLAIM_STORE_SPEC),
    registry=dict(registry_auth=REGISTRY_AUTH_SPEC),
    verify=dict(verify=VERIFY_SPEC),
    signing=dict(sign=SIGN_SPEC),
)

# The concerns whose options run_action_module passes on: those of every mutating module.
ACTION_CONCERNS = ("lifecycle", "driver", "claim_store", "registry", "verify")

MODULE_CONCERNS = dict(
    cnab_install=ACTION_CONCERNS,
    cnab_upgrade=ACTION_CONCERNS,
    cnab_uninstall=ACTION_CONCERNS,
    cnab_installation=ACTION_CONCERNS,
    cnab_action=ACTION_CONCERNS,
    # cnab_claim_info stays in the action group cnab, whose module_defaults may carry any option of the
    # action modules: it accepts (and ignores) them all, so that those defaults do not break it.
    cnab_claim_info=ACTION_CONCERNS,
    cnab_claim_store=("claim_store",),
    cnab_driver_setup=("kubernetes_driver",),
    cnab_bundle=("registry", "verify", "signing"),
)

# Options a module accepts only for the module_defaults of its action group, and never reads.
GROUP_ONLY_OPTIONS = dict(
    cnab_claim_info=frozenset(
        set().union(*(CONCERNS[name] for name in ACTION_CONCERNS)) - {"installation", "claim_store", "reveal_sensitive"}
    ),
)


def argument_spec(module_name, extra=None, required=()):
    """The argument spec of ``module_name``: its concerns' options, then its own ``extra``, with
    ``required`` made required."""
    spec = {}
    for concern in MODULE_CONCERNS[module_name]:
        spec.update(copy.deepcopy(CONCERNS[concern]))
    spec.update(copy.deepcopy(extra or {}))
    for name in required:
        spec[name]["required"] = True
    return spec


class CnabModule(AnsibleModule):
    # Names of the ``parameters`` values that are sensitive, once a bundle says; None: mask them all.
    sensitive_parameters = None
    masker = Masker()

    def keep_secrets(self, masker, sensitive_parameters=None):
        """Keep ``masker``'s secrets out of everything the module returns."""
        self.sensitive_parameters = sensitive_parameters
        self.masker = self.masker.combined(masker)
        self.no_log_values.update(masker.secrets)
        # Ansible masks no_log values inside every word: a short one ("t", "80") would blank every
        # "t" of the result. The runtime masks such values as whole tokens, and the invocation
        # record masks credentials and sensitive parameters whole (see invocation_record). A value
        # that is also another no_log option's stays, as that option's record is Ansible's.
        others = _no_log_leaves(self.argument_spec, self.params, skip=("credentials",))
        self.no_log_values.difference_update(set(masker.short_values) - others)

    def invocation_record(self):
        """``invocation.module_args`` (shown with -vvv) with every credential and every sensitive
        parameter masked whole, whatever its length, and all parameter values while the bundle
        (which says which are sensitive) is unknown. AnsibleModule uses a given ``invocation``
        and still applies no_log_values to it."""
        args = dict(getattr(self, "params", None) or {})
        given = args.get("parameters")
        if isinstance(given, dict):
            names = self.sensitive_parameters
            args["parameters"] = {name: SENSITIVE_MASK if names is None or name in names else value
                                  for name, value in given.items()}
        if isinstance(args.get("credentials"), dict):
            args["credentials"] = dict.fromkeys(args["credentials"], SENSITIVE_MASK)
        return {"module_args": args}

    def exit_json(self, **kwargs):
        kwargs.setdefault("invocation", self.invocation_record())
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.setdefault("invocation", self.invocation_record())
        super().fail_json(msg=self.masker.mask(msg), **kwargs)

    def _log_invocation(self):
        # Which parameters are sensitive is declared by the bundle, not yet loaded when
        # AnsibleModule logs its invocation to syslog: log parameter names, never values.
        # No public hook does this: no_log=True on ``parameters`` would also add every value to
        # no_log_values and so mask it in the whole result (outputs, diff), and the task's
        # no_log/no_target_syslog are the user's switches, not the module's.
        given = self.params.get("parameters")
        if not given:
            return super()._log_invocation()
        self.params["parameters"] = dict.fromkeys(given, "NOT_LOGGING_VALUE")
        try:
            return super()._log_invocation()
        finally:
            self.params["parameters"] = given


def _no_log_leaves(spec, params, skip=()):
    """The texts of the values of every no_log option in ``params`` (but ``skip``), at any depth."""
    found = set()
    for name, option in spec.items():
        value = (params or {}).get(name)
        if name in skip or value is None:
            continue
        if option.get("no_log"):
            found |= _leaves(value)
        elif option.get("options") and isinstance(value, dict):
            found |= _no_log_leaves(option["options"], value)
    return found


def _leaves(value):
    if isinstance(value, dict):
        return set().union(*(_leaves(item) for item in value.values()))
    if isinstance(value, (list, tuple, set)):
        return set().union(*(_leaves(item) for item in value))
    return {str(value)}


def fail(module, exc, **result):
    """``fail_json`` for a runtime error: its sentence (Ansible's own for a missing library), and
    its traceback as ``exception`` for -vvv, masked like every other text the module returns."""
    import traceback

    msg = str(exc)
    if isinstance(exc, MissingLibrary):
        msg = missing_required_lib(exc.package, reason=exc.needed_for)
    cause = Masker(module.no_log_values).mask("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    module.fail_json(msg=msg, exception=cause, **result)
