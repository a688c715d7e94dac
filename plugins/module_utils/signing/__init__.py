"""cosign-compatible signatures of CNAB bundles ("simple signing" with a key pair).

One signature covers a whole bundle: it names the digest of the bundle's OCI index, and the
index names every other part by digest. Plain Python; ``cryptography`` (and PyNaCl for cosign's
encrypted key files) are imported only where a key is used.

- payload.py        the simple-signing document that is signed
- keys.py           loading, writing and fingerprinting ECDSA P-256 keys (PEM and cosign's format)
- cosign_keyfile.py cosign's encrypted private key format (scrypt + NaCl secretbox)
- keyfiles.py       making a key pair once (cnab_signing_key)
- manifest.py       the ``sha256-<hex>.sig`` manifest (one layer per signature), signing and checking
- verify.py         signatures -> a verdict; the ``verify`` policy (VerifyPolicy)
- transport.py      reading and attaching signatures in a registry or a thick archive
- gate.py           the policy applied to a bundle about to be used (sources.apply_policy)
- signer.py         signing a bundle written to a registry (the ``sign`` option group)
- bundle_ops.py     verify before and sign after cnab_bundle's operations
"""
