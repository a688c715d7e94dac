"""Executes a request along the one data path:

bundle -> resolved values -> plan -> lock + ``running`` claim -> driver -> outputs -> final result.

Plain Python; the Ansible adapter builds a ``Request`` and renders the ``Response``.
"""

import contextlib
import json
import signal

from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle, canonical_json, load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import check_installation_name, open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, Cancelled, CnabError
from ansible_collections.cnab.runtime.plugins.module_utils.plan import Desired, decide

# Intents whose parameters and bundle default to the last successful modifying claim's.
_REUSES_STORED_INPUTS = ("upgrade", "uninstall", "absent", "action")


class Request:
    def __init__(self, intent, installation=None, bundle=None, parameters=None, credentials=None, action=None,
                 force=False, check_mode=False, driver="docker", driver_options=None, claim_store=None,
                 lock_timeout=300, reveal_sensitive=False):
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


class Response:
    def __init__(self, changed, operation, reason, diff=None):
        self.changed = changed
        self.operation = operation or "none"
        self.reason = reason
        self.diff = diff
        self.claim = None
        self.result = None
        self.outputs = {}
        self.logs = ""
        self.failed = False
        self.secrets = []  # values the adapter must also mask (sensitive parameters, credentials, outputs)
        self.warnings = []

    def as_dict(self):
        data = {"changed": self.changed, "operation": self.operation, "reason": self.reason, "outputs": self.outputs,
                "logs": self.logs}
        if self.claim is not None:
            data["claim"] = self.claim
        if self.result is not None:
            data["result"] = self.result
        if self.diff is not None:
            data["diff"] = self.diff
        return data


class _Inputs:
    """Everything resolved from the request before any decision."""

    def __init__(self, bundle, parameters, credentials, key):
        self.bundle = bundle
        self.parameters = parameters
        self.credentials = credentials
        self.parameters_fp = v.fingerprint(key, parameters) if bundle else None
        self.credentials_fp = v.fingerprint(key, credentials) if bundle else None
        self.masker = v.Masker(list(credentials.values()))
        if bundle:
            for name, value in v.split_sensitive(bundle, parameters)[1].items():
                self.masker.add(value)


def execute(request):
    store = open_store(request.claim_store)
    if request.intent == "action" and request.bundle:
        # A stateless action needs no installation: nothing is read from the store.
        bundle = load_bundle(request.bundle)
        if bundle.action(request.action).stateless:
            return _run_untracked(request, bundle, request.parameters, request.credentials)
    name = check_installation_name(request.installation)
    installation = store.installation(name)
    inputs = _resolve(store, installation, request)
    action_info = inputs.bundle.action(request.action) if request.intent == "action" else None
    if action_info is not None and action_info.stateless:
        return _run_untracked(request, inputs.bundle, inputs.parameters, inputs.credentials)
    desired = Desired(request.intent, inputs.bundle and inputs.bundle.digest, inputs.parameters_fp,
                      inputs.credentials_fp, action_info, request.force)
    plan, response = _plan(store, installation, inputs, desired)
    if plan.operation is None:
        return response
    if request.check_mode:
        info = _validate(inputs, plan.operation)
        if info.modifies:
            return response
        # Non-modifying actions run in check mode too, but leave no record behind.
        return _run_untracked(request, inputs.bundle, inputs.parameters, inputs.credentials,
                              name, installation.current_revision)
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import get_driver

    driver = get_driver(request.driver, request.driver_options)
    with _cancellation():
        try:
            # Validated and prepared before the lock: bad input fails at once, even while
            # another run holds the lock, and leaves nothing behind.
            prepared = _Prepared(driver, installation, request, inputs, plan.operation)
            with store.lock(name, request.lock_timeout):
                # Decide again under the lock: another run may have finished in between.
                installation = _settle_interrupted(store, store.installation(name))
                plan, response = _plan(store, installation, inputs, desired)
                if plan.operation is None:
                    return response
                if not prepared.still_fits(installation, plan.operation):
                    driver.discard()
                    prepared = _Prepared(driver, installation, request, inputs, plan.operation)
                return _run(store, installation, request, inputs, prepared, response)
        finally:
            driver.discard()  # a container prepared for nothing; no-op after a run


def _plan(store, installation, inputs, desired):
    plan = decide(installation, desired)
    response = Response(plan.changed, plan.operation, plan.reason, _diff(store, installation, inputs, plan))
    response.secrets = inputs.masker.secrets
    return plan, response


