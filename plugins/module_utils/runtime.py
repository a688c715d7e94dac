"""Executes a request along the one data path:

bundle -> resolved values -> plan -> prepare (driver) + validate -> lock -> ``running`` claim
-> driver run -> outputs -> final result.

This module is the deciding half: it reads the bundle, the values and the installation's claims
and decides; a no-op ends here. What runs (drivers, the run under the lock, outputs, results, the
dependency graph's runs) is execution.py, imported only when something runs, so that a no-op
compiles none of it on the target.

Plain Python; the Ansible adapter builds a ``Request`` and renders the ``Response``.
"""

import os

from ansible_collections.cnab.runtime.plugins.module_utils import extensions, parameter_sources, sources
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle, canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, CnabError, DependencyError
from ansible_collections.cnab.runtime.plugins.module_utils.identifiers import InstallationName
from ansible_collections.cnab.runtime.plugins.module_utils.lookup import recorded_parameters
from ansible_collections.cnab.runtime.plugins.module_utils.plan import Desired, decide, digest_decides

# Intents whose parameters and bundle default to the last successful modifying claim's.
_REUSES_STORED_INPUTS = ("upgrade", "uninstall", "absent", "action")


class Request:
    def __init__(self, intent, installation=None, bundle=None, parameters=None, credentials=None, action=None,
                 force=False, check_mode=False, driver="docker", driver_options=None, claim_store=None,
                 lock_timeout=300, reveal_sensitive=False, break_lock=False, registry_auth=None, verify=None,
                 dependencies=None):
        self.intent = intent
        self.installation = installation
        self.bundle = bundle
        self.parameters = parameters
        self.credentials = credentials
        self.action = action
        self.force = force
        self.check_mode = check_mode
        self.driver = driver
        self.driver_options = driver_options or {}
        self.claim_store = claim_store or {}
        self.lock_timeout = lock_timeout
        self.reveal_sensitive = reveal_sensitive
        self.break_lock = break_lock
        self.registry_auth = registry_auth or {}  # registry options of a bundle given as a reference
        self.verify = verify or {}  # signature policy: keys, required (signing/gate.py)
        # Per-dependency options: {alias: {parameters, credentials, bundle}} (io.cnab.dependencies).
        self.dependencies = dependencies or {}
        # Set by the graph run (execution.execute_graph), never by the adapter:
        self.opened_source = None  # the BundleSource already opened (and checked) for this run
        self.read_installation = None  # the Installation the graph run read for this run, before the lock
        self.wiring = None  # {alias: (installation name, bundle document)} of the root's dependencies
        self.claim_extra = {}  # more custom["cnab.runtime"] keys for the claims of this run


