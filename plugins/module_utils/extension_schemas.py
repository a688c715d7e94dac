"""JSON Schemas (draft-07) of the CNAB extensions cnab.runtime knows, as Python data.

Module payloads carry only Python, so the upstream schema files are copied here as literals
and the runtime never reads a file to validate. Each copy names its origin (repository, path,
commit, sha256 of the original bytes) and is content-identical to it: the unit tests compare
them with the originals. Porter's deviations that real bundles need are added in code
(bundle_validation.py), never by editing a copy. The schemas after the copies are our own.
"""

# io.cnab.dependencies (CNAB 500): copied from https://github.com/cnabio/cnab-spec
#   schema/dependencies.schema.json at commit 5771c874bedce48f5762a40becc984d55116b8b7
#   sha256 8066ce4a8a929332ee5c1efa90d1890d482920bfc63503da5d50333e2b6b5e4c

DEPENDENCIES_V1_SCHEMA = {
    "$id": "https://cnab.io/specs/v1/dependencies.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "CNAB Dependencies JSON Schema",
    "definitions": {
        "sequence": {
            "type": "array",
            "description": (
                "Defines the criteria for sequencing bundles in a pre-defined order. The sequence for "
                "each occurrence is a way for the bundle to reference the order of a dependency"
            ),
            "items": {
                "type": "string",
            },
        },
        "requires": {
            "type": "object",
            "description": (
                "Defines the criteria for the dependent bundle. The key for each dependency is a way "
                "for the bundle to reference the dependency"
            ),
            "patternProperties": {
                ".*": {
                    "$ref": "#/definitions/dependency",
                },
            },
            "minProperties": 1,
        },
        "dependency": {
            "type": "object",
            "properties": {
                "bundle": {
                    "type": "string",
                    "description": "A reference to a bundle in the format REGISTRY/NAME.",
                },
                "version": {
                    "$ref": "#/definitions/version",
                },
            },
            "additionalProperties": False,
            "required": ["bundle"],
        },
        "version": {
            "type": "object",
            "description": (
                "A set of criteria applied to the bundle version when selecting an acceptable version "
                "of the bundle."
            ),
            "properties": {
                "ranges": {
                    "type": "array",
                    "description": (
                        "An array of allowed version ranges. Versions are specified using semver, with "
                        "or without a leading 'v'. An x in the place of the minor or patch place can be"
                        " used to specify a wildcard. Ranges can be specified by separating the two "
                        "versions with a dash, the dash must be surrounded by spaces in order to "
                        "disambiguate from prerelease tags."
                    ),
                    "items": {
                        "type": "string",
                    },
                    "minItems": 1,
                },
                "prereleases": {
                    "type": "boolean",
                    "description": (
                        "Specifies if prerelease versions of the bundle are allowed."
                    ),
                    "default": False,
                },
            },
            "additionalProperties": False,
            "minProperties": 1,
        },
    },
    "type": "object",
    "properties": {
        "requires": {
            "$ref": "#/definitions/requires",
        },
    },
    "additionalProperties": False,
    "minProperties": 1,
}


# io.cnab.parameter-sources (CNAB 810): copied from https://github.com/cnabio/cnab-spec
#   schema/parameter-sources.schema.json at commit 5771c874bedce48f5762a40becc984d55116b8b7
#   sha256 ae3e715cfe83fcf0214943ecf8c3ea70c64678921a75b16aafac00504b5e0f8a

PARAMETER_SOURCES_SCHEMA = {
    "$id": "https://cnab.io/specs/v1/parameter-sources.schema.json",
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "CNAB Parameter Sources Extension JSON Schema",
    "definitions": {
        "parameter-source": {
            "type": "object",
            "description": "",
            "properties": {
                "priority": {
                    "type": "array",
                    "description": (
                        "Array of source types in the priority order that they should be used to "
                        "populated the parameter"
                    ),
                    "items": {
                        "type": "string",
                        "enum": ["output"],
                    },
                    "minItems": 1,
                },
                "sources": {
                    "type": "object",
                    "description": (
                        "A map of key/value pairs of a source type and definition for the parameter "
                        "value"
                    ),
                    "properties": {
                        "output": {
                            "$ref": "#/definitions/output",
                        },
                    },
                    "additionalProperties": False,
                    "minProperties": 1,
                },
            },
            "minProperties": 1,
            "additionalProperties": False,
        },
        "output": {
            "type": "object",
            "description": "Specifies that the source of the parameter is an output",
            "properties": {
                "name": {
                    "type": "string",
                    "description": "The name of the source output",
                    "minLength": 1,
                },
            },
            "additionalProperties": False,
            "required": ["name"],
        },
    },
    "type": "object",
    "description": "Key/value pairs of parameter sources where the key is the parameter name",
    "additionalProperties": {
        "$ref": "#/definitions/parameter-source",
    },
    "minProperties": 1,
}


# io.cnab.docker (Porter): copied from https://github.com/getporter/porter
#   pkg/cnab/schema/io-cnab-docker.schema.json at commit 9b11297479db5f78eb4574c665cda1ec532250e4
#   sha256 883bebd1dda01ce61e406c01b23441ccff6e328439c08a5661ea338ff26393bd

DOCKER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "privileged": {
            "description": (
                "Option to set the --privileged flag when running the Docker container"
            ),
            "type": "boolean",
        },
    },
    "additionalProperties": False,
}

# sh.porter.file-parameters (Porter): our own. The extension carries no data (Porter writes
# {}); its presence says that string parameters with contentEncoding base64 are files.
FILE_PARAMETERS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
}

# org.getporter.dependencies@v2 (Porter): our own, written from the shape Porter's
# dependencies v2 writes (requires: alias -> bundle, version constraint, sharing, and string
# templates wiring parameters, credentials and outputs; provides: an interface id).
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
DEPENDENCIES_V2_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requires": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["bundle"],
                "additionalProperties": False,
                "properties": {
                    "bundle": {"type": "string", "minLength": 1},
                    "version": {"type": "string"},
                    "interface": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "reference": {"type": "string"},
                            "document": {"type": "object"},
                        },
                    },
                    "sharing": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "mode": {"type": "boolean"},
                            "group": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"name": {"type": "string"}},
                            },
                        },
                    },
                    "parameters": _STRING_MAP,
                    "credentials": _STRING_MAP,
                    "outputs": _STRING_MAP,
                },
            },
        },
        "provides": {
            "type": "object",
            "properties": {"interface": {"type": "object", "properties": {"id": {"type": "string"}}}},
        },
    },
}
