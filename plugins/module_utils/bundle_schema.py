"""The collection's own JSON Schema (draft-07) for CNAB bundle.json.

Written from CNAB Core 1.2 (section 101) and accepting 1.0/1.1 documents. It
is stricter than the official bundle.schema.json where that file is looser
than the prose: anchored SemVer ``version``, at least one invocation image,
string ``requiredExtensions``, ``env`` or ``path`` required on parameter
destinations and credentials, boolean ``stateless``/``modifies``, object-only
``definitions``.

Rules a schema cannot express (definition references, reserved paths,
duplicate destinations...) live in bundle_validation.py. A ``description``
next to a ``pattern`` is what the error message says the value should be.
"""

# SemVer 2 (semver.org), optionally prefixed by "v" as the official pattern allows.
_NUMBER = "(0|[1-9][0-9]*)"
_PRERELEASE_ID = "(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD = r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
SEMVER_PATTERN = (
    "^v?" + _NUMBER + r"\." + _NUMBER + r"\." + _NUMBER
    + "(-" + _PRERELEASE_ID + r"(\." + _PRERELEASE_ID + ")*)?" + _BUILD + "$"
)
# Any CNAB 1.x schema version, the "v" optional: "v1" (the official description), "v1.2",
# "v1.2.0" (the spec), "1.2.0" (cnab-go's default, so Porter v1), "1.0.1", and pre-release
# forms such as the spec's working-draft and candidate markers "v1.0.0-WD", "1.2.0-CR".
SCHEMA_VERSION_PATTERN = r"^v?1(\." + _NUMBER + r"){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?" + _BUILD + "$"
OUTPUT_PATH_PATTERN = "^/cnab/app/outputs/.+$"

_STRING = {"type": "string"}
_NON_EMPTY_STRING = {"type": "string", "minLength": 1}
_BOOLEAN = {"type": "boolean"}
_STRING_LIST = {"type": "array", "items": _STRING}
_LABELS = {"type": "object", "additionalProperties": _STRING}
# At least one of env/path: parameter destinations and credentials.
_ENV_OR_PATH = [{"required": ["env"]}, {"required": ["path"]}]


def _image(extra=None):
    properties = {
        "image": _NON_EMPTY_STRING,
        "imageType": _STRING,  # open list; "oci" when absent
        # Format not checked here: spec examples use placeholders; digests are
        # verified against the pulled image at run time.
        "contentDigest": _STRING,
        "size": {"type": "integer", "minimum": 0},
        "labels": _LABELS,
        "mediaType": _STRING,
    }
    properties.update(extra or {})
    return {"type": "object", "required": ["image"], "properties": properties}


_PARAMETER = {
    "type": "object",
    "required": ["definition", "destination"],
    "properties": {
        "definition": _NON_EMPTY_STRING,
        "description": _STRING,
        "required": _BOOLEAN,
        "applyTo": _STRING_LIST,
        "destination": {
            "type": "object",
            "properties": {"env": _NON_EMPTY_STRING, "path": _NON_EMPTY_STRING},
            "anyOf": _ENV_OR_PATH,
        },
    },
}

_CREDENTIAL = {
    "type": "object",
    "properties": {
        "env": _NON_EMPTY_STRING,
        "path": _NON_EMPTY_STRING,
        "description": _STRING,
        "required": _BOOLEAN,
        "applyTo": _STRING_LIST,
    },
    "anyOf": _ENV_OR_PATH,
}

_OUTPUT = {
    "type": "object",
    "required": ["definition", "path"],
    "properties": {
        "definition": _NON_EMPTY_STRING,
        "description": _STRING,
        "applyTo": _STRING_LIST,
        "path": {
            "type": "string",
            "pattern": OUTPUT_PATH_PATTERN,
            "description": "a file path under /cnab/app/outputs/",
        },
    },
}

_ACTION = {
    "type": "object",
    "properties": {
        "title": _STRING,
        "description": _STRING,
        "modifies": _BOOLEAN,
        "stateless": _BOOLEAN,
    },
}

BUNDLE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "CNAB bundle.json (Core 1.0 to 1.2), as checked by cnab.runtime",
    "type": "object",
    "required": ["schemaVersion", "name", "version", "invocationImages"],
    "additionalProperties": False,
    "properties": {
        "schemaVersion": {
            "type": "string",
            "pattern": SCHEMA_VERSION_PATTERN,
            "description": "a CNAB 1.x schema version such as v1.2.0 or 1.2.0",
        },
        "name": _NON_EMPTY_STRING,
        "version": {
            "type": "string",
            "pattern": SEMVER_PATTERN,
            "description": "a SemVer 2 version such as 1.2.3",
        },
        "description": _STRING,
        "keywords": _STRING_LIST,
        "maintainers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _STRING, "email": _STRING, "url": _STRING},
            },
        },
        "license": _STRING,
        "invocationImages": {"type": "array", "minItems": 1, "items": _image()},
        "images": {"type": "object", "additionalProperties": _image({"description": _STRING})},
        "actions": {"type": "object", "additionalProperties": _ACTION},
        "parameters": {"type": "object", "additionalProperties": _PARAMETER},
        "credentials": {"type": "object", "additionalProperties": _CREDENTIAL},
        "outputs": {"type": "object", "additionalProperties": _OUTPUT},
        # Each value is a draft-07 schema, checked with Draft7Validator.check_schema. CNAB
        # definitions are schema objects: a boolean schema (valid draft-07) is refused.
        "definitions": {"type": "object", "additionalProperties": {"type": "object"}},
        "custom": {"type": "object"},
        "requiredExtensions": {"type": "array", "items": _NON_EMPTY_STRING},
    },
}
