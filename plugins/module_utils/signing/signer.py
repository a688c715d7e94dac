"""Signing a pushed bundle: the ``sign`` option group of cnab_bundle."""

from ansible_collections.cnab.runtime.plugins.module_utils.signing import manifest, transport
from ansible_collections.cnab.runtime.plugins.module_utils.signing.keys import load_private_key
from ansible_collections.cnab.runtime.plugins.module_utils.signing.payload import BUNDLE_DIGEST_ANNOTATION


def load_signer(options):
    """The private key of a ``sign`` option dict (``{"key", "passphrase"}``), or None without a key.
    Loaded before anything is pushed, so a wrong passphrase fails first."""
    options = options or {}
    if not options.get("key"):
        return None
    return load_private_key(options["key"], options.get("passphrase"))


def sign_index(private, client, reference, index_digest, bundle_digest=None, check_mode=False):
    """Sign ``index_digest`` in ``reference``'s repository with ``private`` (keys.PrivateKey).
    Returns ``{"tag", "digest", "fingerprint", "added"}``; a re-run finds its signature and adds nothing."""
    result = {"tag": manifest.signature_tag(index_digest) if index_digest else None, "digest": None,
              "fingerprint": private.fingerprint, "added": True}
    if index_digest is None:  # check mode, the index is not known yet: it would be signed
        return result
    if check_mode:
        found = client.head_manifest(reference.repository, result["tag"])
        if found is not None:
            result["digest"] = found[0]
            try:
                signatures = transport.registry_signatures(client, reference.repository, index_digest)
            except manifest.MalformedSignature:
                signatures = []
            result["added"] = not any(transport.signed_by(sig, private, index_digest) for sig in signatures)
        return result
    optional = {BUNDLE_DIGEST_ANNOTATION: bundle_digest} if bundle_digest else None
    stored = transport.attach_signature(client, reference.repository, index_digest, private, reference.name, optional)
    result.update(digest=stored["digest"], added=stored["added"])
    return result
