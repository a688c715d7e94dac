"""Validate a parsed bundle.json: JSON Schema, then the rules a schema cannot express.

Importing this module costs nothing: it is shipped in every module payload and
``jsonschema`` is only imported when a bundle is actually validated.
"""

import json
import math
import re
import unicodedata

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import BUILTIN_ACTIONS, OUTPUTS_DIR, container_path
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_schema import BUNDLE_SCHEMA
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleValidationError,
    CnabError,
    UnsupportedExtensionError,
)

# Names of the CNAB extensions (requiredExtensions) this runtime implements.
SUPPORTED_EXTENSIONS = frozenset()

# Files the runtime injects or the image must provide, and the directories holding them:
# a destination there would clobber them.
RESERVED_PATHS = frozenset(
    ("/", "/cnab", "/cnab/app", "/cnab/bundle.json", "/cnab/claim.json", "/cnab/app/run",
     "/cnab/app/relocation-mapping.json")
)
# Deeper documents are refused up front: jsonschema, the canonical JSON writer
# and Ansible's result serialiser all recurse, and would fail with RecursionError.
MAX_DEPTH = 100
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
    # Anything else: jsonschema's own text, kept to one short line.
    message = " ".join(str(error.message).split())
    return message if len(message) <= 200 else message[:197] + "..."


def _json_type(value):
    kinds = (("null", type(None)), ("a boolean", bool), ("a number", (int, float)), ("a string", str), ("an array", list))
    for name, types in kinds:
        if isinstance(value, types):
            return name
    return f"a {type(value).__name__}"


def _depth_exceeds(doc, limit):
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


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
    if _depth_exceeds(doc, MAX_DEPTH):
        _fail((), f"it is nested more than {MAX_DEPTH} levels deep")
    unrepresentable = _unrepresentable(doc)
    if unrepresentable:
        # Python's JSON parser accepts these, but the canonical form (RFC 8785) that identifies a
        # bundle cannot hold them (found by fuzzing).
        _fail((), f"it holds {unrepresentable}, which canonical JSON (RFC 8785) cannot represent")
    try:
        import jsonschema
        from jsonschema.exceptions import SchemaError, best_match
    except ImportError as exc:
        raise CnabError('validating bundle.json needs the Python library "jsonschema" where the module runs.') from exc

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
    known_actions = set(BUILTIN_ACTIONS) | set(actions)
    definitions = doc.get("definitions", {})

    destinations = {}  # (kind, value) -> path of its first use
    for section in ("parameters", "credentials", "outputs"):
        for name, spec in doc.get(section, {}).items():
            where = (section, name)
            _check_name(where, section, name)
            for index, action in enumerate(spec.get("applyTo", [])):
                if action not in known_actions:
                    _fail((*where, "applyTo", index), f"{_show(action)} is neither a built-in action nor declared in actions")
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
    # The schema pattern lets "/cnab/app/outputs/../x" through.
    normal = container_path(path)
    if not normal.startswith(OUTPUTS_DIR + "/"):
        _fail(where, f"{_show(path)} is not a file path under {OUTPUTS_DIR}/")
    # The runtime finds output files by exact path, so only the normal form can match.
    if path != normal:
        _fail(where, f"{_show(path)} is not in normal form: write it as {_show(normal)}")
    _claim(destinations, "output path", normal, where)


def _claim(destinations, kind, value, where):
    first = destinations.setdefault((kind, value), where)
    if first is not where:
        _fail(where, f"the {kind} {_show(value)} is already used by {_where(first)}")


def _check_extensions(doc):
    unsupported = [name for name in doc.get("requiredExtensions", []) if name not in SUPPORTED_EXTENSIONS]
    if unsupported:
        plural = "s" if len(unsupported) > 1 else ""
        names = ", ".join(_show(name) for name in unsupported)
        raise UnsupportedExtensionError(
            f"bundle {_show(doc['name'])} requires the extension{plural} {names}, which cnab.runtime does not support."
        )
