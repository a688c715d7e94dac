"""Verdicts on a bundle's signatures, and the ``verify`` policy that acts on them.

A signature is accepted when it verifies with a trusted key *and* its payload names the digest of
the index that was actually fetched (and, when it names one, the bundle.json that was fetched).
Everything else is one of: unsigned, signed by no trusted key, a digest mismatch, malformed.
"""

from ansible_collections.cnab.runtime.plugins.module_utils.errors import SignatureError
from ansible_collections.cnab.runtime.plugins.module_utils.signing.manifest import (
    MalformedSignature,
    decode_signature,
    signature_matches,
)
from ansible_collections.cnab.runtime.plugins.module_utils.signing.payload import (
    BUNDLE_DIGEST_ANNOTATION,
    PayloadError,
    parse_payload,
)

VERIFIED, UNSIGNED, UNTRUSTED, MISMATCH, INVALID = "verified", "unsigned", "untrusted", "mismatch", "invalid"


class Signature:
    """A payload and its base64 signature, as read from a signature layer (or any other carrier)."""

    __slots__ = ("payload", "signature")

    def __init__(self, payload, signature):
        self.payload = payload
        self.signature = signature


class Verdict:
    """The outcome of a verification; ``reason`` is a clause that completes "bundle X ...: <reason>"."""

    __slots__ = ("status", "reason", "fingerprint", "digest")

    def __init__(self, status, reason, fingerprint=None, digest=None):
        self.status = status
        self.reason = reason
        self.fingerprint = fingerprint
        self.digest = digest

    @property
    def verified(self):
        return self.status == VERIFIED

    def as_record(self):
        """What a claim keeps: whether, by which key, over which index digest."""
        return {"verified": self.verified, "status": self.status, "keyFingerprint": self.fingerprint,
                "indexDigest": self.digest, "reason": self.reason}

    def __repr__(self):
        return "Verdict(%s, %r)" % (self.status, self.reason)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def verify_signatures(digest, signatures, keys, bundle_digest=None):
    """Verdict on ``signatures`` (list of Signature) of the index ``digest`` under ``keys``
    (list of keys.PublicKey). ``bundle_digest``, when given, must match the payload's
    ``io.cnab.bundle.digest`` annotation if it has one."""
    if not signatures:
        return Verdict(UNSIGNED, "it has no signature", digest=digest)
    refusal = None
    for signature in signatures:
        try:
            der = decode_signature(signature.signature)
        except MalformedSignature:
            continue  # cannot verify with any key: counted as untrusted below
        for key in keys:
            if not signature_matches(key, signature.payload, der):
                continue
            try:
                payload = parse_payload(signature.payload)
            except PayloadError as exc:
                refusal = refusal or Verdict(INVALID, "the payload signed by key %s is not a cosign signature"
                                                      " payload: %s" % (key.label, exc), key.fingerprint, digest)
                continue
            if payload.digest != digest:
                refusal = Verdict(MISMATCH, "its signature by key %s is for the index %s, not for the index %s that"
                                            " was fetched" % (key.label, payload.digest, digest), key.fingerprint,
                                  digest)
                continue
            signed_bundle = payload.optional.get(BUNDLE_DIGEST_ANNOTATION)
            if bundle_digest and signed_bundle is not None and signed_bundle != bundle_digest:
                refusal = Verdict(MISMATCH, "its signature by key %s is for the bundle.json %s, not for the"
                                            " bundle.json %s that was fetched" % (key.label, signed_bundle,
                                                                                  bundle_digest),
                                  key.fingerprint, digest)
                continue
            return Verdict(VERIFIED, "it is signed by key %s" % key.label, key.fingerprint, digest)
    if refusal is not None:
        return refusal
    trusted = ", ".join(key.label for key in keys) or "none"
    return Verdict(UNTRUSTED, "none of its %s verifies with a trusted key (trusted: %s)"
                   % (_plural(len(signatures), "signature"), trusted), digest=digest)


class VerifyPolicy:
    """The ``verify`` option group: which public keys are trusted, and whether a bundle must verify."""

    def __init__(self, keys=(), required=False):
        self.key_paths = [path for path in (keys or ()) if path]
        self.required = bool(required)
        self._keys = None

    @classmethod
    def from_options(cls, options):
        options = options or {}
        return cls(options.get("keys"), options.get("required"))

    @property
    def active(self):
        """False when there is nothing to check: no keys and signatures not required."""
        return bool(self.key_paths) or self.required

    def trusted_keys(self):
        if self._keys is None:
            if self.required and not self.key_paths:
                raise SignatureError("verify.required is true but verify.keys names no public key: give the"
                                     " public key files that bundles must be signed with.")
            from ansible_collections.cnab.runtime.plugins.module_utils.signing.keys import load_public_key

            self._keys = [load_public_key(path) for path in self.key_paths]
        return self._keys

    def trusted_fingerprints(self):
        """Fingerprints of the trusted keys, read without ``cryptography`` (enough to reuse a recorded
        verification: a recorded fingerprint only ever comes from a key that verified a signature)."""
        if self._keys is not None:
            return {key.fingerprint for key in self._keys}
        if self.required and not self.key_paths:
            self.trusted_keys()  # raises the configuration error
        from ansible_collections.cnab.runtime.plugins.module_utils.signing.keys import (
            fingerprint_of_public_pem,
            read_key_file,
        )

        return {fingerprint_of_public_pem(read_key_file(path, "public key")) for path in self.key_paths} - {None}

    def enforce(self, verdict, subject):
        """None when ``verdict`` passes, a warning (str) when it fails but signatures are not required;
        raises SignatureError (one sentence naming ``subject`` and the reason) when they are."""
        if verdict.verified:
            return None
        subject = subject[:1].upper() + subject[1:]
        if self.required:
            raise SignatureError("%s was refused: %s." % (subject, verdict.reason))
        return "%s is not verified (%s); it is used because verify.required is false." % (subject, verdict.reason)
