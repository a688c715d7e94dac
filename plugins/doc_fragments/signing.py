# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The sign option of cnab_bundle.
    DOCUMENTATION = r"""
options:
  sign:
    description:
      - Sign the bundle written to a registry (a push, copy or publish) with a cosign-compatible signature over its
        bundle index digest, stored under the tag C(sha256-<hex>.sig) in the same repository, one layer per signer.
        Signatures already there are kept; a key that already signed this digest adds nothing, so a re-run reports
        no change.
      - Without O(sign.key) nothing is signed. Other operations ignore it.
    type: dict
    suboptions:
      key:
        description:
          - Private key file (ECDSA P-256) - cosign's encrypted C(cosign.key), or PEM PKCS#8 (optionally encrypted) or
            SEC1. Falls back to E(CNAB_SIGNING_KEY).
        type: path
      passphrase:
        description:
          - Passphrase of O(sign.key). Falls back to E(CNAB_SIGNING_KEY_PASSWORD), then E(COSIGN_PASSWORD).
        type: str
"""
