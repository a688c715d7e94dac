"""Load a bundle, identify it by its canonical digest, and answer questions about it.

``load_bundle`` is the one entry point for every form a ``bundle`` option may take.
Today that is a path to a bundle.json or to a directory holding one; registry
references and thick archives plug in here later, so callers never branch on the form.
"""

import hashlib
import json
import os
import posixpath
import re

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ActionError, BundleError, require_library

BUILTIN_ACTIONS = ("install", "upgrade", "uninstall")
SENSITIVE_MASK = "********"
OUTPUTS_DIR = "/cnab/app/outputs"
MAX_JSON_DEPTH = 100          # as bundle validation: nothing the runtime reads nests deeper
MAX_JSON_VALUES = 1000000     # commas and brackets: bounds the parsed size (a 3-byte "{}," is a 64-byte dict)


def parse_json(raw, what, error=BundleError, max_size=None, max_depth=MAX_JSON_DEPTH):
    """The one reader of JSON that comes from outside (bundle files, archives, registries, layouts):
    ``raw`` (bytes or text) parsed, or ``error`` with one sentence naming ``what`` when it is not
    JSON, larger than ``max_size`` bytes, holds more than MAX_JSON_VALUES values, or nests deeper
    than ``max_depth`` (None: the caller's validation reports depth in its own words)."""
    if max_size is not None and len(raw) > max_size:
        raise error("%s is larger than %s, the limit for it." % (what, _size_text(max_size)))
    counted = raw if isinstance(raw, (bytes, bytearray)) else str(raw).encode("utf-8", "surrogatepass")
    if counted.count(b",") + counted.count(b"[") + counted.count(b"{") > MAX_JSON_VALUES:
        raise error("%s holds more than %d values, the limit for a JSON document." % (what, MAX_JSON_VALUES))
    try:
        document = json.loads(raw)
    except RecursionError:
        raise error("%s is nested too deeply to be read." % what) from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise error("%s is not valid JSON: %s." % (what, str(exc).rstrip("."))) from None
    if max_depth is not None and nested_deeper_than(document, max_depth):
        raise error("%s is nested more than %d levels deep." % (what, max_depth))
    return document


