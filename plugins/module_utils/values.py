"""Parameters, credentials and outputs: resolution, validation, destinations, secrecy.

Pure functions of a bundle, an action and user input. Nothing here touches a
store or a driver, so every rule of CNAB Core 103 is unit-tested directly.
"""

import base64
import hashlib
import hmac
import json
import os
import re

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import (
    OUTPUTS_DIR,
    SENSITIVE_MASK,
    applies_to,
    container_path,
    has_control_character,
)
# Porter's file parameters: one rule, the extension reader's (values.is_file_parameter is that function).
from ansible_collections.cnab.runtime.plugins.module_utils.extensions import is_file_parameter
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    CredentialError,
    ParameterError,
)


# Porter's file parameters (sh.porter.file-parameters): a string parameter encoded in base64 with a
# path destination. The user gives the content; the destination gets its base64 text, which the
# image's Porter runtime decodes in place; an unset one is written as "null", which it deletes.
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
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

    # lazy: 60 ms, and a no-op run never validates
    jsonschema = require_library("jsonschema", "jsonschema", "validating values against the bundle's definitions")

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
    if has_control_character(path):
        raise ParameterError("%s path %s holds a control character (such as NUL or a line break), which no path in "
                             "the container may hold." % (what, json.dumps(path)))
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


def outputs_holding_secrets(outputs, metadata, sensitive, masker):
    """Names of the outputs outside ``sensitive`` whose value holds a secret of ``masker`` (a
    credential or a sensitive parameter, in any form it masks). They are to be stored and returned
    as sensitive; their content digest leaves ``metadata``, as for every sensitive output."""
    found = set()
    for name, content in outputs.items():
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else to_text(content)
        if name not in sensitive and masker.finds(text):
            found.add(name)
            metadata.get(name, {}).pop("contentDigest", None)
    return found


def secret_output_warning(name):
    return ('output "%s" is not declared sensitive but holds the value of a credential or sensitive parameter: '
            "it is stored and returned as sensitive" % name)


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
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to decode: kept as text
            return text
    return text


# ---- masking ----------------------------------------------------------------------------------

# A secret shorter than this is masked only where it stands alone: masked inside words, "t" or
# "80" would blank every "t" of a message and every "80" of a port number (docs/security.md).
MIN_SECRET_LENGTH = 4
# A longer value (a large structured parameter) is masked by its exact forms, not by a pattern.
_PATTERN_LIMIT = 4096
_JSON_ESCAPES = {'"': '"', "\\": "\\", "\b": "b", "\t": "t", "\n": "n", "\f": "f", "\r": "r"}
_GO_ESCAPES = dict(_JSON_ESCAPES, **{"\a": "a", "\v": "v"})
_GO_JSON_ESCAPED = "<>&\u2028\u2029"
_ESCAPE = re.compile(r"\\(?:u[0-9a-f]{4}|U[0-9a-f]{8}|x[0-9a-f]{2}|.)", re.S)
_HEX_ESCAPE = re.compile(r"\\(?:u[0-9a-f]{4}|U[0-9a-f]{8}|x[0-9a-f]{2})")


def _json_u(code):
    if code > 0xFFFF:  # JSON writes a character beyond the BMP as a UTF-16 surrogate pair
        code -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
    return "\\u%04x" % code


def _go_u(code):
    return "\\u%04x" % code if code <= 0xFFFF else "\\U%08x" % code


def _char_forms(char):
    """How each runtime or tool on the path writes ``char``: the one table behind all masking.

    ``json``: RFC 8259's short escapes, other control characters as ``\\u00XX`` (Python with
    ``ensure_ascii=False``, Go with ``SetEscapeHTML(false)``, most tools); ``json_ascii``: also
    non-ASCII as ``\\uXXXX`` (Python's default); ``go_json``: Go's ``encoding/json``, which escapes
    ``<``, ``>``, ``&`` and U+2028/9 too; ``go``: Go's ``%q`` (``strconv.Quote``: ``\\x00``, ``\\t``,
    ``\\u`` for what is not printable); ``go_ascii``: ``%+q``; ``bytes``: each UTF-8 byte of a
    non-ASCII character as ``\\xNN`` (``%q`` of bytes, Python's bytes repr).
    """
    code = ord(char)
    if char in _JSON_ESCAPES:
        json_form = "\\" + _JSON_ESCAPES[char]
    elif code < 0x20:
        json_form = "\\u%04x" % code
    else:
        json_form = char
    if char in _GO_ESCAPES:
        go = "\\" + _GO_ESCAPES[char]
    elif code < 0x20 or code == 0x7F:
        go = "\\x%02x" % code
    elif not char.isprintable():
        go = _go_u(code)
    else:
        go = char
    ascii_only = code < 0x80
    return {
        "raw": char,
        "json": json_form,
        "json_ascii": json_form if ascii_only else _json_u(code),
        "go_json": "\\u%04x" % code if char in _GO_JSON_ESCAPED else json_form,
        "go": go,
        "go_ascii": go if ascii_only else _go_u(code),
        "bytes": char if ascii_only else "".join("\\x%02x" % b for b in char.encode("utf-8", "surrogatepass")),
        "json_slash": "\\/" if char == "/" else json_form,  # JSON's optional escape of "/" (PHP, some Java)
    }


