"""cosign's encrypted private key file (``cosign generate-key-pair`` writes it).

PEM type ``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign >= 2; cosign 1 wrote ``ENCRYPTED COSIGN PRIVATE
KEY``) around the JSON document
``{"kdf":{"name":"scrypt","params":{"N":..,"r":..,"p":..},"salt":b64},"cipher":{"name":"nacl/secretbox",
"nonce":b64},"ciphertext":b64}``: a NaCl secretbox of the key's DER, keyed by scrypt(passphrase).
``cryptography`` has no XSalsa20-Poly1305, hence PyNaCl (imported here only).
"""

import base64
import hashlib
import json
import os

from ansible_collections.cnab.runtime.plugins.module_utils.errors import SigningKeyError, require_library

PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
WRITE_PEM_TYPE = PEM_TYPES[0]
# What cosign writes today (go-securesystemslib's defaults).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 65536, 8, 1
# A key file must not make us allocate unbounded memory: cosign uses N <= 65536, r = 8.
_MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024


def _nacl(path):
    needed_for = "signing key %s, in cosign's encrypted format," % path
    return (require_library("nacl.secret", "pynacl", needed_for, SigningKeyError),
            require_library("nacl.exceptions", "pynacl", needed_for, SigningKeyError))


def _scrypt(passphrase, salt, n, r, p):
    memory = 128 * r * n + 128 * r * p
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=2 * memory, dklen=32)


def decrypt(body, passphrase, path):
    """DER of the private key held in ``body`` (the base64-decoded PEM body)."""
    try:
        document = json.loads(body)
        kdf, cipher = document["kdf"], document["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningKeyError("signing key %s is not a valid cosign encrypted key file." % path) from exc
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise SigningKeyError("signing key %s uses %s/%s; cosign key files use scrypt/nacl/secretbox."
                              % (path, kdf.get("name"), cipher.get("name")))
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p) > _MAX_SCRYPT_MEMORY or len(nonce) != 24:
        raise SigningKeyError("signing key %s has scrypt or nonce parameters outside what cosign writes." % path)
    secret, exceptions = _nacl(path)
    key = _scrypt(passphrase, salt, n, r, p)
    try:
        return secret.SecretBox(key).decrypt(ciphertext, nonce)
    except exceptions.CryptoError as exc:
        raise SigningKeyError("signing key %s cannot be decrypted: the passphrase is wrong." % path) from exc


def encrypt(der, passphrase, path):
    """PEM bytes of cosign's encrypted key file holding ``der`` (PKCS#8)."""
    secret, _exceptions = _nacl(path)
    salt, nonce = os.urandom(32), os.urandom(24)
    key = _scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = secret.SecretBox(key).encrypt(der, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return pem_encode(WRITE_PEM_TYPE, json.dumps(document, separators=(",", ":")).encode())


def pem_encode(pem_type, data):
    text = base64.b64encode(data).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (pem_type, "\n".join(lines), pem_type)).encode()