def _resolve(store, installation, request):
    stored = installation.last_successful_modifying or installation.last_modifying
    bundle = None
    if request.bundle:
        bundle = load_bundle(request.bundle)
    elif stored is not None and request.intent in _REUSES_STORED_INPUTS:
        bundle = Bundle(stored["bundle"], stored.get("bundleReference"))
    elif request.intent not in ("uninstall", "absent") or installation.exists:
        raise BundleError("no bundle was given for installation %s: set the bundle option." % installation.name)
    parameters = request.parameters
    if parameters is None and stored is not None and request.intent in _REUSES_STORED_INPUTS:
        parameters = dict(stored.get("parameters") or {})
        parameters.update(store.sensitive_parameters(installation.name, stored["id"]))
    key = store.fingerprint_key()
    if bundle is None:
        return _Inputs(None, {}, {}, key)
    resolved = v.resolve_parameters(bundle, parameters, validate=False)
    credentials = {n: v.read_credential(n, c) for n, c in (request.credentials or {}).items() if n in bundle.credentials}
    return _Inputs(bundle, resolved, credentials, key)


def _validate(inputs, operation):
    """Everything a run needs, checked before anything is written. Skipped on no-op runs,
    whose inputs equal those a validated run stored."""
    bundle = inputs.bundle
    bundle.validate()
    info = bundle.action(operation)
    v.resolve_parameters(bundle, inputs.parameters, validate=True)
    v.check_required_parameters(bundle, operation, inputs.parameters)
    v.resolve_credentials(bundle, info, inputs.credentials)
    return info


def _settle_interrupted(store, installation):
    """We hold the lock, so a ``running`` claim belongs to a run that died: record it as unknown."""
    claim = installation.in_progress_claim
    if claim is None:
        return installation
    result = model.new_result(claim, model.STATUS_UNKNOWN,
                              "the run ended without recording a result; its process died or lost the claim store")
    store.write_result(installation.name, result, {}, ())
    return store.installation(installation.name)


def _operation_files_and_env(bundle, claim, action, inputs):
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import Operation

    env = {
        "CNAB_INSTALLATION_NAME": claim["installation"],
        "CNAB_BUNDLE_NAME": bundle.name,
        "CNAB_BUNDLE_VERSION": bundle.version,
        "CNAB_ACTION": action,
        "CNAB_REVISION": claim["revision"],
        "CNAB_CLAIMS_VERSION": model.CLAIMS_VERSION,
    }
    files = {"/cnab/bundle.json": canonical_json(bundle.document),
             "/cnab/claim.json": json.dumps(claim, sort_keys=True)}
    p_env, p_files = v.parameter_destinations(bundle, action, inputs.parameters)
    c_env, c_files = v.credential_destinations(bundle, action, inputs.credentials)
    # Order matters: CNAB_* last so nothing overrides them, credentials over parameters.
    environment = dict(p_env, **c_env)
    environment.update(env)
    files.update(p_files)
    files.update(c_files)
    return Operation(claim["installation"], action, claim["revision"], bundle, bundle.invocation_image(),
                     environment, files, v.wanted_outputs(bundle, action), claim["id"])


class _Prepared:
    """A claim and its operation, validated, with the driver ready to start it."""

    def __init__(self, driver, installation, request, inputs, action):
        bundle = inputs.bundle
        try:
            self.info = bundle.action(action)
            revision = model.new_ulid() if self.info.modifies else installation.current_revision
            public, self.sensitive = v.split_sensitive(bundle, inputs.parameters)
            self.claim = model.new_claim(installation.name, self.info.name, bundle, public, revision, {
                "bundleDigest": bundle.digest,
                "parametersFingerprint": inputs.parameters_fp,
                "credentialsFingerprint": inputs.credentials_fp,
                "modifies": self.info.modifies,
                "sensitiveParameters": sorted(self.sensitive),
                "driver": request.driver,
            })
            self.operation = _operation_files_and_env(bundle, self.claim, self.info.name, inputs)
        except CnabError:
            _validate(inputs, action)  # a malformed bundle: report what validation says is wrong
            raise
        self.driver = driver
        _prepare_while_validating(driver, self.operation, inputs)

    def still_fits(self, installation, action):
        """False when the plan made under the lock differs, or another run recorded a claim
        since this one was made (claim ids must grow with time, and the revision may be stale)."""
        newest = installation.claims[-1]["id"] if installation.claims else ""
        return action == self.info.name and newest < self.claim["id"]


