"""The executing half of the runtime (runtime.py decides): parameter sources resolved for the run,
validation, the driver's preparation and run under the installation's lock, outputs, results, and the
runs of a dependency graph. Imported only when something runs: a no-op never compiles this file.
"""

import copy
import json
import threading

from ansible_collections.cnab.runtime.plugins.module_utils import dependencies as deps
from ansible_collections.cnab.runtime.plugins.module_utils import parameter_sources, runtime, sources
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import base as drivers
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    Cancelled,
    CnabError,
    DependencyError,
    DriverError,
)
from ansible_collections.cnab.runtime.plugins.module_utils.lookup import binary_outputs, claim_summary, render_outputs


def run_planned(store, installation, request, inputs, plan, response, action_info, on_secrets):
    """Run the operation ``plan`` decided on ``installation``: validated and prepared before the
    lock, decided again under it if another run recorded something meanwhile."""
    name = installation.name
    inputs = with_sources(store, installation, inputs, plan.operation, on_secrets)
    if request.check_mode:
        info = _validate(inputs, plan.operation)
        drivers.check_bundle_for(request.driver, request.driver_options, inputs.bundle)
        if info.modifies:
            return response
        # Non-modifying actions run in check mode too, but leave no record behind.
        return run_untracked(request, inputs.source, inputs.values, inputs.credentials, on_secrets,
                             name, installation.current_revision, inputs.masker.secrets)
    driver = drivers.get_driver(request.driver, request.driver_options)
    cancel = drivers.Cancellation()
    with cancel.installed():
        try:
            # Validated and prepared before the lock: bad input fails at once, even while
            # another run holds the lock, and leaves nothing behind.
            prepared = _Prepared(driver, installation, request, inputs, plan.operation, cancel)
            broken = store.break_lock(name) if request.break_lock else None
            with store.lock(name, request.lock_timeout):
                current = store.installation(name)
                unchanged = current.snapshot == installation.snapshot
                current = _settle_interrupted(store, current, driver, request)
                if not unchanged:
                    # Another run recorded something meanwhile: resolve, decide and prepare again.
                    inputs = runtime.resolve(store, current, request, on_secrets)
                    plan, response = runtime.plan_run(current, inputs, request, action_info)
                    if plan.operation is None:
                        return response
                    inputs = with_sources(store, current, inputs, plan.operation, on_secrets)
                    driver.discard()
                    prepared = _Prepared(driver, current, request, inputs, plan.operation, cancel)
                if broken:
                    response.warnings.append("broke the lock held by the run of pid %s on host %s"
                                             % (broken.get("pid"), broken.get("host")))
                return _run(store, current, request, inputs, prepared, response)
        finally:
            driver.discard()  # a container prepared for nothing; no-op after a run


def run_stateless(store, request, inputs, action_info, on_secrets):
    """Run a stateless action of an installation's bundle: no state, so its sources give defaults."""
    inputs = with_sources(store, None, inputs, action_info.name, on_secrets)
    return run_untracked(request, inputs.source, inputs.values, inputs.credentials, on_secrets)


def with_sources(store, installation, inputs, action, on_secrets):
    """Give ``action`` the values of its parameter sources: the user's value, else the output's
    (latest successful modifying action that produced it), else the default."""
    bundle = inputs.bundle
    names = parameter_sources.sourced_parameter_names(bundle) if bundle else set()
    if not names:
        return inputs
    sourced = parameter_sources.resolve(bundle, installation, action, store.output_values, skip=inputs.parameters)
    defaults = v.resolve_parameters(bundle, {}, validate=False)
    values = {n: defaults[n] for n in names if n in defaults}
    values.update((n, s.value) for n, s in sourced.items())
    values.update(inputs.parameters)
    inputs.values, inputs.sourced = values, sourced
    inputs.add_secrets({n: s.value for n, s in sourced.items() if s.sensitive})
    if on_secrets:
        on_secrets(inputs.masker, inputs.sensitive_parameters)
    return inputs


