"""Validate a parsed bundle.json: JSON Schema, then the rules a schema cannot express.

Importing this module costs nothing: it is shipped in every module payload and
``jsonschema`` is only imported when a bundle is actually validated.
"""

import copy
import json
import math
import re
import unicodedata

from ansible_collections.cnab.runtime.plugins.module_utils import extension_schemas, identifiers
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import (
    BUILTIN_ACTIONS,
    MAX_JSON_DEPTH,
    OUTPUTS_DIR,
    container_path,
    has_control_character,
    nested_deeper_than,
)
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_schema import BUNDLE_SCHEMA
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleValidationError,
    UnsupportedExtensionError,
)
# The readers live in extensions.py (the decision path reads them without this module).
from ansible_collections.cnab.runtime.plugins.module_utils.extensions import (
    ABSENT,
    DEPENDENCIES,
    DEPENDENCIES_V2,
    DEPENDENCY_EXTENSIONS,
    DOCKER,
    FILE_PARAMETERS,
    PARAMETER_SOURCES,
    SOURCE_DEPENDENCY_OUTPUT,
    SOURCE_OUTPUT,
    document,
    extension_value,
    read_parameter_sources,
    required_extensions,
)
# Named here too, as before they moved to extensions.py.
from ansible_collections.cnab.runtime.plugins.module_utils.extensions import (  # noqa: F401 pylint: disable=unused-import
    ParameterSource,
    docker_settings,
    is_file_parameter,
)
from ansible_collections.cnab.runtime.plugins.module_utils.extensions import parameter_sources as read_sources

# Names of the CNAB extensions (requiredExtensions) this runtime implements.
SUPPORTED_EXTENSIONS = frozenset(("sh.porter.file-parameters", "io.cnab.parameter-sources", "io.cnab.docker",
                                  "io.cnab.dependencies"))

# Files the runtime injects or the image must provide, and the directories holding them:
# a destination there would clobber them.
RESERVED_PATHS = frozenset(
    ("/", "/cnab", "/cnab/app", "/cnab/bundle.json", "/cnab/claim.json", "/cnab/app/run",
     "/cnab/app/relocation-mapping.json")
)
# Deeper documents are refused up front: jsonschema, the canonical JSON writer
# and Ansible's result serialiser all recurse, and would fail with RecursionError.
MAX_DEPTH = MAX_JSON_DEPTH
# RFC 8785 writes numbers as IEEE 754 doubles: larger integers would not survive canonicalisation.
MAX_SAFE_INTEGER = 2 ** 53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
# Output names become file names in the claim store (outputs/<resultId>/<name>); this also rules out "." and "..".
OUTPUT_NAME = identifiers.OUTPUT_NAME

_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


def _show(value, limit=60):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + '..."'


def _where(path):
    """JSON path as text: parameters.port.destination, actions["io.cnab.status"], invocationImages[0]."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_show(part)}]"
    return text


def _fail(path, reason):
    where = f" at {_where(path)}" if path else ""
    raise BundleValidationError(f"bundle.json is invalid{where}: {reason}.")


def _reason(error):
    """One clause for a jsonschema ValidationError or SchemaError."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = " and ".join(_show(key) for key in expected if key not in instance)
        return f"it needs {missing}"
    if kind == "anyOf" and all(list(s) == ["required"] for s in expected):
        return "it needs " + " or ".join(_show(s["required"][0]) for s in expected)
    if kind == "type":
        types = [expected] if isinstance(expected, str) else expected
        return "it must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in types)
    if kind == "additionalProperties":
        allowed = error.schema.get("properties", {})
        extra = ", ".join(_show(key) for key in instance if key not in allowed)
        return f"{extra} is not an allowed key"
    if kind == "minItems":
        return f"it needs at least {expected} item" + ("" if expected == 1 else "s")
    if kind == "minLength" and expected == 1:
        return "it must not be empty"
    if kind == "minimum":
        return f"it must be at least {expected}"
    if kind == "pattern":
        return f"{_show(instance)} is not " + error.schema.get("description", f"matching {expected}")
    if kind == "enum":
        return f"{_show(instance)} is not one of " + ", ".join(_show(item) for item in expected)
    if kind == "minProperties" and expected == 1:
        return "it must not be empty"
    # Anything else: jsonschema's own text, kept to one short line.
    message = " ".join(str(error.message).split())
    return message if len(message) <= 200 else message[:197] + "..."


