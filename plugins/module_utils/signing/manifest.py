"""The signature manifest cosign stores under the tag ``sha256-<hex>.sig`` next to what it signs.

An OCI image manifest with one layer per signature: the layer blob is the payload, its annotation
``dev.cosignproject.cosign/signature`` the base64 DER ECDSA signature. The config is
go-containerregistry's config of an image built from those layers, so cosign can append to it.
"""

import base64
import binascii
import hashlib
import json
import re

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError
from ansible_collections.cnab.runtime.plugins.module_utils.signing.payload import MEDIA_TYPE as PAYLOAD_MEDIA_TYPE

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# Payloads are a few hundred bytes; anything much larger is not a signature.
MAX_PAYLOAD_SIZE = 64 * 1024
_ZERO_TIME = "0001-01-01T00:00:00Z"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"sha256-[0-9a-f]{64}\.sig")


class MalformedSignature(ValueError):
    """A signature manifest or layer that is not in cosign's format."""


def signature_tag(digest):
    """``sha256:<hex>`` -> ``sha256-<hex>.sig``: where cosign looks for the signatures of ``digest``."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError("%r is not a sha256 digest" % (digest,))
    return digest.replace(":", "-", 1) + ".sig"


def is_signature_tag(tag):
    return isinstance(tag, str) and bool(_TAG.fullmatch(tag))


def signed_digest_of_tag(tag):
    """The digest whose signatures the tag holds (inverse of signature_tag)."""
    return tag[:-len(".sig")].replace("-", ":", 1)


class SignatureLayer:
    """One signature: the payload's descriptor and the base64 signature."""

    __slots__ = ("digest", "size", "signature")

    def __init__(self, digest, size, signature):
        self.digest = digest
        self.size = size
        self.signature = signature

    def descriptor(self):
        return {"mediaType": PAYLOAD_MEDIA_TYPE, "size": self.size, "digest": self.digest,
                "annotations": {SIGNATURE_ANNOTATION: self.signature}}


def layer_for(payload, signature):
    return SignatureLayer("sha256:" + hashlib.sha256(payload).hexdigest(), len(payload), signature)


def _compact(document):
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def build_signature_manifest(layers):
    """(manifest bytes, config bytes) of a signature manifest holding ``layers`` in order."""
    config = _compact({
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _layer in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    })
    manifest = _compact({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [layer.descriptor() for layer in layers],
    })
    return manifest, config


def parse_signature_manifest(raw):
    """The signature layers of a manifest, in order. Layers of other media types (cosign
    attachments) are skipped; a layer of the payload type that is malformed is an error."""
    try:
        document = parse_json(raw, "The signature manifest")
    except BundleError as exc:  # not JSON, or beyond the reader's bounds
        raise MalformedSignature("the signature manifest is not JSON") from exc
    if not isinstance(document, dict) or document.get("schemaVersion") != 2:
        raise MalformedSignature("the signature manifest is not an image manifest (schemaVersion 2)")
    if document.get("mediaType", OCI_MANIFEST) not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise MalformedSignature("the signature manifest has the media type %r" % document.get("mediaType"))
    descriptors = document.get("layers")
    if not isinstance(descriptors, list):
        raise MalformedSignature("the signature manifest has no layers list")
    layers = []
    for index, descriptor in enumerate(descriptors, 1):
        if not isinstance(descriptor, dict):
            raise MalformedSignature("layer %d of the signature manifest is not an object" % index)
        if descriptor.get("mediaType") != PAYLOAD_MEDIA_TYPE:
            continue
        digest, size = descriptor.get("digest"), descriptor.get("size")
        annotations = descriptor.get("annotations")
        signature = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise MalformedSignature("layer %d of the signature manifest has no sha256 digest" % index)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PAYLOAD_SIZE:
            raise MalformedSignature("layer %d of the signature manifest has an invalid size" % index)
        if not isinstance(signature, str) or not signature:
            raise MalformedSignature("layer %d of the signature manifest has no %s annotation"
                                     % (index, SIGNATURE_ANNOTATION))
        layers.append(SignatureLayer(digest, size, signature))
    return layers


def decode_signature(text):
    """DER bytes of a base64 signature annotation (standard alphabet, padded)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedSignature("the signature annotation is not base64") from exc


def sign_payload(private_key, payload):
    """Base64 of the DER ECDSA P-256/SHA-256 signature of ``payload`` by ``private_key`` (keys.PrivateKey)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return base64.b64encode(private_key.key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def signature_matches(public_key, payload, signature_der):
    """True when ``signature_der`` is ``public_key``'s (keys.PublicKey) signature of ``payload``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        public_key.key.verify(signature_der, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