def _validate(inputs, action):
    """Everything a run needs, checked before anything is written. Skipped on no-op runs,
    whose inputs equal those a validated run stored."""
    bundle = inputs.bundle
    bundle.validate()
    info = bundle.action(action)
    bundle.invocation_image()
    v.resolve_parameters(bundle, inputs.values, validate=True)
    v.check_required_parameters(bundle, action, inputs.values)
    v.resolve_credentials(bundle, info, inputs.credentials)
    v.parameter_destinations(bundle, action, inputs.values)
    v.credential_destinations(bundle, action, inputs.credentials)
    return info


def _settle_interrupted(store, installation, driver, request):
    """We hold the lock, so a ``running`` claim belongs to a run that died. Stop what it
    left running (the lock promises one action at a time) and record it as ``unknown``."""
    claim = installation.in_progress_claim
    if claim is None:
        return installation
    message = "the run ended without recording a result; its process died or lost the claim store"
    if model.runtime_custom(claim).get("driver", request.driver) == request.driver:
        try:
            reaped = driver.reap(installation.name, claim["id"])
        except CnabError as exc:
            reaped = "its container could not be checked: %s" % str(exc).rstrip(".")
        if reaped:
            message += "; " + reaped
    result = model.new_result(claim, model.STATUS_UNKNOWN, message)
    store.write_result(installation.name, result, {}, ())
    # Nothing else writes while we hold the lock: the history is the one read plus this result.
    recorded = [r for results in installation.results.values() for r in results]
    return model.Installation(installation.name, installation.claims, recorded + [result])


def _operation(source, claim, action, inputs, cancel=None):
    bundle = source.bundle
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
    files.update(source.files())
    files.update(inputs.extra_files)
    p_env, p_files = v.parameter_destinations(bundle, action, inputs.values)
    c_env, c_files = v.credential_destinations(bundle, action, inputs.credentials)
    # Order matters: CNAB_* last so nothing overrides them, credentials over parameters.
    environment = dict(p_env, **c_env)
    environment.update(env)
    files.update(p_files)
    files.update(c_files)
    image = bundle.invocation_image()
    return drivers.Operation(claim["installation"], action, claim["revision"], bundle, image,
                             environment, files, v.wanted_outputs(bundle, action), claim["id"], cancel,
                             image_source=source.image_source(image))


class _Prepared:
    """A claim and its operation, validated, with the driver ready to start it."""

    def __init__(self, driver, installation, request, inputs, action, cancel):
        bundle = inputs.bundle
        self.driver = driver
        self.info = bundle.action(action)
        revision = model.new_ulid() if self.info.modifies else installation.current_revision
        public, self.sensitive = v.split_sensitive(bundle, inputs.parameters)
        for name in inputs.secret_parameters & set(public):  # a dependency's secret output stays a secret
            self.sensitive[name] = public.pop(name)
        custom = {
            "bundleDigest": bundle.digest,
            "parametersFingerprint": inputs.parameters_fp,
            "credentialsFingerprint": inputs.credentials_fp,
            "modifies": self.info.modifies,
            "sensitiveParameters": sorted(self.sensitive),
            "driver": request.driver,
        }
        if inputs.sourced:  # where the values were taken from; the values stay with their outputs
            custom["parameterSources"] = {n: s.provenance() for n, s in sorted(inputs.sourced.items())}
        custom.update(inputs.source.claim_custom())
        custom.update(request.claim_extra)
        self.claim = model.new_claim(installation.name, self.info.name, bundle, public, revision, custom)
        try:
            self.operation = _operation(inputs.source, self.claim, self.info.name, inputs, cancel)
        except CnabError:
            _validate(inputs, action)  # a malformed bundle: report what validation says is wrong
            raise
        _prepare_while_validating(driver, self.operation, inputs)


def _prepare_while_validating(driver, operation, inputs):
    """The driver prepares (image check, container with files) in a thread while this one
    validates the bundle and values: the engine's work overlaps ours. A validation error
    wins over a driver error, and either way the prepared container is discarded."""
    try:
        drivers.check_bundle(driver, operation.bundle)  # e.g. io.cnab.docker without the opt-in: before the engine
    except CnabError:
        _validate(inputs, operation.action)  # a validation error wins
        raise
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
    finally:
        thread.join()
    if failure:
        raise failure[0]