def _json_type(value):
    kinds = (("null", type(None)), ("a boolean", bool), ("a number", (int, float)), ("a string", str), ("an array", list))
    for name, types in kinds:
        if isinstance(value, types):
            return name
    return f"a {type(value).__name__}"


def _unrepresentable(doc):
    """What in ``doc`` RFC 8785 cannot write, or None."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN or Infinity"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
            return f"an integer beyond +/-{MAX_SAFE_INTEGER}"
        if isinstance(value, str) and _SURROGATE.search(value):
            return "a lone UTF-16 surrogate escape (\\ud800-\\udfff)"
        if isinstance(value, dict):
            stack.extend(value.values())
            stack.extend(value.keys())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def validate_bundle_document(doc):
    """Raise BundleValidationError (one sentence) unless ``doc`` is a valid CNAB bundle."""
    if not isinstance(doc, dict):
        _fail((), f"the document must be a JSON object, not {_json_type(doc)}")
    if nested_deeper_than(doc, MAX_DEPTH):
        _fail((), f"it is nested more than {MAX_DEPTH} levels deep")
    unrepresentable = _unrepresentable(doc)
    if unrepresentable:
        # Python's JSON parser accepts these, but the canonical form (RFC 8785) that identifies a
        # bundle cannot hold them (found by fuzzing).
        _fail((), f"it holds {unrepresentable}, which canonical JSON (RFC 8785) cannot represent")
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

    jsonschema = require_library("jsonschema", "jsonschema", "validating bundle.json")
    SchemaError, best_match = jsonschema.exceptions.SchemaError, jsonschema.exceptions.best_match

    try:
        error = best_match(jsonschema.Draft7Validator(BUNDLE_SCHEMA).iter_errors(doc))
        if error is not None:
            _fail(error.absolute_path, _reason(error))
        for name, definition in doc.get("definitions", {}).items():
            try:
                jsonschema.Draft7Validator.check_schema(definition)
            except SchemaError as exc:
                _fail(["definitions", name, *exc.absolute_path], f"it is not a valid draft-07 JSON Schema ({_reason(exc)})")
    except RecursionError:
        _fail((), "it is nested too deeply to be checked")

    _check_semantics(doc)
    _check_extensions(doc)


def _check_semantics(doc):
    # The schema patterns end in "$", which also matches before a final newline.
    for key in ("schemaVersion", "version"):
        spec = BUNDLE_SCHEMA["properties"][key]
        if not re.fullmatch(spec["pattern"], doc[key]):
            _fail((key,), f"{_show(doc[key])} is not {spec['description']}")
    # Unicode graphic characters: letters, marks, numbers, punctuation, symbols, spaces.
    categories = {unicodedata.category(c) for c in doc["name"]}
    if any(cat[0] not in "LMNPS" and cat != "Zs" for cat in categories):
        _fail(("name",), "it may contain only printable characters (no tabs, newlines or control characters)")

    actions = doc.get("actions", {})
    for name in actions:
        if name in BUILTIN_ACTIONS:
            _fail(("actions", name), f'"{name}" is a built-in action and cannot be declared as a custom action')
    definitions = doc.get("definitions", {})

    destinations = {}  # (kind, value) -> path of its first use
    for section in ("parameters", "credentials", "outputs"):
        for name, spec in doc.get(section, {}).items():
            where = (section, name)
            _check_name(where, section, name)
            # applyTo may name actions the bundle does not declare: CNAB has no rule against it
            # (the entry only restricts); bundle_warnings() reports them.
            if "definition" in spec and spec["definition"] not in definitions:
                _fail((*where, "definition"), f"{_show(spec['definition'])} is not a key of definitions")
            if section == "outputs":
                _check_output_path((*where, "path"), spec["path"], destinations)
            elif section == "parameters":
                _check_destination((*where, "destination"), spec["destination"], destinations)
            else:
                _check_destination(where, spec, destinations)


def _check_name(where, section, name):
    if section == "outputs":
        if not OUTPUT_NAME.fullmatch(name):
            _fail(where, f"the output name {_show(name)} must start with a letter or digit and hold only letters,"
                         ' digits, ".", "_" and "-", because it becomes a file name in the claim store')
    elif not name or any(c in name for c in "/\0\n\r"):
        # Not file names, so kept permissive: the spec only suggests environment-variable-like names.
        _fail(where, f"the {section[:-1]} name {_show(name)} must not be empty or hold a slash, NUL or line break")


def _check_destination(where, spec, destinations):
    if "env" in spec:
        env, at = spec["env"], (*where, "env")
        if env.startswith("CNAB_"):
            _fail(at, f"{_show(env)} starts with CNAB_, and CNAB_ variables may not be overridden")
        if "=" in env or "\0" in env:
            _fail(at, f"{_show(env)} is not a valid environment variable name")
        _claim(destinations, "env", env, at)
    if "path" in spec:
        path, at = spec["path"], (*where, "path")
        _refuse_control_characters(at, path)
        if not path.startswith("/"):
            _fail(at, f'{_show(path)} is not an absolute path; CNAB would root it at "/", but cnab.runtime'
                      f" wants that written out as {_show(container_path(path))}")
        normal = container_path(path)
        if normal == OUTPUTS_DIR or normal.startswith(OUTPUTS_DIR + "/"):
            _fail(at, f"{_show(path)} is under {OUTPUTS_DIR}, which is reserved for outputs")
        if normal in RESERVED_PATHS:
            _fail(at, f"{_show(path)} is a path reserved by CNAB")
        _claim(destinations, "path", normal, at)


def _check_output_path(where, path, destinations):
    _refuse_control_characters(where, path)
    # The schema pattern lets "/cnab/app/outputs/../x" through.
    normal = container_path(path)
    if not normal.startswith(OUTPUTS_DIR + "/"):
        _fail(where, f"{_show(path)} is not a file path under {OUTPUTS_DIR}/")
    # The runtime finds output files by exact path, so only the normal form can match.
    if path != normal:
        _fail(where, f"{_show(path)} is not in normal form: write it as {_show(normal)}")
    _claim(destinations, "output path", normal, where)


def _refuse_control_characters(where, path):
    # Before normalising and comparing with the reserved paths, which a NUL would otherwise slip past.
    if has_control_character(path):
        _fail(where, f"{_show(path)} holds a control character (such as NUL or a line break), which no path in"
                     " the container may hold")


def _claim(destinations, kind, value, where):
    first = destinations.setdefault((kind, value), where)
    if first is not where:
        _fail(where, f"the {kind} {_show(value)} is already used by {_where(first)}")


# --- extensions ---------------------------------------------------------------


class Extension:
    """What cnab.runtime knows of one extension: the schema of its value in ``custom`` and whether a
    bundle that requires it must give a value (what a ``null`` value means: extensions.py)."""

    __slots__ = ("name", "schema", "needs_value", "_validator")

    def __init__(self, name, schema, needs_value=True):
        self.name = name
        self.schema = schema
        self.needs_value = needs_value
        self._validator = None

    def value(self, doc):
        """The extension's value in ``doc["custom"]``, or ABSENT."""
        return extension_value(doc, self.name)

    def validator(self):
        if self._validator is None:
            from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

            jsonschema = require_library("jsonschema", "jsonschema", "validating bundle.json")  # lazy, like the bundle schema
            self._validator = jsonschema.Draft7Validator(self.schema)
        return self._validator


