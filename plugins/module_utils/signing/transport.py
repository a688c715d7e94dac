"""Reading and writing signatures where bundles live: a registry repository or a thick archive.

Signatures of the index ``sha256:<hex>`` are the manifest tagged ``sha256-<hex>.sig`` in the
bundle's own repository (cosign's scheme), or the archive's OCI-layout entry of that name.
"""

import hashlib

from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ArchiveError,
    ContentDigestMismatch,
    RegistryError,
)
from ansible_collections.cnab.runtime.plugins.module_utils.signing import manifest as sig_manifest
from ansible_collections.cnab.runtime.plugins.module_utils.signing.payload import build_payload, parse_payload
from ansible_collections.cnab.runtime.plugins.module_utils.signing.verify import (
    INVALID,
    Signature,
    Verdict,
    verify_signatures,
)


def signatures_from_manifest(raw, read_payload):
    """Signature list of a ``.sig`` manifest; ``read_payload(layer)`` returns a layer's blob bytes.
    Raises MalformedSignature when the manifest or a payload is not what it claims."""
    signatures = []
    for number, layer in enumerate(sig_manifest.parse_signature_manifest(raw), 1):
        try:
            data = read_payload(layer)
        except (ContentDigestMismatch, ArchiveError, RegistryError) as exc:
            raise sig_manifest.MalformedSignature("the payload of signature %d cannot be read (%s)"
                                                  % (number, str(exc).rstrip("."))) from exc
        if len(data) != layer.size or "sha256:" + hashlib.sha256(data).hexdigest() != layer.digest:
            raise sig_manifest.MalformedSignature("the payload of signature %d does not match its digest; the"
                                                  " signature was altered" % number)
        signatures.append(Signature(data, layer.signature))
    return signatures


def verdict_of(read_signatures, digest, keys, bundle_digest=None):
    """Verdict on the signatures ``read_signatures()`` returns; a malformed carrier is a verdict too."""
    try:
        signatures = read_signatures()
    except sig_manifest.MalformedSignature as exc:
        return Verdict(INVALID, "its signature manifest is unusable: %s" % exc, digest=digest)
    return verify_signatures(digest, signatures, keys, bundle_digest)


def _read_limited(stream, size):
    with stream:
        data = stream.read(size + 1)
        stream.read()  # let a verifying reader check the digest at the end
    return data


# ------------------------------------------------------------------------------- registry


def registry_signatures(client, repository, digest):
    """The signatures stored for ``digest`` in ``repository`` ([] when it has none)."""
    tag = sig_manifest.signature_tag(digest)
    if client.head_manifest(repository, tag) is None:
        return []
    raw, _media_type, _digest = client.get_manifest(repository, tag)
    return signatures_from_manifest(
        raw, lambda layer: _read_limited(client.open_blob(repository, layer.digest, layer.size), layer.size))


def verify_in_registry(client, repository, digest, keys, bundle_digest=None):
    return verdict_of(lambda: registry_signatures(client, repository, digest), digest, keys, bundle_digest)


def attach_signature(client, repository, digest, private_key, docker_reference, optional=None):
    """Sign ``digest`` with ``private_key`` (keys.PrivateKey) and store the signature as a new layer of
    the ``sha256-<hex>.sig`` manifest in ``repository``, keeping the signatures already there.

    Returns ``{"tag", "digest" (of the .sig manifest), "added"}``; ``added`` is False when a layer
    there already verifies with this key for ``digest`` (a re-run adds nothing)."""
    tag = sig_manifest.signature_tag(digest)
    layers = []
    found = client.head_manifest(repository, tag)
    if found is not None:
        raw, _media_type, sig_digest = client.get_manifest(repository, tag)
        try:
            layers = sig_manifest.parse_signature_manifest(raw)
            signatures = signatures_from_manifest(
                raw, lambda layer: _read_limited(client.open_blob(repository, layer.digest, layer.size), layer.size))
        except sig_manifest.MalformedSignature:
            layers, signatures = [], []  # unusable: replaced by a manifest holding our signature only
        for signature in signatures:
            if signed_by(signature, private_key, digest):
                return {"tag": tag, "digest": sig_digest, "added": False}
    payload = build_payload(docker_reference, digest, optional)
    layer = sig_manifest.layer_for(payload, sig_manifest.sign_payload(private_key, payload))
    raw, config = sig_manifest.build_signature_manifest(layers + [layer])
    for blob in (payload, config):
        blob_digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        if client.head_blob(repository, blob_digest) is None:
            client.push_blob(repository, blob_digest, len(blob), blob)
    sig_digest = client.put_manifest(repository, tag, raw, sig_manifest.OCI_MANIFEST)
    return {"tag": tag, "digest": sig_digest, "added": True}


def signed_by(signature, private_key, digest):
    try:
        der = sig_manifest.decode_signature(signature.signature)
        return (sig_manifest.signature_matches(private_key.public, signature.payload, der)
                and parse_payload(signature.payload).digest == digest)
    except ValueError:
        return False


# -------------------------------------------------------------------------------- archive


def archive_signatures(archive, digest):
    """The signatures a thick archive (oci.archive.ThickArchive) carries for ``digest``."""
    tag = sig_manifest.signature_tag(digest)
    try:
        carried = archive.signature_manifests()
    except (ArchiveError, ContentDigestMismatch) as exc:
        raise sig_manifest.MalformedSignature("the archive's signature manifests cannot be read (%s)"
                                              % str(exc).rstrip(".")) from exc
    for name, _sig_digest, raw, _media_type in carried:
        if name == tag:
            return signatures_from_manifest(
                raw, lambda layer: archive.read_blob(layer.digest, limit=sig_manifest.MAX_PAYLOAD_SIZE))
    return []


def verify_in_archive(archive, digest, keys, bundle_digest=None):
    return verdict_of(lambda: archive_signatures(archive, digest), digest, keys, bundle_digest)
