"""Parameters, credentials and outputs: resolution, validation, destinations, secrecy.

Pure functions of a bundle, an action and user input. Nothing here touches a
store or a driver, so every rule of CNAB Core 103 is unit-tested directly.
"""

import base64
import hashlib
import hmac
import json
import os

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import (
    OUTPUTS_DIR,
    SENSITIVE_MASK,
    applies_to,
    container_path,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    CredentialError,
    ParameterError,
)


# Porter's file parameters (sh.porter.file-parameters): a string parameter encoded in base64 with a
# path destination. The user gives the content; the destination gets its base64 text, which the
# image's Porter runtime decodes in place; an unset one is written as "null", which it deletes.
FILE_PARAMETERS_EXTENSION = "sh.porter.file-parameters"
UNSET_FILE = "null"


def to_text(value):
    """CNAB encoding of a value for env and files: strings raw, the rest as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _types(definition):
    declared = definition.get("type")
    if declared is None:
        return None
    return [declared] if isinstance(declared, str) else list(declared)


def _coerce(value, definition):
    """Ansible hands templated and ``k=v`` values over as strings; read them as JSON
    when the definition cannot take a string, so ``port=8080`` means 8080."""
    types = _types(definition)
    if not isinstance(value, str) or types is None or "string" in types:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed


def schema_error(value, definition, sensitive=False):
    """The first reason ``value`` fails the draft-07 ``definition``, or None.

    jsonschema's messages quote the value, so for a sensitive value only the
    keyword it broke is named.
    """
    import jsonschema  # lazy: 60 ms, and a no-op run never validates

    validator = jsonschema.Draft7Validator(definition)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "".join("[%s]" % json.dumps(p) for p in error.absolute_path)
    if sensitive:
        return "%sit does not satisfy the %r rule of its definition" % (where + " " if where else "", error.validator)
    return (where + " " if where else "") + error.message


def resolve_parameters(bundle, given, validate=True):
    """Every parameter's value: the user's, else the definition's default.

    Parameters with neither are left out (they are injected as "" by
    ``parameter_destinations``). ``validate`` checks values against their definitions.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(bundle.parameters))
    if unknown:
        raise ParameterError(
            'bundle "%s" has no parameter %s (declared: %s).'
            % (bundle.name, ", ".join('"%s"' % n for n in unknown), ", ".join(sorted(bundle.parameters)) or "none")
        )
    values = {}
    for name, spec in bundle.parameters.items():
        definition = bundle.definition_of(spec.get("definition"))
        if name in given and given[name] is not None:
            values[name] = _coerce(given[name], definition)
        elif "default" in definition:
            values[name] = definition["default"]
        else:
            continue
        if validate:
            sensitive = bundle.is_sensitive_parameter(name)
            problem = schema_error(values[name], definition, sensitive)
            if problem:
                shown = "" if sensitive else " (%s)" % to_text(values[name])[:80]
                raise ParameterError('parameter "%s"%s is invalid: %s.' % (name, shown, problem.rstrip(".")))
    return values


def supports_file_parameters(bundle):
    """Porter's rule: the bundle requires or configures the extension, or was built by Porter."""
    custom = bundle.document.get("custom")
    custom = custom if isinstance(custom, dict) else {}
    required = bundle.document.get("requiredExtensions")
    return (isinstance(required, list) and FILE_PARAMETERS_EXTENSION in required) \
        or FILE_PARAMETERS_EXTENSION in custom or "sh.porter" in custom


def is_file_parameter(bundle, name):
    """A parameter of Porter type file: definition ``type: string`` + ``contentEncoding: base64``,
    a ``path`` destination, in a bundle that supports file parameters."""
    spec = bundle.parameters.get(name)
    if not isinstance(spec, dict) or not isinstance(spec.get("destination"), dict):
        return False
    definition = bundle.definition_of(spec.get("definition"))
    return (definition.get("type") == "string" and definition.get("contentEncoding") == "base64"
            and bool(spec["destination"].get("path")) and supports_file_parameters(bundle))


def encode_file_parameters(bundle, given):
    """The user's parameter values with each file parameter's content - a string, or
    ``{path: FILE}`` read here as bytes - replaced by its base64 text: the value that is
    recorded, compared and written to the destination. Only for values the user gives;
    recorded values are already encoded."""
    if not given:
        return given
    encoded = dict(given)
    for name, value in given.items():
        if value is not None and is_file_parameter(bundle, name):
            encoded[name] = base64.b64encode(_file_content(name, value)).decode("ascii")
    return encoded