def _parameter_sources_schema():
    # The spec's schema plus Porter's source type {"dependency": alias, "name": output}.
    schema = copy.deepcopy(extension_schemas.PARAMETER_SOURCES_SCHEMA)
    source = schema["definitions"]["parameter-source"]["properties"]
    source["priority"]["items"]["enum"].append(SOURCE_DEPENDENCY_OUTPUT)
    source["sources"]["properties"][SOURCE_DEPENDENCY_OUTPUT] = {"$ref": "#/definitions/dependency-output"}
    name = {"type": "string", "minLength": 1}
    schema["definitions"]["dependency-output"] = {
        "type": "object", "required": ["dependency", "name"], "additionalProperties": False,
        "properties": {"dependency": name, "name": name},
    }
    return schema


def _dependencies_v1_schema():
    # The spec's schema plus what Porter writes: "sequence" at the top (the schema defines it but
    # does not allow it) and, Porter v0.38, a "name" key (the alias again) in each requires entry.
    schema = copy.deepcopy(extension_schemas.DEPENDENCIES_V1_SCHEMA)
    schema["properties"]["sequence"] = {"$ref": "#/definitions/sequence"}
    schema["definitions"]["dependency"]["properties"]["name"] = {"type": "string"}
    return schema


# Every extension the runtime knows. Which of them it supports is SUPPORTED_EXTENSIONS.
KNOWN_EXTENSIONS = {
    extension.name: extension
    for extension in (
        # No data: Porter's reader ignores the value, so a bundle may leave it out.
        Extension(FILE_PARAMETERS, extension_schemas.FILE_PARAMETERS_SCHEMA, needs_value=False),
        Extension(PARAMETER_SOURCES, _parameter_sources_schema()),
        Extension(DOCKER, extension_schemas.DOCKER_SCHEMA),
        Extension(DEPENDENCIES, _dependencies_v1_schema()),
        Extension(DEPENDENCIES_V2, extension_schemas.DEPENDENCIES_V2_SCHEMA),
    )
}


