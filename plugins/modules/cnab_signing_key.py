#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_signing_key
short_description: Make an ECDSA P-256 key pair for signing CNAB bundles
version_added: 0.1.0
description:
  - Makes sure a key pair for signing bundles exists, in the form cosign uses. The private key goes to O(path)
    (created with mode C(0600)), the public key (PEM SubjectPublicKeyInfo) to O(public_key_path).
  - When the private key exists it is never replaced. It is loaded, which proves that O(passphrase) opens it; a
    missing public key is written from it, and a private key readable by others is made C(0600). Otherwise nothing
    changes, so a second run reports no change.
  - The public key is what the option C(verify.keys) of the modules that install bundles and C(cosign verify --key)
    take; the private key is what the option C(sign.key) of C(cnab.runtime.cnab_bundle) and C(cosign sign --key)
    take.
options:
  path:
    description:
      - Path of the private key file. Missing parent directories are created with mode C(0700).
      - Falls back to E(CNAB_SIGNING_KEY).
    type: path
    required: true
  public_key_path:
    description:
      - Path of the public key file. By default O(path) with its C(.key) suffix replaced by C(.pub) (C(cosign.key)
        -> C(cosign.pub)), or with C(.pub) appended.
    type: path
  passphrase:
    description:
      - Passphrase that encrypts a new private key, and opens an existing one.
      - Falls back to E(CNAB_SIGNING_KEY_PASSWORD), then E(COSIGN_PASSWORD).
      - With O(format=cosign) the key is encrypted also when no passphrase is given (with an empty one, as
        C(cosign generate-key-pair) does). With O(format=pkcs8) and no passphrase the key is written unencrypted.
    type: str
  format:
    description:
      - File format of a new private key.
      - V(cosign) - cosign's own encrypted format (PEM C(ENCRYPTED SIGSTORE PRIVATE KEY), scrypt and NaCl secretbox),
        usable by C(cosign sign --key) as is. Needs the Python library PyNaCl.
      - V(pkcs8) - PEM PKCS#8, encrypted when O(passphrase) is given. cosign users import it with
        C(cosign import-key-pair).
      - An existing key is read in either format (and as a SEC1 C(EC PRIVATE KEY)) whatever this option says.
    type: str
    default: cosign
    choices: [cosign, pkcs8]
attributes:
  check_mode:
    support: full
    description: Reports which files would be written; an existing private key is still loaded to check it.
  diff_mode:
    support: none
    description: RV(created) and RV(updated) name the files that changed.
notes:
  - Keep the private key off shared storage; anyone who can read it and knows the passphrase can sign bundles that
    your verification policy trusts. See the collection's C(docs/security.md) for key management.
  - The module is in no action group, because it shares none of its options with other modules.
requirements:
  - cryptography
  - PyNaCl (for O(format=cosign) and to read cosign key files)
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Make the team's signing key (cosign format, passphrase from the vault)
  cnab.runtime.cnab_signing_key:
    path: /etc/cnab/keys/cosign.key
    passphrase: "{{ vault_signing_passphrase }}"
  register: signing_key

- name: Show the fingerprint that claims will record for bundles signed with it
  ansible.builtin.debug:
    msg: "{{ signing_key.public_key }} has fingerprint {{ signing_key.fingerprint }}"

- name: An unencrypted PKCS#8 key for a throwaway test registry
  cnab.runtime.cnab_signing_key:
    path: /tmp/test-signing.pem
    public_key_path: /tmp/test-signing.pub
    format: pkcs8
"""

RETURN = r"""
private_key:
  description: Absolute path of the private key.
  returned: always
  type: str
  sample: /etc/cnab/keys/cosign.key
public_key:
  description: Absolute path of the public key; give it to the hosts that verify.
  returned: always
  type: str
  sample: /etc/cnab/keys/cosign.pub
fingerprint:
  description:
    - C(sha256:) and the hex SHA-256 of the public key's DER SubjectPublicKeyInfo; claims record it for bundles
      verified with this key.
    - V(null) in check mode when the key does not exist yet.
  returned: always
  type: str
  sample: sha256:5f2a0c4e9d3b8a1f6e7c2d4b9a0e1f3c5d7b9a2e4c6f8a0b1d3e5f7a9c2b4d6e
created:
  description: Files written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/cnab/keys/cosign.key, /etc/cnab/keys/cosign.pub]
updated:
  description: Existing files changed (a private key whose mode was made C(0600)).
  returned: always
  type: list
  elements: str
  sample: []
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_signing_key import run_signing_key_module


def main():
    run_signing_key_module()


if __name__ == "__main__":
    main()
