"""ECDSA P-256 keys: loading (PEM PKCS#8 or SEC1, optionally encrypted; cosign's encrypted key
files; SPKI public keys), fingerprints, and writing a new pair.

A key's fingerprint is ``sha256:<hex>`` of its public key's SubjectPublicKeyInfo DER: the same for
a private key and its public key, whatever file format holds them.
"""

import base64
import hashlib
import re

from ansible_collections.cnab.runtime.plugins.module_utils.errors import SigningKeyError, require_library
from ansible_collections.cnab.runtime.plugins.module_utils.signing import cosign_keyfile

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)
FORMATS = ("cosign", "pkcs8")


class PublicKey:
    """A trusted public key and where it came from."""

    __slots__ = ("key", "fingerprint", "path")

    def __init__(self, key, path=None):
        self.key = key
        self.fingerprint = fingerprint(key)
        self.path = path

    @property
    def label(self):
        return "%s (%s)" % (self.path, self.fingerprint) if self.path else self.fingerprint


class PrivateKey:
    __slots__ = ("key", "public", "path")

    def __init__(self, key, path=None):
        self.key = key
        self.public = PublicKey(key.public_key(), path)
        self.path = path

    @property
    def fingerprint(self):
        return self.public.fingerprint


def _require_cryptography():
    """Every key is read or made through cryptography: one sentence when it is missing."""
    require_library("cryptography.hazmat.primitives.serialization", "cryptography", "signing and verifying bundles",
                    SigningKeyError)


def fingerprint(public_key):
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def fingerprint_of_public_pem(data):
    """The fingerprint of a PEM public key file's bytes without parsing the key (no ``cryptography``
    import): the hash of the DER the PEM wraps. None when it holds no PUBLIC KEY block."""
    block = _PEM.search(data)
    if not block or block.group(1) != b"PUBLIC KEY":
        return None
    try:
        der = base64.b64decode(b"".join(block.group(2).split()), validate=True)
    except ValueError:
        return None
    return "sha256:" + hashlib.sha256(der).hexdigest()


def read_key_file(path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read(1024 * 1024)
    except FileNotFoundError as exc:
        raise SigningKeyError("%s %s does not exist." % (what, path)) from exc
    except OSError as exc:
        raise SigningKeyError("%s %s cannot be read: %s." % (what, path, exc.strerror or exc)) from exc


def _require_p256(key, path, what):
    from cryptography.hazmat.primitives.asymmetric import ec

    curve = getattr(key, "curve", None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) or curve.name != "secp256r1":
        kind = curve.name if curve is not None else type(key).__name__.lstrip("_")
        raise SigningKeyError("%s %s is a %s key; cnab.runtime signs and verifies with ECDSA P-256 keys, the kind"
                              " cosign generate-key-pair makes." % (what, path, kind))
    return key


def load_public_key(path):
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization

    data = read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        hint = " (that is a private key: give its .pub file)" if b"PRIVATE KEY-----" in data else ""
        raise SigningKeyError("public key %s is not a PEM public key (-----BEGIN PUBLIC KEY-----)%s." % (path, hint)) \
            from exc
    except Exception as exc:  # cryptography's UnsupportedAlgorithm and friends
        raise SigningKeyError("public key %s cannot be used: %s." % (path, exc)) from exc
    return PublicKey(_require_p256(key, path, "public key"), path)


def load_private_key(path, passphrase=None):
    """The private key in ``path``; ``passphrase`` (str) decrypts encrypted files and is ignored
    for unencrypted ones, as cosign does."""
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization

    data = read_key_file(path, "signing key")
    secret = (passphrase or "").encode("utf-8")
    block = _PEM.search(data)
    try:
        if block and block.group(1).decode() in cosign_keyfile.PEM_TYPES:
            body = base64.b64decode(b"".join(block.group(2).split()), validate=True)
            der = cosign_keyfile.decrypt(body, secret, path)
            key = serialization.load_der_private_key(der, None)
        else:
            try:
                key = serialization.load_pem_private_key(data, secret or None)
            except TypeError:
                if not secret:
                    raise SigningKeyError("signing key %s is encrypted: give its passphrase." % path) from None
                key = serialization.load_pem_private_key(data, None)  # a passphrase for a plain key
    except SigningKeyError:
        raise
    except ValueError as exc:
        if block and block.group(1) == b"ENCRYPTED PRIVATE KEY":
            raise SigningKeyError("signing key %s cannot be decrypted: the passphrase is wrong." % path) from exc
        raise SigningKeyError("signing key %s is not a PEM private key (PKCS#8, SEC1 or cosign's encrypted"
                              " format)." % path) from exc
    except Exception as exc:  # cryptography's UnsupportedAlgorithm and friends
        raise SigningKeyError("signing key %s cannot be used: %s." % (path, exc)) from exc
    return PrivateKey(_require_p256(key, path, "signing key"), path)


def generate_private_key():
    _require_cryptography()
    from cryptography.hazmat.primitives.asymmetric import ec

    return PrivateKey(ec.generate_private_key(ec.SECP256R1()))


def private_key_pem(private, passphrase, key_format, path):
    """PEM bytes of ``private`` in ``key_format``: ``cosign`` (its encrypted file, also with an empty
    passphrase, as cosign allows) or ``pkcs8`` (encrypted when a passphrase is given)."""
    from cryptography.hazmat.primitives import serialization

    if key_format == "cosign":
        der = private.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        return cosign_keyfile.encrypt(der, (passphrase or "").encode("utf-8"), path)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
                  else serialization.NoEncryption())
    return private.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_pem(public):
    from cryptography.hazmat.primitives import serialization

    return public.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