def _quoted_list(names):
    quoted = [_show(name) for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _check_extension_value(extension, value):
    validator = extension.validator()
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(value))
    if error is not None:
        _fail(("custom", extension.name, *error.absolute_path), _reason(error))


def parameter_sources(bundle, validate=True):
    """The parameter sources (io.cnab.parameter-sources) of ``bundle``, a Bundle or its document.

    Returns ``{parameter name: (ParameterSource, ...)}``, each tuple in the bundle's priority order
    (the order of ``sources`` when it gives none); ``{}`` when the bundle has none. The value is
    checked against the extension's schema first (BundleValidationError, one sentence). Entries for
    parameters the bundle does not declare are left out: validation refuses them when the bundle
    requires the extension, and otherwise they can never apply. Sources of kind
    "dependencies.output" are returned as parsed (``dependency`` names the alias).
    ``validate=False`` skips the schema check (and the jsonschema import) for the runtime's
    decision path, where a malformed value raises AttributeError/TypeError/KeyError and the
    caller lets validation say what is wrong.
    """
    if validate:
        value = extension_value(document(bundle), PARAMETER_SOURCES)
        if value is not ABSENT:
            _check_extension_value(KNOWN_EXTENSIONS[PARAMETER_SOURCES], value)
    return read_sources(bundle)


def bundle_warnings(doc):
    """Things worth telling the user that do not stop a run: applyTo entries naming an action
    the bundle neither declares nor has built in (CNAB allows them; the entry then never applies)."""
    warnings = []
    if not isinstance(doc, dict):
        return warnings
    actions = doc.get("actions")
    known = set(BUILTIN_ACTIONS) | (set(actions) if isinstance(actions, dict) else set())
    for section in ("parameters", "credentials", "outputs"):
        entries = doc.get(section)
        for name, spec in (entries.items() if isinstance(entries, dict) else ()):
            targets = spec.get("applyTo") if isinstance(spec, dict) else None
            unknown = [a for a in targets if isinstance(a, str) and a not in known] if isinstance(targets, list) else []
            if unknown:
                warnings.append(f"{section[:-1]} {_show(name)} of bundle {_show(doc.get('name'))} applies to"
                                f" {_quoted_list(unknown)}, which the bundle does not declare as an action")
    return warnings


