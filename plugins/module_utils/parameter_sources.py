"""io.cnab.parameter-sources: parameters whose value comes from an output of the installation.

CNAB 810 (and Porter, for its porter-state round trip): a parameter with an ``output`` source takes
that output's value from this installation's latest successful *modifying* action that produced it,
so the state a ``modifies: false`` action wrote is never carried forward. A value the user gives wins;
with no such output yet the parameter keeps its default, or stays unset.

Resolution only: the extension value is read as it is in ``custom`` and assumed valid (bundle
validation checks it against its schema, and refuses Porter's ``dependencies.output`` until
dependencies exist). Source types other than ``output`` are skipped here.
"""

from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import applies_to
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.lookup import recorded_sensitive_outputs

EXTENSION = "io.cnab.parameter-sources"
OUTPUT = "output"


def output_sources(bundle):
    """parameter name -> the output it is sourced from, for the bundle's declared parameters."""
    custom = bundle.document.get("custom")
    declared = custom.get(EXTENSION) if isinstance(custom, dict) else None
    if not isinstance(declared, dict):
        return {}
    found = {}
    for name, entry in declared.items():
        if name not in bundle.parameters or not isinstance(entry, dict):
            continue
        sources = entry.get("sources") if isinstance(entry.get("sources"), dict) else {}
        priority = entry.get("priority") if isinstance(entry.get("priority"), list) else list(sources)
        # A parameter has at most one source of each type, so the first output source is the one.
        for kind in priority:
            source = sources.get(kind)
            if kind == OUTPUT and isinstance(source, dict) and isinstance(source.get("name"), str):
                found[name] = source["name"]
                break
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
            sensitive = (bundle.is_sensitive_output(output) or output in marked
                         or bundle.is_sensitive_parameter(name))
            resolved[name] = SourcedValue(v.parameter_from_output(bundle, name, content), output, result_id, sensitive)
    return resolved
