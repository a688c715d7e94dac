#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_action
short_description: Run a custom action of a CNAB bundle
version_added: 0.1.0
description:
  - Runs the custom action named by O(action), as declared in the bundle's C(actions).
  - Actions with C(modifies=true) report a change and get a new revision; they are skipped when the same action
    already succeeded as the last modifying action with the same bundle, parameters and credentials (O(force=true) runs them anyway).
  - Actions with C(modifies=false) always run, also in check mode, and report no change.
  - C(stateless) actions need no installation and no credentials and are not recorded; O(bundle) is then required.
  - O(bundle) and O(parameters) default to those of the last successful modifying claim.
options:
  installation:
    description: Name of the installation. Optional for stateless actions.
    type: str
  action:
    description: Name of the custom action.
    type: str
    required: true
extends_documentation_fragment:
  - cnab.runtime.lifecycle
  - cnab.runtime.driver
  - cnab.runtime.claim_store
  - cnab.runtime.registry
  - cnab.runtime.verify
  - cnab.runtime.lifecycle.action
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Ask the installation for its status (does not modify, also runs in check mode)
  cnab.runtime.cnab_action:
    installation: showcase-demo
    action: io.cnab.status
  register: status

- name: Rotate secrets (modifies; runs once per state unless forced)
  cnab.runtime.cnab_action:
    installation: showcase-demo
    action: rotate
    credentials:
      api_token: "{{ vault_api_token }}"
    force: true

- name: Print a bundle's help without any installation
  cnab.runtime.cnab_action:
    bundle: /srv/bundles/showcase
    action: io.cnab.help
"""

RETURN = r"""
operation:
  description: The action that ran (or would run in check mode), or V(none) when the installation was already in the requested state.
  returned: always
  type: str
  sample: install
reason:
  description: Why the claims led to this decision.
  returned: always
  type: str
  sample: the parameters changed
claim:
  description: The claim recorded for the action.
  returned: when an action ran
  type: dict
  contains:
    id:
      description: ULID of the claim.
      type: str
      returned: always
      sample: 01JDZ7ZQ2J0V8M3T2Y4W5X6Y7Z
    revision:
      description: ULID of the installation revision this claim belongs to.
      type: str
      returned: always
      sample: 01JDZ7ZQ2J5M0K1N2P3Q4R5S6T
    action:
      description: Action name.
      type: str
      returned: always
      sample: install
    created:
      description: ISO-8601 creation time.
      type: str
      returned: always
      sample: "2026-11-27T21:00:00.000000+00:00"
    bundle:
      description: Name, version, digest (sha256 of the canonical bundle.json) and reference of the bundle.
      type: dict
      returned: always
      sample: {name: showcase, version: 1.0.0, digest: "sha256:3b1f...", reference: /srv/showcase/bundle.json}
result:
  description: The final result of the action.
  returned: when an action ran
  type: dict
  contains:
    id:
      description: ULID of the result.
      type: str
      returned: when the action is tracked
    status:
      description: V(succeeded), V(failed) or V(canceled).
      type: str
      returned: always
      sample: succeeded
    message:
      description: What went wrong, empty on success.
      type: str
      returned: always
      sample: ""
outputs:
  description:
    - Outputs the action produced, by name. JSON-typed outputs are decoded; binary ones are base64 text.
    - Sensitive outputs are V(********) unless O(reveal_sensitive=true).
  returned: always
  type: dict
  sample: {endpoint: "http://showcase:8080", admin_secret: "********"}
binary_outputs:
  description:
    - Names of the outputs in RV(outputs) whose bytes are not UTF-8 text (a tgz such as Porter's C(porter-state)),
      so that their value there is the base64 text of the bytes (use the C(b64decode) filter to get them back).
    - Sensitive outputs that are masked are not listed.
  returned: always
  type: list
  elements: str
  sample: [porter-state]
logs:
  description: Combined stdout and stderr of the invocation image, with every secret value masked.
  returned: always
  type: str
  sample: "install showcase-demo\n"
plan:
  description:
    - For a bundle with dependencies (C(io.cnab.dependencies)), one entry per installation of the graph, in the
      order they run (or would run in check mode, which plans the whole graph without running anything).
    - Each dependency is the installation C(<installation>-<alias>); the root's entry has no alias.
  returned: when the bundle has dependencies
  type: list
  elements: dict
  contains:
    installation:
      description: Name of the installation.
      type: str
      returned: always
      sample: wordpress-mysql
    alias:
      description: The dependency's alias, V(null) for the root.
      type: str
      returned: always
      sample: mysql
    operation:
      description: The action that ran (or would run) on it, or V(none) when it was left alone.
      type: str
      returned: always
      sample: install
    changed:
      description: Whether it changed (or would change).
      type: bool
      returned: always
    reason:
      description: Why the claims led to this decision.
      type: str
      returned: always
diff:
  description: Bundle and parameters before and after, sensitive values masked.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: State recorded by the last successful modifying claim; empty when not installed.
      type: dict
      returned: always
    after:
      description: State the action leads to; empty after an uninstall.
      type: dict
      returned: always
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_lifecycle import run_action_module


def main():
    run_action_module("action", extra=dict(action=dict(type="str", required=True)), required=())


if __name__ == "__main__":
    main()