def _run(store, installation, request, inputs, prepared, response):
    """Record ``running``, run the prepared operation, record the result. Under the lock;
    signals only stop the container while the driver waits for it (see Cancellation)."""
    claim, cancel = prepared.claim, prepared.operation.cancel
    with cancel.critical():
        store.write_claim(installation.name, claim, prepared.sensitive)
        store.write_result(installation.name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
        try:
            outcome = prepared.driver.run(prepared.operation)
            response = _finish(store, installation, request, inputs, claim, outcome, response)
        except BaseException as exc:
            canceled = isinstance(exc, Cancelled)
            if canceled:
                message = "the run was canceled"
            elif isinstance(exc, CnabError):
                message = inputs.masker.mask(str(exc))
            else:
                message = inputs.masker.mask("the driver failed: %s" % exc)
            status = model.STATUS_CANCELED if canceled else model.STATUS_FAILED
            try:
                store.write_result(installation.name, model.new_result(claim, status, message), {}, ())
            except CnabError:
                pass  # the store is gone too; the next run records this claim as unknown
            if isinstance(exc, CnabError) or not isinstance(exc, Exception):
                raise
            raise DriverError(message.rstrip(".") + ".") from exc
    if cancel.signal is not None and not outcome.canceled:
        response.warnings.append("a cancel request arrived after the action had finished; its result was kept")
    return response


def _outcome(bundle, action, outcome, masker):
    """Outputs, metadata, the names of sensitive outputs, the names of those only sensitive
    because they hold a secret input, status and message of a run."""
    outputs, metadata, problems = v.collect_outputs(bundle, action, outcome.outputs)
    sensitive_outputs = {n for n in outputs if bundle.is_sensitive_output(n)}
    holding_secrets = v.outputs_holding_secrets(outputs, metadata, sensitive_outputs, masker)
    sensitive_outputs |= holding_secrets
    if outcome.canceled:
        status, message = model.STATUS_CANCELED, "the run was canceled"
    elif outcome.succeeded and not problems:
        status, message = model.STATUS_SUCCEEDED, ""
    else:
        reasons = [outcome.error] if outcome.error else []
        if outcome.exit_code not in (0, None):
            reasons.append("the invocation image exited with code %s" % outcome.exit_code)
        status, message = model.STATUS_FAILED, "; ".join(reasons + problems)
    return outputs, metadata, sensitive_outputs, holding_secrets, status, message


def _render(response, request, bundle, inputs, outputs, sensitive_outputs, holding_secrets, outcome, status, message):
    """Fill the response, every secret masked. Revealed outputs stay out of ``secrets``, or
    Ansible would mask them in the very result that reveals them."""
    output_masker = v.Masker()
    for name in sensitive_outputs:
        output_masker.add(outputs[name], 'output "%s"' % name)
    # One masker over both sets, longest first: a secret output may contain a secret input.
    mask = inputs.masker.combined(output_masker).mask
    response.result = {"status": status, "message": mask(message)}
    response.outputs = render_outputs(bundle, outputs, request.reveal_sensitive, sensitive_outputs)
    response.binary_outputs = binary_outputs(bundle, outputs, request.reveal_sensitive, sensitive_outputs)
    response.warnings.extend(v.secret_output_warning(name) for name in sorted(holding_secrets))
    response.logs = mask(outcome.logs)
    response.secrets = inputs.masker.secrets + ([] if request.reveal_sensitive else output_masker.secrets)
    response.failed = status != model.STATUS_SUCCEEDED
    return mask(message)


def _finish(store, installation, request, inputs, claim, outcome, response):
    bundle = inputs.bundle
    outputs, metadata, sensitive_outputs, holding_secrets, status, message = _outcome(
        bundle, claim["action"], outcome, inputs.masker)
    message = _render(response, request, bundle, inputs, outputs, sensitive_outputs, holding_secrets, outcome,
                      status, message)
    result = model.new_result(claim, status, message or None, metadata)
    if holding_secrets:
        # Readers take sensitivity from the bundle, and from here for the outputs it does not declare so.
        result["custom"] = {model.RUNTIME_KEY: {"sensitiveOutputs": sorted(sensitive_outputs)}}
    store.write_result(installation.name, result, outputs, sensitive_outputs)
    response.claim = claim_summary(claim)
    response.result["id"] = result["id"]
    return response


def run_untracked(request, source, parameters, credentials, on_secrets, name=None, revision=None, secrets=()):
    """Run an action that leaves no record: stateless actions (no installation, no lock,
    credentials optional), and non-modifying actions in check mode. ``parameters`` are
    resolved values (file parameters encoded); ``secrets`` more values to mask."""
    bundle = source.bundle
    bundle.validate()
    info = bundle.action(request.action)
    parameters = v.resolve_parameters(bundle, parameters, validate=True)
    v.check_required_parameters(bundle, info.name, parameters)
    credentials = v.resolve_credentials(bundle, info, credentials)
    inputs = runtime.Inputs(source, parameters, credentials, b"")
    for secret in secrets:
        inputs.masker.add(secret)
    if on_secrets:
        on_secrets(inputs.masker, inputs.sensitive_parameters)
    response = runtime.Response(info.modifies, info.name, "stateless actions always run" if info.stateless
                                else "actions that do not modify always run and change nothing")
    response.secrets = inputs.masker.secrets
    response.warnings.extend(source.warnings)
    response.warnings.extend(v.weak_secret_warnings(inputs.masker))
    response.warnings.extend(bundle.warnings())
    if request.check_mode and info.modifies:
        return response
    name = name or request.installation or bundle.name  # not stored, so any CNAB name will do
    claim = {"id": model.new_ulid(), "installation": name, "revision": revision or model.new_ulid(),
             "action": info.name, "created": model.now(), "bundle": bundle.document,
             "parameters": v.split_sensitive(bundle, parameters)[0]}
    cancel = drivers.Cancellation()
    driver = drivers.get_driver(request.driver, request.driver_options)
    with cancel.installed():
        try:
            operation = _operation(source, claim, info.name, inputs, cancel)
            drivers.check_bundle(driver, bundle)
            driver.connect()
            driver.prepare(operation)
            outcome = driver.run(operation)
        finally:
            driver.discard()
    outputs, _metadata, sensitive_outputs, holding_secrets, status, message = _outcome(
        bundle, info.name, outcome, inputs.masker)
    _render(response, request, bundle, inputs, outputs, sensitive_outputs, holding_secrets, outcome, status, message)
    return response


# --- dependencies (io.cnab.dependencies): the runs of a graph; see runtime.py for the rules ------


def _child_request(request, root, name, intent, alias, options, bundle=None, source=None, installation=None):
    """The request of dependency ``alias`` (installation ``name`` of the graph of ``root``), with
    ``installation``, its history as the graph run read it, so that its run reads it only under the lock."""
    credentials = dict(request.credentials or {})  # the root's, for the names the dependency declares
    credentials.update(options.get("credentials") or {})
    child = runtime.Request(intent, installation=name, bundle=bundle, parameters=options.get("parameters"),
                            credentials=credentials, force=False, check_mode=request.check_mode,
                            driver=request.driver, driver_options=request.driver_options,
                            claim_store=request.claim_store, lock_timeout=request.lock_timeout,
                            reveal_sensitive=request.reveal_sensitive, registry_auth=request.registry_auth,
                            verify=request.verify)
    child.opened_source = source
    child.read_installation = installation
    child.claim_extra = deps.claim_custom(root, alias)
    return child


def _open_dependencies(store, request, names, graph, options, root_source):
    """Every dependency's installation (its one read before its lock) and source, resolved and checked
    against its ranges before anything runs: the ``bundle`` override, else the root's archive when it
    carries the dependency (air gaps), else the registry."""
    opened = []
    for dependency in graph:
        name = names[dependency.alias]
        installation = store.installation(name)
        recorded = installation.last_successful_modifying
        text = options[dependency.alias].get("bundle")
        source = None if text else sources.archived_dependency(root_source, dependency.alias, recorded)
        if source is not None:
            text = source.bundle.reference
        else:
            text = text or deps.resolve_reference(dependency, request.registry_auth,
                                                  near=sources.registry_reference(root_source))
            source = sources.open_source(text, request.registry_auth, recorded)
        source = sources.apply_policy(source, request.verify, recorded)
        deps.check_version(dependency, source.bundle, text)
        opened.append((dependency, name, text, source, installation))
    return opened


def _recorded_wiring(store, names, graph):
    """The wiring from what the dependencies' installations recorded (uninstall, custom actions), and
    those installations by alias (each one's read before its lock)."""
    wiring, read = {}, {}
    for dependency in graph:
        name = names[dependency.alias]
        read[dependency.alias] = current = store.installation(name)
        claim = current.last_successful_modifying or current.last_modifying
        wiring[dependency.alias] = (name, claim["bundle"] if claim else None)
    return wiring, read


def _plan_entry(response, name, alias):
    return {"installation": name, "alias": alias, "operation": response.operation, "changed": response.changed,
            "reason": response.reason}


def _run_dependency(child, alias, on_secrets):
    try:
        response = runtime.execute(child, on_secrets)
    except DependencyError:
        raise
    except CnabError as exc:
        raise type(exc)("dependency %s (installation %s): %s" % (alias, child.installation, exc)) from exc
    return response


def _failed_dependency(response, alias, name, plan):
    response.installation = name
    message = (response.result or {}).get("message") or "see logs"
    response.result = dict(response.result or {}, message="dependency %s failed: %s" % (alias, message))
    response.reason = "dependency %s failed, so the root was not touched" % alias
    response.plan = plan
    return response


def execute_graph(store, installation, request, inputs, graph, options, on_secrets):
    """Run the graph of ``request``'s root: each dependency its own installation, run by
    ``runtime.execute``, in order around the root (``options``: the checked dependencies option)."""
    root_name = installation.name
    names = {d.alias: deps.installation_name(root_name, d.alias) for d in graph}  # made (and checked) once
    root_request = copy.copy(request)
    root_request.opened_source = inputs.source
    root_request.claim_extra = dict(request.claim_extra, dependencies=dict(names))
    plan, diffs = [], {}
    if request.intent in ("uninstall", "absent", "action"):
        root_request.wiring, read = _recorded_wiring(store, names, graph)
        root = runtime.execute_one(store, installation, root_request,
                                   runtime.resolve(store, installation, root_request, on_secrets), on_secrets)
        plan.append(_plan_entry(root, installation.name, None))
        if request.intent == "action" or root.failed:
            root.plan = plan
            return root
        for dependency in reversed(graph):
            name = names[dependency.alias]
            child = _child_request(request, root_name, name, request.intent, dependency.alias,
                                   options[dependency.alias], bundle=options[dependency.alias].get("bundle"),
                                   installation=read[dependency.alias])
            response = _run_dependency(child, dependency.alias, on_secrets)
            plan.append(_plan_entry(response, name, dependency.alias))
            diffs[dependency.alias] = response.diff
            if response.failed:
                return _failed_dependency(response, dependency.alias, name, plan)
        return _graph_response(root, plan, diffs)
    intent = "install" if request.intent == "install" else "present"
    wiring = {}
    opened = _open_dependencies(store, request, names, graph, options, inputs.source)
    for dependency, name, text, source, read in opened:
        child = _child_request(request, root_name, name, intent, dependency.alias, options[dependency.alias], text,
                               source, read)
        response = _run_dependency(child, dependency.alias, on_secrets)
        plan.append(_plan_entry(response, name, dependency.alias))
        diffs[dependency.alias] = response.diff
        if response.failed:
            return _failed_dependency(response, dependency.alias, name, plan)
        wiring[dependency.alias] = (name, source.bundle.document)
    root_request.wiring = wiring
    # The root's history read by ``execute`` stays its one read before the lock: the dependencies'
    # runs write only their own installations, and a run that recorded something on the root
    # meanwhile is seen under the lock (``runtime.execute_one`` compares snapshots).
    root = runtime.execute_one(store, installation, root_request,
                               runtime.resolve(store, installation, root_request, on_secrets), on_secrets)
    plan.append(_plan_entry(root, installation.name, None))
    return _graph_response(root, plan, diffs)


def _graph_response(root, plan, diffs):
    root.plan = plan
    root.changed = any(entry["changed"] for entry in plan)
    if root.diff is not None:
        root.diff = {"before": dict(root.diff["before"], dependencies={a: d["before"] for a, d in diffs.items() if d}),
                     "after": dict(root.diff["after"], dependencies={a: d["after"] for a, d in diffs.items() if d})}
    return root
