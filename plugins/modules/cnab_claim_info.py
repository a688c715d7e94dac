#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_claim_info
short_description: Look up CNAB installations and their claims
version_added: 0.1.0
description:
  - With O(installation), returns that installation's status, bundle, current parameters (sensitive values masked),
    latest outputs and, with O(history=true), every claim and result.
  - Without it, lists installations, optionally filtered by name pattern and status.
  - Reads the claim store only; never changes anything.
  - Of the options of the action modules only O(claim_store) is used here. The others (O(bundle), O(parameters),
    O(driver), ...) are accepted, and have no effect, because the module is in the action group C(cnab.runtime.cnab),
    whose C(module_defaults) may carry any of them. C(group/cnab.runtime.cnab_claims) sets only O(claim_store).
options:
  installation:
    description: Name of one installation to describe.
    type: str
  name_pattern:
    description: Shell-style pattern (C(web-*)) that listed installation names must match.
    type: str
  status:
    description: List only installations with this status.
    type: str
    choices: [installed, uninstalled, failed, running, unknown]
  history:
    description: Include every claim and result of the installation.
    type: bool
    default: false
  reveal_sensitive:
    description: Return sensitive output values instead of a mask.
    type: bool
    default: false
extends_documentation_fragment:
  - cnab.runtime.lifecycle
  - cnab.runtime.driver
  - cnab.runtime.claim_store
  - cnab.runtime.registry
  - cnab.runtime.verify
attributes:
  check_mode:
    support: full
    description: Reads only, so it behaves the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
  action_group:
    description: Use C(group/cnab.runtime.cnab) or C(group/cnab.runtime.cnab_claims) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab
      - cnab.runtime.cnab_claims
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Describe one installation with its history
  cnab.runtime.cnab_claim_info:
    installation: showcase-demo
    history: true
  register: info

- name: List failed installations
  cnab.runtime.cnab_claim_info:
    status: failed
"""

RETURN = r"""
installation:
  description: The installation, when O(installation) is given.
  returned: when O(installation) is given
  type: dict
  contains:
    name:
      description: Installation name.
      type: str
      returned: always
    exists:
      description: Whether the store holds any claim for it.
      type: bool
      returned: always
    status:
      description: V(installed), V(uninstalled), V(failed), V(running) or V(unknown), from the last modifying claim's last result.
      type: str
      returned: always
      sample: installed
    revision:
      description: Current revision (ULID).
      type: str
      returned: when it exists
    bundle:
      description:
        - Name, version, digest and reference of the current bundle.
        - C(signature) tells whether the bundle was verified when the claim was made (when a O(verify) policy was
          set) - C(verified), C(status), C(keyFingerprint) (the key that verified it), C(indexDigest), C(reason); null
          without a policy.
      type: dict
      returned: when it exists
      sample: {name: hello, version: 0.1.0, signature: {verified: true, status: verified,
               keyFingerprint: "sha256:0e16cee71efc27fe6142747ca8a0e4448da8bf63928c277620ad6debaf16d81d"}}
    parameters:
      description: Current parameters; sensitive values masked.
      type: dict
      returned: when it exists
    outputs:
      description: Latest value of every output; sensitive values masked unless O(reveal_sensitive=true).
      type: dict
      returned: when it exists
    sensitive_outputs:
      description:
        - Names of the outputs in RV(installation.outputs) that the bundle declares sensitive (C(writeOnly)),
          for example to publish only the others with M(ansible.builtin.set_stats).
      type: list
      elements: str
      returned: when it exists
      sample: [admin_secret]
    binary_outputs:
      description:
        - Names of the outputs in RV(installation.outputs) whose bytes are not UTF-8 text (a tgz such as Porter's
          C(porter-state)), so that their value there is the base64 text of the bytes. Masked outputs are not listed.
      type: list
      elements: str
      returned: when it exists
      sample: [porter-state]
    last_action:
      description: Action, claim id, status and message of the newest claim.
      type: dict
      returned: when it exists
    lock_holder:
      description: Host, pid and start time of the run holding the installation's lock, or null.
      type: dict
      returned: when it exists
    dependencies:
      description:
        - The installation's dependencies (C(io.cnab.dependencies) of its bundle), each its own installation
          C(<installation>-<alias>), with its status and bundle version. Empty when it has none.
      type: list
      elements: dict
      returned: when O(installation) is given
      sample: [{alias: mysql, installation: wordpress-mysql, exists: true, status: installed, bundle_version: 1.2.0}]
    history:
      description: Every claim (without its bundle document) with its results, oldest first.
      type: list
      elements: dict
      returned: when O(history=true)
installations:
  description: Installations matching the filters, with name, status, bundle and revision.
  returned: when O(installation) is not given
  type: list
  elements: dict
  sample: [{name: showcase-demo, status: installed, revision: 01JDZ7ZQ2J5M0K1N2P3Q4R5S6T, bundle: {name: showcase, version: 1.0.0}}]
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_claim_info import run_claim_info_module


def main():
    run_claim_info_module()


if __name__ == "__main__":
    main()
