#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_claim_copy
short_description: Copy CNAB installations and their history between claim stores
version_added: 0.1.0
description:
  - Copies one, several or all installations, with every claim, result and output value (sensitive ones
    included, re-protected by the destination), from O(source) to O(destination).
  - Records are immutable, so only what the destination lacks is copied and nothing is overwritten.
    A second run copies nothing and reports no change.
  - Use it to start with the local store and move a team to a shared one, or to move from Porter v0
    (O(source) with C(backend=porter_v0), its home directory or the blob container of its C(azure.blob) plugin). Porter's
    claims, results, outputs and logs become Claims 1.0 records, and the installations keep their status. See
    C(docs/migrating-from-porter.md). Copying back to Porter is not supported.
options:
  source:
    description:
      - The store to copy from, with the keys of O(cnab.runtime.cnab_install#module:claim_store)
        (C(backend), C(path), C(namespace), C(kubeconfig), C(connection_string), ...).
      - Values of secret keys (C(api_key), C(connection_string), C(account_key), C(sas_token), C(encryption_key))
        are masked in the output.
    type: dict
    required: true
  destination:
    description: The store to copy to, with the same keys as O(source).
    type: dict
    required: true
  installations:
    description: Names of the installations to copy. All installations of O(source) when omitted.
    type: list
    elements: str
  lock_timeout:
    description: Seconds to wait for each destination installation's lock.
    type: int
    default: 300
  credentials:
    description:
      - The credentials the installations were run with, in the form the action modules take (a string, or C(value),
        C(env) or C(path)). Each store keys its fingerprints with a secret of its own, so every copied claim is
        fingerprinted again with the destination's key - claims read from Porter v0 (O(source) with
        C(backend=porter_v0)) record none at all. With the credentials given, the next
        M(cnab.runtime.cnab_installation) against the destination with the same bundle, parameters and credentials
        reports no change; without them, it upgrades the installation (a warning names the credentials missing).
      - Credentials a bundle does not declare are ignored, so one set can serve every installation copied. Give them
        on the first copy - records are never rewritten, so a later copy cannot add them.
      - Never stored; ignored when both stores share one fingerprint key.
    type: dict
attributes:
  check_mode:
    support: full
    description: Reports what would be copied.
  diff_mode:
    support: none
    description: The result lists the copied record ids instead.
author:
  - cnab.runtime maintainers (@cnab-runtime)
notes:
  - O(source) and O(destination) take no environment fallbacks, so that a copy never reads or writes a store
    by accident. For the same reason the module is in no action group; the C(module_defaults) of
    C(cnab.runtime.cnab) and C(cnab.runtime.cnab_claims) name one store.
"""

EXAMPLES = r"""
- name: Move the team's Porter v0 installations from its Azure container into an azure_blob store
  cnab.runtime.cnab_claim_copy:
    source:
      backend: porter_v0
      connection_string: "{{ porter_storage_connection_string }}"
    destination:
      backend: azure_blob
      connection_string: "{{ storage_connection_string }}"
      encryption_key: "{{ claim_encryption_key }}"
    credentials:
      github-token: {env: GITHUB_TOKEN}

- name: Move every installation from this machine's store to the team's Kubernetes store
  cnab.runtime.cnab_claim_copy:
    source:
      backend: local
    destination:
      backend: kubernetes
      namespace: cnab
"""

RETURN = r"""
copied:
  description: Installation name to the ids of the claims and results copied (or that would be in check mode).
  returned: always
  type: dict
  sample: {showcase-demo: [01JDZ7ZQ2J0V8M3T2Y4W5X6Y7Z, 01JDZ7ZQ9K4C2B1A0Z9Y8X7W6V]}
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_claim_copy import run_claim_copy_module


def main():
    run_claim_copy_module()


if __name__ == "__main__":
    main()