def _file_content(name, value):
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict) and list(value) == ["path"] and isinstance(value["path"], str):
        path = os.path.expanduser(value["path"])
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ParameterError('file parameter "%s" comes from file %s, which cannot be read: %s.'
                                 % (name, path, exc.strerror or exc)) from exc
    raise ParameterError('file parameter "%s" must be its content as a string, or {path: FILE} to read a file.' % name)


def file_parameter_contents(bundle, values):
    """The decoded content of each file parameter in ``values``, by name (what the image sees)."""
    contents = {}
    for name, value in values.items():
        if isinstance(value, str) and is_file_parameter(bundle, name):
            try:
                contents[name] = base64.b64decode(value, validate=True)
            except ValueError:
                continue  # not base64 (a default written by hand): the image gets it as it is
    return contents


def parameter_from_output(bundle, name, content):
    """The value a parameter takes from an output's bytes (io.cnab.parameter-sources): their base64
    for a file parameter, else the text, read as JSON when the definition cannot take a string."""
    if is_file_parameter(bundle, name):
        return base64.b64encode(content).decode("ascii")
    definition = bundle.definition_of((bundle.parameters.get(name) or {}).get("definition"))
    return _coerce(content.decode("utf-8", "replace"), definition)


def check_required_parameters(bundle, action, values):
    for name, spec in sorted(bundle.parameters.items()):
        if spec.get("required") and applies_to(spec, action) and name not in values:
            raise ParameterError('parameter "%s" is required by action "%s" and has no default.' % (name, action))


def _add_destination(env, files, dest, text, what):
    if dest.get("env"):
        env[dest["env"]] = text
    if dest.get("path"):
        files[_container_path(dest["path"], what)] = text


def _container_path(path, what):
    clean = container_path(path)
    if clean == OUTPUTS_DIR or clean.startswith(OUTPUTS_DIR + "/"):
        raise ParameterError("%s path %s may not be under %s." % (what, path, OUTPUTS_DIR))
    return clean


def parameter_destinations(bundle, action, values):
    """env and files for the parameters that apply to ``action``. An unset parameter is "",
    an unset file parameter "null" (Porter's convention: its runtime deletes the file)."""
    env, files = {}, {}
    for name, spec in bundle.parameters.items():
        if applies_to(spec, action):
            if name in values:
                text = to_text(values[name])
            else:
                text = UNSET_FILE if is_file_parameter(bundle, name) else ""
            _add_destination(env, files, spec.get("destination") or {}, text, 'parameter "%s"' % name)
    return env, files


def read_credential(name, source):
    """A credential value from a string, or from ``{value|env|path: ...}``."""
    if isinstance(source, dict):
        if len(source) != 1 or next(iter(source)) not in ("value", "env", "path"):
            raise CredentialError('credential "%s" must be a string or one of {value: ...}, {env: ...}, {path: ...}.' % name)
        kind, where = next(iter(source.items()))
        if kind == "value":
            return to_text(where)
        if kind == "env":
            if where not in os.environ:
                raise CredentialError('credential "%s" comes from environment variable %s, which is not set.' % (name, where))
            return os.environ[where]
        try:
            with open(os.path.expanduser(where), "r") as handle:
                return handle.read()
        except OSError as exc:
            raise CredentialError('credential "%s" comes from file %s, which cannot be read: %s.' % (name, where, exc.strerror)) from exc
    return to_text(source)


def declared_credentials(bundle, given):
    """The given credentials that ``bundle`` declares, read from their sources: what the credentials
    fingerprint covers (undeclared ones are ignored, so one set can serve several bundles)."""
    return {n: read_credential(n, c) for n, c in (given or {}).items() if n in bundle.credentials and c is not None}


def resolve_credentials(bundle, action_info, given):
    """Declared credentials the user supplied, as strings. Undeclared ones are ignored,
    so one credential set can serve several bundles."""
    given = given or {}
    values = {}
    for name in bundle.credentials:
        if name in given and given[name] is not None:
            values[name] = read_credential(name, given[name])
    if not action_info.stateless:  # CNAB: stateless actions never demand credentials
        for name, spec in sorted(bundle.credentials.items()):
            if spec.get("required") and applies_to(spec, action_info.name) and name not in values:
                raise CredentialError(
                    'credential "%s" is required by action "%s" of bundle "%s" and was not given.'
                    % (name, action_info.name, bundle.name)
                )
    return values