class Response:
    def __init__(self, changed, operation, reason, diff=None):
        self.changed = changed
        self.operation = operation or "none"
        self.reason = reason
        self.diff = diff
        self.claim = None
        self.result = None
        self.outputs = {}
        self.binary_outputs = []  # names of outputs whose bytes are not UTF-8: base64 text in ``outputs``
        self.logs = ""
        self.failed = False
        self.secrets = []  # values the adapter must also mask (sensitive parameters, credentials, outputs)
        self.warnings = []
        self.plan = None  # a bundle with dependencies: one entry per installation of the graph, in run order
        self.installation = None  # the installation whose action failed, when it is not the request's

    def as_dict(self):
        data = {"changed": self.changed, "operation": self.operation, "reason": self.reason, "outputs": self.outputs,
                "binary_outputs": self.binary_outputs, "logs": self.logs}
        for key in ("claim", "result", "diff", "plan"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


class Inputs:
    """Everything resolved from the request before any decision.

    ``parameters`` are what the claim records and the fingerprint covers; ``values`` are what the
    action gets: the same plus, once the decision is taken, values from parameter sources
    (execution.with_sources), which change with every run and so take no part in the decision."""

    def __init__(self, source, parameters, credentials, key, recorded_sensitive=()):
        self.source = source
        self.bundle = bundle = source.bundle if source else None
        self.parameters = parameters
        self.values = parameters
        self.sourced = {}  # name -> parameter_sources.SourcedValue
        self.credentials = credentials
        self.parameters_fp = v.fingerprint(key, parameters) if bundle else None
        self.credentials_fp = v.fingerprint(key, credentials) if bundle else None
        self.masker = v.Masker()
        for name, value in credentials.items():
            self.masker.add(value, 'credential "%s"' % name)
        # Names of the parameters to mask: those the bundle declares sensitive and those an earlier
        # claim recorded as sensitive; None when no bundle says which are (mask them all).
        self.sensitive_parameters = None
        self.extra_files = {}  # container path -> content: the dependencies' bundle.json files
        self.secret_parameters = set()  # names whose value came from a dependency's sensitive output
        if bundle:
            names = set(v.split_sensitive(bundle, parameters)[1]) | (set(recorded_sensitive) & set(parameters))
            self.sensitive_parameters = sorted(names)
            self.add_secrets({name: parameters[name] for name in self.sensitive_parameters})

    def add_secrets(self, values):
        """Mask these parameter values, and the decoded content of the file parameters among them."""
        for name, value in values.items():
            self.masker.add(value, 'parameter "%s"' % name)
        for name, content in v.file_parameter_contents(self.bundle, values).items():
            self.masker.add(content, 'parameter "%s"' % name)


def execute(request, on_secrets=None):
    """Run ``request``. ``on_secrets(masker, sensitive_parameters)`` learns the secrets to mask and
    the names of the sensitive parameters (None: unknown) as soon as they are known."""
    store = open_store(request.claim_store)
    if request.intent == "action" and request.bundle:
        # A stateless action needs no installation: nothing is read from the store.
        source = sources.apply_policy(sources.open_source(request.bundle, request.registry_auth), request.verify)
        if action_info(source.bundle, request.action).stateless:
            parameters = v.encode_file_parameters(source.bundle, request.parameters)
            return _execution().run_untracked(request, source, parameters, request.credentials, on_secrets)
    # The run's one check of its name (a dependency's comes checked); from here on it is an
    # InstallationName, and the history read here is the one read before the lock.
    name = InstallationName(request.installation)
    installation = request.read_installation if request.read_installation is not None else store.installation(name)
    inputs = resolve(store, installation, request, on_secrets)
    graph = _declared_dependencies(inputs.bundle) if inputs.bundle is not None and request.wiring is None else []
    if graph:
        options = _dependency_options(request, graph)
        return _execution().execute_graph(store, installation, request, inputs, graph, options, on_secrets)
    return execute_one(store, installation, request, inputs, on_secrets)


def _declared_dependencies(bundle):
    """The dependencies ``bundle`` declares, in run order. dependencies.py (version ranges, tag
    resolution) is imported only for a bundle whose custom section names io.cnab.dependencies."""
    custom = bundle.document.get("custom")
    if not isinstance(custom, dict) or extensions.DEPENDENCIES not in custom:
        return []  # what dependencies.declared says of such a bundle
    from ansible_collections.cnab.runtime.plugins.module_utils import dependencies

    return dependencies.declared(bundle)


def _execution():
    """The executing half: imported when something runs, never on a no-op."""
    from ansible_collections.cnab.runtime.plugins.module_utils import execution

    return execution


def execute_one(store, installation, request, inputs, on_secrets):
    """Decide ``request`` on one installation (the root of a graph is one too, with its wiring), and
    run what the decision says through execution.py."""
    info = action_info(inputs.bundle, request.action) if request.intent == "action" else None
    if info is not None and info.stateless:
        return _execution().run_stateless(store, request, inputs, info, on_secrets)
    plan, response = plan_run(installation, inputs, request, info)
    if plan.operation is None:
        return response
    return _execution().run_planned(store, installation, request, inputs, plan, response, info, on_secrets)


def action_info(bundle, action):
    try:
        return bundle.action(action)
    except (AttributeError, TypeError) as exc:
        bundle.validate()  # a malformed "actions": let validation say what is wrong
        raise BundleError("bundle.json is malformed: %s." % exc) from exc


def plan_run(installation, inputs, request, action_info):
    """The plan of ``request`` for ``installation`` and the response of a run that stops there."""
    desired = Desired(request.intent, inputs.bundle and inputs.bundle.digest, inputs.parameters_fp,
                      inputs.credentials_fp, action_info, request.force,
                      index_digest=inputs.source and inputs.source.index_digest)
    plan = decide(installation, desired)
    response = Response(plan.changed, plan.operation, plan.reason, _diff(installation, inputs, plan))
    response.secrets = inputs.masker.secrets
    response.warnings.extend(inputs.source.warnings if inputs.source else ())
    response.warnings.extend(v.weak_secret_warnings(inputs.masker))
    if plan.operation is not None and inputs.bundle is not None:
        response.warnings.extend(inputs.bundle.warnings())
    return plan, response


def resolve(store, installation, request, on_secrets):
    """The run's ``Inputs``: its bundle (opened and checked against the signature policy), values and
    credentials, resolved and fingerprinted before any decision."""
    stored = installation.last_successful_modifying or installation.last_modifying
    if request.opened_source is not None:
        source = request.opened_source  # opened and checked by the graph run
    elif request.bundle:
        # The claim the decision compares with spares fetching a bundle it already recorded.
        source = sources.open_source(request.bundle, request.registry_auth, installation.last_successful_modifying,
                                     resolve_tag=digest_decides(installation, request.intent, request.force))
    elif stored is not None and request.intent in _REUSES_STORED_INPUTS:
        source = sources.from_claim(stored, request.registry_auth)
    elif request.intent not in ("uninstall", "absent") or installation.exists:
        raise BundleError("no bundle was given for installation %s: set the bundle option." % installation.name)
    else:
        source = None
    # Signatures are checked before anything runs; a refusal raises SignatureError here.
    if request.opened_source is None:
        sources.apply_policy(source, request.verify, installation.last_successful_modifying if request.bundle else stored)
    bundle = source.bundle if source else None
    parameters = request.parameters
    reused = parameters is None and stored is not None and request.intent in _REUSES_STORED_INPUTS
    if reused:  # recorded values: file parameters already encoded
        parameters = dict(stored.get("parameters") or {})
        parameters.update(store.sensitive_parameters(installation.name, stored["id"]))
    # Check mode writes nothing, not even the store's key: a store without one holds no claim whose
    # fingerprints could be compared, so a throwaway key decides the same.
    key = store.fingerprint_key(create=not request.check_mode) or os.urandom(32)
    if bundle is None:
        return Inputs(None, {}, {}, key)
    if not reused:
        parameters = v.encode_file_parameters(bundle, parameters)
    fed = _dependency_values(store, bundle, request.wiring, parameters) if request.wiring else {}
    if fed:  # inputs like the user's: recorded and compared, so a new dependency output is an upgrade
        parameters = dict(parameters or {}, **{n: s.value for n, s in fed.items()})
    try:
        # A parameter fed by an output and not given is resolved afresh for every run (execution.with_sources):
        # neither recorded nor compared, or each run's new state would be a change.
        resolved = parameter_sources.compared_parameters(bundle, parameters)
        credentials = v.declared_credentials(bundle, request.credentials)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        bundle.validate()  # a malformed bundle: let validation say what is wrong
        raise BundleError("bundle.json is malformed: %s." % exc) from exc
    inputs = Inputs(source, resolved, credentials, key, recorded_sensitive_parameters(installation))
    inputs.secret_parameters = {n for n, s in fed.items() if s.sensitive}
    if inputs.secret_parameters:
        inputs.add_secrets({n: s.value for n, s in fed.items() if s.sensitive})
        inputs.sensitive_parameters = sorted(set(inputs.sensitive_parameters or ()) | inputs.secret_parameters)
    for alias, (_name, document) in sorted((request.wiring or {}).items()):
        if document is not None:
            inputs.extra_files["/cnab/app/dependencies/%s/bundle.json" % alias] = canonical_json(document)
    if on_secrets:
        on_secrets(inputs.masker, inputs.sensitive_parameters)
    return inputs


def _state_view(source, parameters, claim=None):
    if claim is not None:
        custom = model.runtime_custom(claim)
        view = {"bundle": {"name": claim["bundle"].get("name"), "version": claim["bundle"].get("version"),
                           "digest": custom.get("bundleDigest")},
                "parameters": recorded_parameters(claim)}
        index_digest = custom.get("indexDigest")
    else:
        bundle = source.bundle
        view = {"bundle": {"name": bundle.name, "version": bundle.version, "digest": bundle.digest},
                "parameters": v.masked_parameters(bundle, parameters)}
        index_digest = source.index_digest
    if index_digest:
        view["bundle"]["index_digest"] = index_digest
    return view


def _diff(installation, inputs, plan):
    before_claim = installation.last_successful_modifying if installation.installed else None
    before = _state_view(None, None, before_claim) if before_claim else {}
    if plan.operation == "uninstall":
        after = {}
    elif plan.operation is None or inputs.bundle is None:
        after = before
    else:
        after = _state_view(inputs.source, inputs.parameters)
    return {"before": before, "after": after}


def sensitive_inputs(request):
    """For a run that failed before its inputs were resolved: ``(names, masker)``, the names of the
    given parameters to mask (None: all of them) and a masker of their values. Without network:
    the sensitivity the bundle option declares when it can be read locally, together with the names
    the installation's recorded claim marks sensitive. When in doubt (no readable bundle, a registry
    bundle, an unreadable store), every given parameter is masked."""
    given = request.parameters if isinstance(request.parameters, dict) else {}
    names = _sensitive_names(request, given)
    masker = v.Masker()
    for name, value in given.items():
        if names is None or name in names:
            masker.add(value, 'parameter "%s"' % name)
    return names, masker


def recorded_sensitive_parameters(installation):
    """Names any claim of ``installation`` recorded as sensitive: masked even when a new bundle
    no longer declares them so."""
    names = set()
    for claim in installation.claims:
        recorded = model.runtime_custom(claim).get("sensitiveParameters")
        if isinstance(recorded, list):
            names.update(name for name in recorded if isinstance(name, str))
    return names


def _sensitive_names(request, given):
    try:
        recorded, stored = set(), None
        if request.installation:
            installation = open_store(request.claim_store).installation(InstallationName(request.installation))
            stored = installation.last_successful_modifying or installation.last_modifying
            recorded = recorded_sensitive_parameters(installation)
        if request.bundle:
            if sources.kind_of(request.bundle) == sources.REGISTRY:
                return None  # never fetched, or it failed on the way: which parameters are secret is unknown
            bundle = sources.masking_bundle(request.bundle)
        else:
            bundle = Bundle(stored["bundle"]) if stored else None
        if bundle is None:
            return None
        return sorted({name for name in given if bundle.is_sensitive_parameter(name)} | (recorded & set(given)))
    except (CnabError, OSError, TypeError, KeyError, AttributeError, ValueError, RecursionError):
        return None


# --- dependencies (io.cnab.dependencies) ------------------------------------------------------
#
# Each dependency is its own installation ``<root>-<alias>``, run by ``execute`` as any other (its
# own decision, lock, claims), in the same store with the same driver. Install and upgrade run the
# dependencies in order, then the root; uninstall runs the root, then the dependencies in reverse;
# custom actions run on the root only. A run holds at most one lock at a time (each installation's
# for its own action, released before the next), so two runs of the same graph cannot deadlock:
# they serialise installation by installation, and the second finds each one done.

_OPTION_KEYS = ("parameters", "credentials", "bundle")
# The graph's runs are execution.execute_graph; the options are checked here, before any of them.


def _dependency_options(request, graph):
    aliases = [d.alias for d in graph]
    given = request.dependencies or {}
    if not isinstance(given, dict):
        raise DependencyError("the dependencies option must map dependency aliases to their options.")
    for alias, options in given.items():
        if alias not in aliases:
            raise DependencyError('the dependencies option names "%s", which is not a dependency of installation %s'
                                  " (its dependencies: %s)." % (alias, request.installation, ", ".join(aliases)))
        if options is not None and (not isinstance(options, dict) or set(options) - set(_OPTION_KEYS)):
            raise DependencyError('the options of dependency "%s" must be a dict with keys among %s.'
                                  % (alias, ", ".join(_OPTION_KEYS)))
    return {alias: dict(given.get(alias) or {}) for alias in aliases}


def _dependency_values(store, bundle, wiring, given):
    """Root parameters fed by ``dependencies.output`` sources: the dependency's latest output. Only
    the dependencies such a source reads are read from the store."""
    given = {n for n, value in (given or {}).items() if value is not None}
    read = {alias for parameter, (alias, _output) in parameter_sources.dependency_sources(bundle).items()
            if parameter not in given}
    fed = {}
    for alias, (name, _document) in sorted(wiring.items()):
        if alias not in read:
            continue
        fed.update(parameter_sources.resolve_dependency(bundle, alias, store.installation(name), store.output_values,
                                                        skip=given))
    return fed