def _check_extensions(doc):
    required = required_extensions(doc)
    unsupported = [name for name in required if name not in SUPPORTED_EXTENSIONS]
    if unsupported:
        plural = "s" if len(unsupported) > 1 else ""
        raise UnsupportedExtensionError(
            f"bundle {_show(doc['name'])} requires the extension{plural} {_quoted_list(unsupported)},"
            " which cnab.runtime does not support."
        )
    # The runtime reads the extensions the bundle requires, and those it supports when present.
    for name, extension in KNOWN_EXTENSIONS.items():
        if name not in required and name not in SUPPORTED_EXTENSIONS:
            continue
        value = extension.value(doc)
        if value is ABSENT:
            if name in required and extension.needs_value:
                raise BundleValidationError(
                    f"bundle {_show(doc['name'])} requires the extension {_show(name)}, but its custom section"
                    " holds no configuration for it."
                )
            continue
        _check_extension_value(extension, value)
        if name in required and name == PARAMETER_SOURCES:
            _check_parameter_sources(doc, value)
        elif name in required and name == DEPENDENCIES:
            _check_sequence(value)
    _refuse_dependency_outputs(doc)


def _check_parameter_sources(doc, value):
    """Cross-references of a required io.cnab.parameter-sources: parameters, outputs, dependencies."""
    parameters, outputs = doc.get("parameters", {}), doc.get("outputs", {})
    aliases = set()
    for name in DEPENDENCY_EXTENSIONS:
        declared = KNOWN_EXTENSIONS[name].value(doc)
        if isinstance(declared, dict) and isinstance(declared.get("requires"), dict):
            aliases.update(declared["requires"])
    for parameter, spec in value.items():
        where = ("custom", PARAMETER_SOURCES, parameter)
        if parameter not in parameters:
            _fail(where, f"{_show(parameter)} is not a parameter of the bundle")
        for index, kind in enumerate(spec.get("priority", [])):
            if kind not in spec.get("sources", {}):
                _fail((*where, "priority", index), f"{_show(kind)} has no entry in sources")
        for kind, source in spec.get("sources", {}).items():
            at = (*where, "sources", kind)
            if kind == SOURCE_OUTPUT and source["name"] not in outputs:
                _fail((*at, "name"), f"{_show(source['name'])} is not an output of the bundle")
            if kind == SOURCE_DEPENDENCY_OUTPUT and source["dependency"] not in aliases:
                _fail((*at, "dependency"), f"{_show(source['dependency'])} is not a dependency the bundle declares")


def _check_sequence(value):
    requires = value.get("requires", {})
    for index, alias in enumerate(value.get("sequence", [])):
        if alias not in requires:
            _fail(("custom", DEPENDENCIES, "sequence", index), f"{_show(alias)} is not a key of requires")


def _refuse_dependency_outputs(doc):
    # A dependencies.output source must read a dependency the runtime runs: one of io.cnab.dependencies.
    value = KNOWN_EXTENSIONS[PARAMETER_SOURCES].value(doc)
    if value is ABSENT or (PARAMETER_SOURCES not in required_extensions(doc) and PARAMETER_SOURCES not in SUPPORTED_EXTENSIONS):
        return
    declared = KNOWN_EXTENSIONS[DEPENDENCIES].value(doc) if DEPENDENCIES in SUPPORTED_EXTENSIONS else ABSENT
    aliases = set(declared["requires"]) if isinstance(declared, dict) and isinstance(declared.get("requires"), dict) \
        else set()
    needing = [name for name, sources in read_parameter_sources(value).items()
               if any(source.kind == SOURCE_DEPENDENCY_OUTPUT and source.dependency not in aliases
                      for source in sources)]
    if needing:
        plural = "s" if len(needing) > 1 else ""
        raise UnsupportedExtensionError(
            f"bundle {_show(doc['name'])} takes parameter{plural} {_quoted_list(needing)} from the outputs of"
            f" dependencies that its {_show(DEPENDENCIES)} extension does not declare (parameter source"
            " dependencies.output), and cnab.runtime runs no other dependencies."
        )
