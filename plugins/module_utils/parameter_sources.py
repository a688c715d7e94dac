"""io.cnab.parameter-sources: parameters whose value comes from an output of the installation.

CNAB 810 (and Porter, for its porter-state round trip): a parameter with an ``output`` source takes
that output's value from this installation's latest successful *modifying* action that produced it,
so the state a ``modifies: false`` action wrote is never carried forward. A value the user gives wins;
with no such output yet the parameter keeps its default, or stays unset.

Resolution only: the extension value is read by extensions.py (``parameter_sources``); bundle
validation checks it against its schema. ``output`` sources read this installation's outputs; Porter's
``dependencies.output`` sources read a dependency installation's outputs (``resolve`` against that
installation, see dependencies.py).
"""

from ansible_collections.cnab.runtime.plugins.module_utils import extensions
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import applies_to
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.lookup import recorded_sensitive_outputs

EXTENSION = extensions.PARAMETER_SOURCES
OUTPUT = extensions.SOURCE_OUTPUT


def output_sources(bundle):
    """parameter name -> the output (of this installation) it is sourced from, for the bundle's
    declared parameters. The extension is read by extensions.py (``parameter_sources``), without
    its schema check: the decision path needs no jsonschema, and a malformed value
    raises AttributeError/TypeError/KeyError for the caller to let validation report."""
    return {name: source.output for name, source in _first_of_kind(bundle, OUTPUT).items()}


def dependency_sources(bundle):
    """parameter name -> (dependency alias, output name) for ``dependencies.output`` sources."""
    return {name: (entries.dependency, entries.output)
            for name, entries in _first_of_kind(bundle, extensions.SOURCE_DEPENDENCY_OUTPUT).items()}


def _first_of_kind(bundle, kind):
    found = {}
    for name, entries in extensions.parameter_sources(bundle).items():
        source = next((entry for entry in entries if entry.kind == kind), None)
        if source is not None:
            found[name] = source
    return found


def sourced_parameter_names(bundle):
    return set(output_sources(bundle))


def compared_parameters(bundle, parameters):
    """The parameter values a claim records and its fingerprint covers: the given values and the
    defaults, without the parameters fed by an output that were not given (each run resolves those
    afresh, so comparing them would make every run's new state a change)."""
    resolved = v.resolve_parameters(bundle, parameters, validate=False)
    given = {n for n, value in (parameters or {}).items() if value is not None}
    sourced = sourced_parameter_names(bundle) - given
    return {n: value for n, value in resolved.items() if n not in sourced}


class SourcedValue:
    """A parameter value taken from an output: where it came from, and whether it is a secret."""

    __slots__ = ("value", "output", "result_id", "sensitive")

    def __init__(self, value, output, result_id, sensitive):
        self.value = value
        self.output = output
        self.result_id = result_id
        self.sensitive = sensitive

    def provenance(self):
        """What a claim records instead of the value: the output and the result that holds it."""
        return {"output": self.output, "result": self.result_id}


def resolve(bundle, installation, action, read_outputs, skip=()):
    """parameter name -> SourcedValue for each parameter of ``action`` with an output source that
    has a value; ``skip`` names parameters the user gave (they win). ``read_outputs(installation,
    result id)`` is the claim store's ``output_values``; each result is read at most once."""
    wanted = {name: output for name, output in output_sources(bundle).items()
              if name not in skip and applies_to(bundle.parameters[name], action)}
    return _resolve_wanted(bundle, installation, wanted, read_outputs, bundle.is_sensitive_output)


def resolve_dependency(bundle, alias, installation, read_outputs, skip=()):
    """The same for the ``dependencies.output`` sources of ``bundle`` that read dependency ``alias``,
    whose installation is ``installation`` (its latest successful modifying output)."""
    wanted = {name: output for name, (dependency, output) in dependency_sources(bundle).items()
              if dependency == alias and name not in skip}
    current = installation.last_successful_modifying if installation is not None else None
    if current is None:
        return {}
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle

    return _resolve_wanted(bundle, installation, wanted, read_outputs, Bundle(current["bundle"]).is_sensitive_output)


def _resolve_wanted(bundle, installation, wanted, read_outputs, sensitive_output):
    if not wanted or installation is None:
        return {}
    found = {}  # output name -> (result id, bytes)
    marked = set()  # outputs their result recorded as sensitive (they hold a secret input)
    pending = set(wanted.values())
    for claim in reversed(installation.modifying_claims()):
        if not pending:
            break
        if installation.status_of(claim) != model.STATUS_SUCCEEDED:
            continue
        result = installation.last_result(claim)
        produced = pending & set(result.get("outputs") or {})
        if not produced:
            continue
        values = read_outputs(installation.name, result["id"])
        for output in produced:
            if output in values:
                found[output] = (result["id"], values[output])
                if output in recorded_sensitive_outputs(result):
                    marked.add(output)
                pending.discard(output)
    resolved = {}
    for name, output in sorted(wanted.items()):
        if output in found:
            result_id, content = found[output]
            sensitive = (sensitive_output(output) or output in marked
                         or bundle.is_sensitive_parameter(name))
            resolved[name] = SourcedValue(v.parameter_from_output(bundle, name, content), output, result_id, sensitive)
    return resolved