def nested_deeper_than(document, limit):
    """True when ``document`` nests objects and arrays more than ``limit`` levels (checked without recursion)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False


def _size_text(size):
    return "%d MiB" % (size >> 20) if size >= 1 << 20 and not size % (1 << 20) else "%d bytes" % size


# Tar headers and the C library end a path at NUL, so "/cnab/claim.json\0" would be written over
# /cnab/claim.json (and a line break fools whatever reads paths line by line): no container path may
# hold a control character.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_character(path):
    return bool(_CONTROL_CHARACTER.search(str(path)))


def container_path(path):
    """The one normal form of a path inside the invocation container: absolute (CNAB roots
    relative paths at "/"), no "." or "..", no doubled slashes (POSIX keeps a leading "//")."""
    return posixpath.normpath("/" + str(path).lstrip("/"))


def canonical_json(document):
    """RFC 8785 (JCS) bytes of a JSON document: how CNAB identifies a bundle."""
    rfc8785 = require_library("rfc8785", "rfc8785", "the canonical JSON of a bundle", BundleError)  # only for a digest

    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise BundleError("bundle.json cannot be written as canonical JSON: %s." % exc) from exc


def digest_of(document):
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()


class Bundle:
    """A parsed bundle.json plus where it came from. Holds no runtime state."""

    def __init__(self, document, reference=None):
        if not isinstance(document, dict):
            raise BundleError("bundle.json must hold a JSON object.")
        self.document = document
        self.reference = reference
        self._digest = None

    @property
    def digest(self):
        if self._digest is None:
            self._digest = digest_of(self.document)
        return self._digest

    @property
    def name(self):
        return self.document.get("name")

    @property
    def version(self):
        return self.document.get("version")

    @property
    def definitions(self):
        return self.document.get("definitions") or {}

    @property
    def parameters(self):
        return self.document.get("parameters") or {}

    @property
    def credentials(self):
        return self.document.get("credentials") or {}

    @property
    def outputs(self):
        return self.document.get("outputs") or {}

    @property
    def custom_actions(self):
        actions = self.document.get("actions")
        if actions is not None and not isinstance(actions, dict):
            self.validate()  # not an object: let validation say so in its words
        return actions or {}

    def validate(self):
        # Lazy: the schema and jsonschema are only needed when something will run.
        from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import (
            validate_bundle_document,
        )

        validate_bundle_document(self.document)

    def warnings(self):
        """What is odd but allowed in this bundle (e.g. applyTo naming undeclared actions), as sentences."""
        from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import bundle_warnings

        return bundle_warnings(self.document)

    def definition_of(self, definition_name):
        definition = self.definitions.get(definition_name) if isinstance(definition_name, str) else None
        return definition if isinstance(definition, dict) else {}

    def is_sensitive_parameter(self, name):
        spec = self.parameters.get(name) or {}
        return _write_only(self.definition_of(spec.get("definition")))

    def is_sensitive_output(self, name):
        spec = self.outputs.get(name) or {}
        return _write_only(self.definition_of(spec.get("definition")))

    def action(self, name):
        """Describe an action: (modifies, stateless). Unknown names are refused."""
        if name in BUILTIN_ACTIONS:
            return ActionInfo(name, modifies=True, stateless=False)
        spec = self.custom_actions.get(name)
        if spec is None:
            declared = ", ".join(sorted(self.custom_actions)) or "none"
            raise ActionError(
                'bundle "%s" declares no action "%s" (custom actions declared: %s).' % (self.name, name, declared)
            )
        return ActionInfo(name, modifies=spec.get("modifies") is True, stateless=spec.get("stateless") is True)

    def invocation_image(self):
        """The first invocation image a Docker-compatible driver can run."""
        for image in self.document.get("invocationImages") or []:
            if image.get("imageType", "oci") in ("docker", "oci"):
                return image
        raise BundleError('bundle "%s" has no invocation image of type "docker" or "oci".' % self.name)


def _write_only(schema, depth=0):
    """True when the definition, or any schema nested in it, is ``writeOnly``: a value
    with one secret property is treated as a secret as a whole."""
    if depth > 32:
        return True  # absurd nesting: err on the side of secrecy
    if isinstance(schema, dict):
        if schema.get("writeOnly") is True:
            return True
        return any(_write_only(value, depth + 1) for key, value in schema.items() if key not in ("default", "examples", "const", "enum"))
    if isinstance(schema, list):
        return any(_write_only(item, depth + 1) for item in schema)
    return False


class ActionInfo:
    __slots__ = ("name", "modifies", "stateless")

    def __init__(self, name, modifies, stateless):
        self.name = name
        self.modifies = modifies
        self.stateless = stateless


def applies_to(spec, action):
    """CNAB ``applyTo``: empty or missing means every action."""
    targets = spec.get("applyTo") or []
    return not targets or action in targets


def load_bundle(source):
    """Load a bundle from a path to a bundle.json or to a directory that holds one."""
    if not source:
        raise BundleError("no bundle was given: set the bundle option to a bundle.json file or its directory.")
    path = os.path.expanduser(str(source))
    if os.path.isdir(path):
        path = os.path.join(path, "bundle.json")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as exc:
        raise BundleError("bundle file %s does not exist." % path) from exc
    except OSError as exc:
        raise BundleError("bundle file %s cannot be read: %s." % (path, exc.strerror or exc)) from exc
    # Depth is left to validation, which names where a document nests too deeply.
    document = parse_json(raw, "bundle file %s" % path, max_depth=None)
    return Bundle(document, reference=os.path.abspath(path))
