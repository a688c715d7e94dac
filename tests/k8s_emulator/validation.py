"""Kubernetes' object validation rules the emulator enforces, with the API server's messages.

Each check returns a list of ``(field, message)`` causes; the store turns them into a
422 ``Invalid`` Status whose message has the server's shape::

    Secret "x" is invalid: metadata.name: Invalid value: "X": a lowercase RFC 1123 subdomain ...
"""

import re

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")

MAX_SECRET_SIZE = 1024 * 1024  # api.MaxSecretSize: the sum of the decoded data values
MAX_ANNOTATIONS_SIZE = 256 * 1024  # TotalAnnotationSizeLimitB: keys plus values
MAX_LABEL_VALUE = 63

_SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_TEXT = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_TEXT = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_CONFIG_KEY_TEXT = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def invalid(value, text):
    return 'Invalid value: "%s": %s' % (value, text)


def too_long(limit):
    return "Too long: must have at most %d bytes" % limit


def subdomain_errors(value):
    """IsDNS1123Subdomain: messages only (no field)."""
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(_SUBDOMAIN_TEXT)
    return errors


def label_name_errors(value):
    """IsDNS1123Label (namespace names)."""
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not DNS1123_LABEL.fullmatch(value):
        errors.append(_LABEL_TEXT)
    return errors


def qualified_name_errors(key):
    """IsQualifiedName: ``[prefix/]name`` as used by label and annotation keys."""
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return ["a qualified name " + _QUALIFIED_TEXT.replace("name part ", "") + " with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"]
    errors = ["prefix part " + text for text in subdomain_errors(prefix)] if prefix else []
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if name and not QUALIFIED_NAME.fullmatch(name):
        errors.append(_QUALIFIED_TEXT)
    return errors


def label_value_errors(value):
    errors = []
    if len(value) > MAX_LABEL_VALUE:
        errors.append("must be no more than 63 characters")
    if not LABEL_VALUE.fullmatch(value):
        errors.append(_VALUE_TEXT)
    return errors


def object_meta_causes(meta, name_rule):
    """ValidateObjectMeta: name, labels, annotations."""
    causes = []
    name = meta.get("name") or ""
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    else:
        for text in name_rule(name):
            causes.append(("metadata.name", invalid(name, text)))
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        causes.append(("metadata.labels", "Invalid value: labels must map strings to strings"))
        labels = {}
    for key, value in sorted(labels.items()):
        for text in qualified_name_errors(key):
            causes.append(("metadata.labels", invalid(key, text)))
        for text in label_value_errors(value):
            causes.append(("metadata.labels", invalid(value, text)))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        causes.append(("metadata.annotations", "Invalid value: annotations must map strings to strings"))
        annotations = {}
    total = 0
    for key, value in sorted(annotations.items()):
        for text in qualified_name_errors(key.lower()):
            causes.append(("metadata.annotations", invalid(key, text)))
        total += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    if total > MAX_ANNOTATIONS_SIZE:
        causes.append(("metadata.annotations", too_long(MAX_ANNOTATIONS_SIZE)))
    return causes


def secret_causes(secret, decoded):
    """ValidateSecret for generic (Opaque) secrets; ``decoded`` maps keys to bytes."""
    causes = object_meta_causes(secret["metadata"], subdomain_errors)
    total = 0
    for key, value in sorted(decoded.items()):
        if len(key) > 253:
            causes.append(("data[%s]" % key, invalid(key, "must be no more than 253 characters")))
        if not CONFIG_KEY.fullmatch(key):
            causes.append(("data[%s]" % key, invalid(key, _CONFIG_KEY_TEXT)))
        elif key in (".", "..") or key.startswith(".."):
            causes.append(("data[%s]" % key, invalid(key, "must not be '.' or '..' nor start with '..'")))
        total += len(value)
    if total > MAX_SECRET_SIZE:
        causes.append(("data", too_long(MAX_SECRET_SIZE)))
    return causes


def lease_causes(lease):
    causes = object_meta_causes(lease["metadata"], subdomain_errors)
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        causes.append(("spec.leaseDurationSeconds", invalid(duration, "must be greater than 0")))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        causes.append(("spec.leaseTransitions", invalid(transitions, "must be greater than or equal to 0")))
    return causes


def namespace_causes(namespace):
    return object_meta_causes(namespace["metadata"], label_name_errors)
