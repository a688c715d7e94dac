"""The one Ansible-aware layer: argument specs with environment fallbacks, turning
module parameters into a runtime ``Request``, and the response into module output.

Typed runtime errors become ``fail_json(msg=...)`` here and nowhere else.
"""

import copy
import gc
import os

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError, MissingLibrary
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