def encoded_forms(value):
    """``value`` in each encoding of ``_char_forms``, hex digits in lower and in upper case: what a
    masking by exact substrings (Ansible's ``no_log_values``) needs to know."""
    tables = [_char_forms(char) for char in value]
    forms = {"".join(table[encoding] for table in tables) for encoding in (tables[0] if tables else {})}
    forms |= {_HEX_ESCAPE.sub(lambda escape: escape.group()[:2] + escape.group()[2:].upper(), form) for form in forms}
    return forms | {value}


def _form_pattern(form):
    """One form of one character as a regular expression: an escape also behind more backslashes
    (escaped text escaped again, as in JSON inside a JSON string), its hex digits in either case."""
    if not form.startswith("\\") or len(form) == 1:
        return re.escape(form)
    parts = []
    for escape in _ESCAPE.findall(form):
        body = escape[1:]
        parts.append(r"\\+" + re.escape(body[0]) + "".join(
            "[%s%s]" % (digit, digit.upper()) if digit in "abcdef" else digit for digit in body[1:]))
    return "".join(parts)


def _secret_pattern(value):
    """A regular expression matching ``value`` in any mix of its ``_char_forms``. A short value
    matches only as a whole token: not inside a word, before or after a letter, digit or "_"
    (an escape such as ``\\n`` before it counts as a separator)."""
    parts = []
    for char in value:
        alternatives = sorted({_form_pattern(form) for form in _char_forms(char).values()}, key=len, reverse=True)
        parts.append(alternatives[0] if len(alternatives) == 1 else "(?:%s)" % "|".join(alternatives))
    if len(value) < MIN_SECRET_LENGTH:
        first = value[0]
        if re.match(r"\w", first) and parts[0] == re.escape(first):
            # Checked after the first character, so the search still starts from a literal (fast).
            parts[0] += r"(?:(?<!\w%s)|(?<=\\[nrtbfv]%s))" % (parts[0], parts[0])
        elif re.match(r"\w", first):
            parts.insert(0, r"(?:(?<!\w)|(?<=\\[nrtbfv]))")
        if re.match(r"\w", value[-1]):
            parts.append(r"(?!\w)")
    return re.compile("".join(parts))


class Masker:
    """Replaces every secret value in text, in every form an image, a runtime or a tool may print it:
    as is, in the encodings of ``_char_forms`` (JSON escapes, Go's ``%q``, either hex case), as JSON
    with or without spaces or indentation, and each string inside a structured value. Longest
    first, so a secret that contains another is masked whole. A value shorter than
    ``MIN_SECRET_LENGTH`` is masked only as a whole token, and named in ``weak``."""

    def __init__(self, secrets=()):
        self._values = set()
        self._patterns = {}
        self.weak = set()  # labels of secrets with a value masked only as a whole token
        for secret in secrets:
            self.add(secret)

    def add(self, secret, label=None):
        """Mask ``secret`` (text, bytes, a number or a structured value); ``label`` names it in
        ``weak``, as 'credential "x"'."""
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
            for text in (form, form.strip()):
                if text.strip():
                    self._values.add(text)
                    if len(text) < MIN_SECRET_LENGTH and label:
                        self.weak.add(label)

    def combined(self, other):
        """A masker of both sets of secrets."""
        masker = Masker()
        masker._values = self._values | other._values
        masker.weak = self.weak | other.weak
        return masker

    @property
    def secrets(self):
        """Exact texts to mask by substring (for Ansible's ``no_log_values``), longest first: every
        encoded form of each value, but no short value, which would be masked inside every word."""
        forms = set()
        for value in self._values:
            if len(value) >= MIN_SECRET_LENGTH:
                forms |= encoded_forms(value)
        return sorted(forms, key=len, reverse=True)

    @property
    def short_values(self):
        return sorted(value for value in self._values if len(value) < MIN_SECRET_LENGTH)

    def _ordered_patterns(self):
        for value in sorted(self._values, key=len, reverse=True):
            if value not in self._patterns:
                self._patterns[value] = _secret_pattern(value) if len(value) <= _PATTERN_LIMIT else None
            yield value, self._patterns[value]

    def mask(self, text):
        for value, pattern in self._ordered_patterns():
            if pattern is None:
                for form in sorted(encoded_forms(value), key=len, reverse=True):
                    text = text.replace(form, SENSITIVE_MASK)
            else:
                text = pattern.sub(SENSITIVE_MASK, text)
        return text

    def finds(self, text):
        """True when ``text`` holds one of the secrets, in any form ``mask`` masks."""
        return self.mask(text) != text


def weak_secret_warnings(masker):
    return ["%s is shorter than %d characters, so it cannot be masked reliably: logs and messages mask it "
            "only where it stands alone, not inside a longer word" % (label, MIN_SECRET_LENGTH)
            for label in sorted(masker.weak)]


def _printed_forms(value, depth=0):
    if isinstance(value, str):
        return {value}
    if isinstance(value, bool) or value is None or depth > 32:
        return set()  # "true" or "null" alone is no secret worth masking everywhere
    if isinstance(value, (int, float)):
        return {to_text(value)}
    forms = {to_text(value), json.dumps(value), json.dumps(value, sort_keys=True), json.dumps(value, indent=2)}
    leaves = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for leaf in leaves:
        forms |= _printed_forms(leaf, depth + 1)
    return forms
