"""Reading the CNAB extensions a bundle carries in ``custom``, without validating them.

The runtime's decision path (values, parameter sources, dependencies) reads extension values here,
so that a no-op imports neither the validator nor the schemas. bundle_validation.py checks the same
values against their schemas before anything runs; a value it would refuse raises
AttributeError/TypeError/KeyError here, and the caller lets validation say what is wrong.
"""

FILE_PARAMETERS = "sh.porter.file-parameters"
PARAMETER_SOURCES = "io.cnab.parameter-sources"
DOCKER = "io.cnab.docker"
DEPENDENCIES = "io.cnab.dependencies"
DEPENDENCIES_V2 = "org.getporter.dependencies@v2"
DEPENDENCY_EXTENSIONS = (DEPENDENCIES, DEPENDENCIES_V2)
# Parameter source types: the spec's, and Porter's output of a dependency.
SOURCE_OUTPUT = "output"
SOURCE_DEPENDENCY_OUTPUT = "dependencies.output"
ABSENT = object()  # no value for the extension in the bundle's custom section
# What a null value means, where it is not "no value": Porter writes null for io.cnab.docker when
# the manifest only says "required: [docker]", and reads it as privileged false.
_NULL_MEANS = {DOCKER: {}}


def document(bundle):
    """The document of ``bundle``, a Bundle or already its document."""
    return bundle.document if hasattr(bundle, "document") else bundle


def required_extensions(doc):
    """The extension names ``doc`` requires, each once, in order."""
    names = doc.get("requiredExtensions")
    return list(dict.fromkeys(n for n in names if isinstance(n, str))) if isinstance(names, list) else []


def extension_value(doc, name):
    """The value of extension ``name`` in ``doc["custom"]``, or ABSENT."""
    custom = doc.get("custom")
    value = custom.get(name, ABSENT) if isinstance(custom, dict) else ABSENT
    return _NULL_MEANS.get(name, ABSENT) if value is None else value


class ParameterSource:
    """One source of a parameter's value: ``kind`` is "output" (this installation's output
    ``output``) or "dependencies.output" (output ``output`` of the dependency ``dependency``)."""

    __slots__ = ("kind", "output", "dependency")

    def __init__(self, kind, output, dependency=None):
        self.kind = kind
        self.output = output
        self.dependency = dependency

    def __eq__(self, other):
        return isinstance(other, ParameterSource) and (self.kind, self.output, self.dependency) == (
            other.kind, other.output, other.dependency)

    def __repr__(self):
        return f"ParameterSource({self.kind!r}, {self.output!r}, {self.dependency!r})"


def read_parameter_sources(value):
    """{parameter: (ParameterSource, ...)} from a schema-valid value, in priority order."""
    parsed = {}
    for parameter, spec in value.items():
        sources = spec.get("sources", {})
        order = spec.get("priority") or list(sources)
        parsed[parameter] = tuple(
            ParameterSource(kind, sources[kind]["name"], sources[kind].get("dependency"))
            for kind in order if kind in sources
        )
    return parsed


def parameter_sources(bundle):
    """The parameter sources (io.cnab.parameter-sources) of ``bundle`` (a Bundle or its document),
    unchecked: ``{parameter name: (ParameterSource, ...)}`` as bundle_validation.parameter_sources
    describes it."""
    doc = document(bundle)
    value = extension_value(doc, PARAMETER_SOURCES)
    if value is ABSENT:
        return {}
    parameters = doc.get("parameters") or {}
    return {name: sources for name, sources in read_parameter_sources(value).items() if name in parameters}


def supports_file_parameters(bundle):
    """True when ``bundle`` requires or configures sh.porter.file-parameters, or was built by Porter
    (custom "sh.porter"), which has always treated such parameters as files (Porter's rule)."""
    doc = document(bundle)
    custom = doc.get("custom")
    return FILE_PARAMETERS in required_extensions(doc) or (isinstance(custom, dict) and (
        "sh.porter" in custom or FILE_PARAMETERS in custom))


def is_file_parameter(bundle, name):
    """True when parameter ``name`` of ``bundle`` (a Bundle or its document) is a Porter file
    parameter: the bundle supports file parameters (supports_file_parameters), the parameter's
    definition is ``type: string`` with ``contentEncoding: base64``, and its destination is a path."""
    doc = document(bundle)
    spec = (doc.get("parameters") or {}).get(name)
    if not isinstance(spec, dict) or not supports_file_parameters(doc):
        return False
    definition = (doc.get("definitions") or {}).get(spec.get("definition"))
    destination = spec.get("destination")
    return (isinstance(definition, dict) and definition.get("type") == "string"
            and definition.get("contentEncoding") == "base64"
            and isinstance(destination, dict) and bool(destination.get("path")))


def docker_settings(bundle):
    """The io.cnab.docker settings of ``bundle`` when it requires the extension, else None:
    ``{"privileged": bool}``, Porter's ``null`` read as not privileged. Call after validation."""
    doc = document(bundle)
    if DOCKER not in required_extensions(doc):
        return None
    value = extension_value(doc, DOCKER)
    return {"privileged": isinstance(value, dict) and value.get("privileged") is True}
