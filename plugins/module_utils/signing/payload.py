"""cosign's "simple signing" payload: the document a signature is made over.

The bytes must be what cosign writes (Go ``encoding/json``: compact, fields in declaration order,
map keys sorted, ``<``, ``>`` and ``&`` escaped), so that cosign and other verifiers read ours and
we read theirs. Verifiers check only ``critical.image.docker-manifest-digest`` and ``critical.type``;
``docker-reference`` is informative, which is why a signature survives relocation.
"""

import json
import re

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError

SIGNATURE_TYPE = "cosign container image signature"
MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
# Optional annotation binding the signature to the canonical bundle.json as well.
BUNDLE_DIGEST_ANNOTATION = "io.cnab.bundle.digest"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Go escapes these in strings; they cannot occur outside strings in JSON text.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE = re.compile("[<>&\u2028\u2029]")


class PayloadError(ValueError):
    """The payload is not a cosign simple-signing document."""


def _go_json(value):
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _GO_ESCAPE.sub(lambda match: _GO_ESCAPES[match.group(0)], text)


def build_payload(docker_reference, digest, optional=None):
    """The payload bytes naming ``digest`` (``sha256:<hex>``) as the signed manifest."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError("%r is not a sha256 digest" % (digest,))
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": {key: optional[key] for key in sorted(optional)} if optional else None,
    }
    return _go_json(document).encode("utf-8")


class Payload:
    __slots__ = ("digest", "docker_reference", "optional")

    def __init__(self, digest, docker_reference, optional):
        self.digest = digest
        self.docker_reference = docker_reference
        self.optional = optional


def parse_payload(raw):
    """The signed digest, reference and annotations of payload bytes; PayloadError when malformed."""
    try:
        document = parse_json(raw, "The payload")
    except BundleError as exc:  # not JSON, or beyond the reader's bounds
        raise PayloadError("it is not JSON") from exc
    critical = document.get("critical") if isinstance(document, dict) else None
    if not isinstance(critical, dict):
        raise PayloadError('it has no "critical" object')
    if critical.get("type") != SIGNATURE_TYPE:
        raise PayloadError('its type is not "%s"' % SIGNATURE_TYPE)
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(digest, str):
        raise PayloadError("it names no docker-manifest-digest")
    identity = critical.get("identity")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    optional = document.get("optional")
    return Payload(digest, reference if isinstance(reference, str) else None,
                   optional if isinstance(optional, dict) else {})