def _run(store, installation, request, inputs, prepared, response):
    """Record ``running``, run the prepared operation, record the result. Under the lock."""
    claim, driver = prepared.claim, prepared.driver
    store.write_claim(claim, prepared.sensitive)
    store.write_result(installation.name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    try:
        outcome = driver.run(prepared.operation)
    except Cancelled:
        store.write_result(installation.name, model.new_result(claim, model.STATUS_CANCELED, "the run was canceled"),
                           {}, ())
        raise
    except BaseException as exc:
        message = inputs.masker.mask(str(exc) if isinstance(exc, CnabError) else "the driver failed: %s" % exc)
        store.write_result(installation.name, model.new_result(claim, model.STATUS_FAILED, message), {}, ())
        raise
    return _finish(store, installation, request, inputs, claim, outcome, response)


def _prepare_while_validating(driver, operation, inputs):
    """The driver prepares (image check, container with files) in a thread while this one
    validates the bundle and values: the engine's work overlaps ours. A validation error
    wins over a driver error, and either way the prepared container is discarded."""
    import threading

    driver.connect()  # SDK import and client here, so the thread mostly waits on the engine
    failure = []

    def prepare():
        try:
            driver.prepare(operation)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
            failure.append(exc)

    thread = threading.Thread(target=prepare, name="cnab-prepare", daemon=True)
    thread.start()
    try:
        _validate(inputs, operation.action)
    except BaseException:
        thread.join()
        driver.discard()
        raise
    thread.join()
    if failure:
        driver.discard()
        raise failure[0]


def _finish(store, installation, request, inputs, claim, outcome, response):
    bundle = inputs.bundle
    outputs, metadata, problems = v.collect_outputs(bundle, claim["action"], outcome.outputs)
    sensitive_outputs = {n for n in outputs if bundle.is_sensitive_output(n)}
    for name in sensitive_outputs:
        inputs.masker.add(outputs[name])
    if outcome.canceled:
        status, message = model.STATUS_CANCELED, "the run was canceled"
    elif outcome.succeeded and not problems:
        status, message = model.STATUS_SUCCEEDED, None
    else:
        reasons = [outcome.error] if outcome.error else []
        if outcome.exit_code not in (0, None):
            reasons.append("the invocation image exited with code %s" % outcome.exit_code)
        status, message = model.STATUS_FAILED, "; ".join(reasons + problems)
    message = inputs.masker.mask(message) if message else None
    result = model.new_result(claim, status, message, metadata)
    store.write_result(installation.name, result, outputs, sensitive_outputs)
    response.claim = claim_summary(claim)
    response.result = {"id": result["id"], "status": status, "message": message or ""}
    response.outputs = render_outputs(bundle, outputs, request.reveal_sensitive)
    response.logs = inputs.masker.mask(outcome.logs)
    response.secrets = inputs.masker.secrets
    response.failed = status != model.STATUS_SUCCEEDED
    return response


def _run_untracked(request, bundle, parameters, credentials, name=None, revision=None):
    """Run an action that leaves no record: stateless actions (no installation, no lock,
    credentials optional), and non-modifying actions in check mode."""
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import get_driver

    bundle.validate()
    info = bundle.action(request.action)
    name = check_installation_name(name or request.installation or bundle.name)
    parameters = v.resolve_parameters(bundle, parameters, validate=True)
    v.check_required_parameters(bundle, info.name, parameters)
    credentials = v.resolve_credentials(bundle, info, credentials)
    inputs = _Inputs(bundle, parameters, credentials, b"")
    response = Response(info.modifies, info.name, "stateless actions always run" if info.stateless
                        else "actions that do not modify always run and change nothing")
    response.secrets = inputs.masker.secrets
    if request.check_mode and info.modifies:
        return response
    claim = {"id": model.new_ulid(), "installation": name, "revision": revision or model.new_ulid(),
             "action": info.name, "created": model.now(), "bundle": bundle.document,
             "parameters": v.split_sensitive(bundle, parameters)[0]}
    operation = _operation_files_and_env(bundle, claim, info.name, inputs)
    driver = get_driver(request.driver, request.driver_options)
    with _cancellation():
        try:
            driver.prepare(operation)
        except BaseException:
            driver.discard()
            raise
        outcome = driver.run(operation)
    outputs, _metadata, problems = v.collect_outputs(bundle, info.name, outcome.outputs)
    for output in outputs:
        if bundle.is_sensitive_output(output):
            inputs.masker.add(outputs[output])
    ok = outcome.succeeded and not problems
    message = "; ".join(([outcome.error] if outcome.error else []) + problems) or (
        "" if ok else "the invocation image exited with code %s" % outcome.exit_code)
    response.result = {"status": model.STATUS_SUCCEEDED if ok else model.STATUS_FAILED,
                       "message": inputs.masker.mask(message)}
    response.outputs = render_outputs(bundle, outputs, request.reveal_sensitive)
    response.logs = inputs.masker.mask(outcome.logs)
    response.secrets = inputs.masker.secrets
    response.failed = not ok
    return response


@contextlib.contextmanager
def _cancellation():
    """Turn the first SIGINT/SIGTERM into ``Cancelled`` so the driver can stop the
    container, keep its outputs, and the runtime can record ``canceled``."""
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Cancelled("the run was canceled by signal %d." % signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def claim_summary(claim):
    custom = model.runtime_custom(claim)
    bundle = claim.get("bundle") or {}
    return {
        "id": claim["id"],
        "revision": claim["revision"],
        "action": claim["action"],
        "created": claim["created"],
        "bundle": {"name": bundle.get("name"), "version": bundle.get("version"), "digest": custom.get("bundleDigest"),
                   "reference": claim.get("bundleReference")},
    }


def render_outputs(bundle, outputs, reveal):
    return {n: (v.output_value(bundle, n, c) if reveal or not bundle.is_sensitive_output(n) else "********")
            for n, c in sorted(outputs.items())}


def _state_view(bundle, parameters, claim=None):
    if claim is not None:
        bundle = Bundle(claim["bundle"])
        parameters = dict(claim.get("parameters") or {})
        parameters.update({n: None for n in model.runtime_custom(claim).get("sensitiveParameters") or []})
        digest = model.runtime_custom(claim).get("bundleDigest")
    else:
        digest = bundle.digest
    return {"bundle": {"name": bundle.name, "version": bundle.version, "digest": digest},
            "parameters": v.masked_parameters(bundle, parameters)}


def _diff(store, installation, inputs, plan):
    before_claim = installation.last_successful_modifying if installation.installed else None
    before = _state_view(None, None, before_claim) if before_claim else {}
    if plan.operation == "uninstall":
        after = {}
    elif plan.operation is None or inputs.bundle is None:
        after = before
    else:
        after = _state_view(inputs.bundle, inputs.parameters)
    return {"before": before, "after": after}


# ---- claim lookup ------------------------------------------------------------------------


def describe_installation(store, name, history=False, reveal=False):
    installation = store.installation(check_installation_name(name))
    if not installation.exists:
        return {"name": name, "exists": False, "status": model.STATUS_UNKNOWN}
    current = installation.last_successful_modifying or installation.last_modifying
    bundle = Bundle(current["bundle"])
    parameters = dict(current.get("parameters") or {})
    parameters.update({n: "********" for n in model.runtime_custom(current).get("sensitiveParameters") or []})
    info = {
        "name": name,
        "exists": True,
        "status": installation.status,
        "revision": installation.current_revision,
        "bundle": claim_summary(current)["bundle"],
        "parameters": parameters,
        "outputs": render_outputs(bundle, latest_outputs(store, installation), reveal),
        "last_action": _last_action(installation),
        "lock_holder": store.lock_holder(name) or None,
    }
    if history:
        info["history"] = [
            {"claim": _public_claim(claim), "results": installation.results.get(claim["id"], [])}
            for claim in installation.claims
        ]
    return info


def _last_action(installation):
    claim = installation.claims[-1]
    result = installation.last_result(claim)
    return {"action": claim["action"], "claim_id": claim["id"], "status": installation.status_of(claim),
            "message": (result or {}).get("message", "")}


def _public_claim(claim):
    summary = claim_summary(claim)
    summary["parameters"] = claim.get("parameters") or {}
    summary["modifies"] = model.runtime_custom(claim).get("modifies", True)
    return summary


def latest_outputs(store, installation):
    """The newest value of every output name across the installation's results."""
    found = {}
    for claim in reversed(installation.claims):
        for result in reversed(installation.results.get(claim["id"], [])):
            if not result.get("outputs"):
                continue
            names = set(result["outputs"]) - set(found)
            if names:
                values = store.output_values(installation.name, result["id"])
                found.update({n: values[n] for n in names if n in values})
    return found


def list_installations(store, pattern=None, status=None):
    import fnmatch

    rows = []
    for name in store.installation_names():
        if pattern and not fnmatch.fnmatchcase(name, pattern):
            continue
        installation = store.installation(name)
        if not installation.exists or (status and installation.status != status):
            continue
        current = installation.last_successful_modifying or installation.last_modifying
        rows.append({"name": name, "status": installation.status, "bundle": claim_summary(current)["bundle"],
                     "revision": installation.current_revision})
    return rows


def sensitive_inputs(request):
    """Best effort, before anything else runs: the sensitive parameter values the user
    passed, so the adapter can mask them even in the error message of a failed run."""
    try:
        if request.bundle:
            bundle = load_bundle(request.bundle)
        else:
            store = open_store(request.claim_store)
            stored = store.installation(check_installation_name(request.installation)).last_modifying
            bundle = Bundle(stored["bundle"]) if stored else None
    except (CnabError, OSError, TypeError, KeyError):
        return []
    if bundle is None:
        return []
    return [v.to_text(value) for name, value in (request.parameters or {}).items()
            if value is not None and bundle.is_sensitive_parameter(name)]