def credential_destinations(bundle, action, values):
    env, files = {}, {}
    for name, spec in bundle.credentials.items():
        if name in values and applies_to(spec, action):
            _add_destination(env, files, spec, values[name], 'credential "%s"' % name)
    return env, files


def fingerprint(key, mapping):
    """Keyed HMAC-SHA256 of a mapping: detects changes without a guessable hash of secrets."""
    body = json.dumps(mapping, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def split_sensitive(bundle, values):
    """(public, sensitive) parameter values."""
    public, sensitive = {}, {}
    for name, value in values.items():
        (sensitive if bundle.is_sensitive_parameter(name) else public)[name] = value
    return public, sensitive


def masked_parameters(bundle, values):
    return {n: (SENSITIVE_MASK if bundle.is_sensitive_parameter(n) else v) for n, v in values.items()}


def wanted_outputs(bundle, action):
    """Container path -> output name, for the outputs ``action`` produces."""
    return {container_path(spec["path"]): name for name, spec in bundle.outputs.items() if applies_to(spec, action)}


def collect_outputs(bundle, action, files):
    """Turn the driver's output files into (values, metadata, problems).

    Missing outputs take their definition's default; outputs are validated against
    their definitions. ``problems`` lists sentences; the caller decides the status.
    """
    values, metadata, problems = {}, {}, []
    for path, name in sorted(wanted_outputs(bundle, action).items()):
        definition = bundle.definition_of(bundle.outputs[name].get("definition"))
        content = files.get(path)
        generated = content is not None
        if content is None:
            if "default" not in definition:
                problems.append('output "%s" was not written to %s and has no default' % (name, path))
                continue
            content = to_text(definition["default"]).encode("utf-8")
        sensitive = bundle.is_sensitive_output(name)
        problem = _output_problem(content, definition, sensitive)
        if problem:
            problems.append('output "%s" is invalid: %s' % (name, problem))
        values[name] = content
        meta = {"generatedByBundle": "true" if generated else "false"}
        # No digest of a sensitive value in the shareable record: a short secret could be guessed from it.
        if content and not sensitive:
            meta["contentDigest"] = "sha256:" + hashlib.sha256(content).hexdigest()
        metadata[name] = meta
    return values, metadata, problems


def _output_problem(content, definition, sensitive):
    types = _types(definition)
    if types is None or "string" in types:
        value = content.decode("utf-8", "replace")
    else:
        try:
            value = json.loads(content)
        except ValueError:
            return "it is not JSON of type %s" % "/".join(types)
    problem = schema_error(value, definition, sensitive)
    return problem.rstrip(".") if problem else None


def is_binary(content):
    """True when an output's bytes are not UTF-8 text: Ansible gets them as base64."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def output_value(bundle, name, content):
    """An output as Ansible returns it: JSON types decoded, text as text, binary as base64."""
    definition = bundle.definition_of((bundle.outputs.get(name) or {}).get("definition"))
    types = _types(definition)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(content).decode("ascii")
    if types and "string" not in types:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


class Masker:
    """Replaces every secret value in text, in every form an image may print it: as is,
    JSON-escaped, as JSON with or without spaces, and each string inside a structured
    value. Longest first, so a secret that contains another is masked whole."""

    def __init__(self, secrets=()):
        self._secrets = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret):
        if secret is None:
            return
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        if isinstance(secret, str):
            try:
                secret = json.loads(secret) if secret.strip()[:1] in ("{", "[") else secret
            except ValueError:
                pass
        for form in _printed_forms(secret):
            if form.strip():
                self._secrets.add(form)
                self._secrets.add(form.strip())

    @property
    def secrets(self):
        return sorted(self._secrets, key=len, reverse=True)

    def mask(self, text):
        for secret in self.secrets:
            text = text.replace(secret, SENSITIVE_MASK)
        return text


def _printed_forms(value, depth=0):
    if isinstance(value, str):
        return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    if isinstance(value, bool) or value is None or depth > 32:
        return set()  # "true" or "null" alone is no secret worth masking everywhere
    if isinstance(value, (int, float)):
        return {to_text(value)}
    forms = {to_text(value), json.dumps(value), json.dumps(value, sort_keys=True), json.dumps(value, indent=2)}
    leaves = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for leaf in leaves:
        forms |= _printed_forms(leaf, depth + 1)
    return forms
