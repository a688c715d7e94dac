# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: cnab_output
short_description: Read the latest outputs of CNAB installations
version_added: 0.1.0
description:
  - Returns, for each installation named in the terms, a dict of its latest output values, read from any claim store.
  - Sensitive (C(writeOnly)) outputs are masked unless O(reveal_sensitive=true).
  - An output whose bytes are not UTF-8 text (a tgz such as Porter's C(porter-state)) is returned as the base64 text
    of its bytes, as the modules return it; M(cnab.runtime.cnab_claim_info) names such outputs in its
    C(binary_outputs). Decode them with the C(b64decode) filter.
  - Runs on the controller, so the claim store must be reachable from it.
options:
  _terms:
    description: Installation names.
    required: true
    type: list
    elements: str
  output:
    description: Return only this output's value instead of the dict of all outputs.
    type: str
  reveal_sensitive:
    description: Return sensitive output values instead of a mask.
    type: bool
    default: false
  claim_store:
    description:
      - Where claims are kept, with the keys of O(cnab.runtime.cnab_install#module:claim_store).
      - Keys left out take the same environment fallbacks as the modules (E(CNAB_CLAIM_STORE), E(CNAB_HOME), ...).
    type: dict
    default: {}
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Use an installation's endpoint in a template
  ansible.builtin.debug:
    msg: "The app answers at {{ lookup('cnab.runtime.cnab_output', 'showcase-demo', output='endpoint') }}"

- name: All outputs, from the team's Kubernetes claim store
  ansible.builtin.set_fact:
    showcase_outputs: "{{ lookup('cnab.runtime.cnab_output', 'showcase-demo', claim_store={'backend': 'kubernetes'}) }}"
"""

RETURN = r"""
_raw:
  description:
    - One dict of output values per installation (or one value per installation with O(output)).
    - Outputs whose bytes are not UTF-8 are base64 text.
  type: list
  elements: raw
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.cnab.runtime.plugins.module_utils.adapter import CLAIM_STORE_SPEC, backend_fallbacks
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError


def _store_options(given):
    """``claim_store`` as the modules resolve it: given keys, else environment, else defaults."""
    options = {}
    for key, spec in CLAIM_STORE_SPEC["options"].items():
        if given.get(key) is not None:
            options[key] = given[key]
            continue
        variables = (spec.get("fallback") or (None, []))[1]
        found = next((os.environ[v] for v in variables if v in os.environ), None)
        options[key] = found if found is not None else spec.get("default")
    if isinstance(options.get("lease_seconds"), str):
        options["lease_seconds"] = int(options["lease_seconds"])
    return backend_fallbacks(options)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        from ansible_collections.cnab.runtime.plugins.module_utils import lookup
        from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store

        wanted = self.get_option("output")
        values = []
        try:
            store = open_store(_store_options(self.get_option("claim_store") or {}))
            for name in terms:
                installation = store.installation(name)
                if not installation.exists:
                    raise AnsibleLookupError("installation %s is not in the claim store." % name)
                current = lookup.current_claim(installation)
                marked = set()
                latest = lookup.latest_outputs(store, installation, marked)
                outputs = lookup.render_outputs(Bundle(current["bundle"]), latest, self.get_option("reveal_sensitive"),
                                                marked)
                if wanted is None:
                    values.append(outputs)
                elif wanted in outputs:
                    values.append(outputs[wanted])
                else:
                    raise AnsibleLookupError("installation %s has no output %r (it has: %s)."
                                             % (name, wanted, ", ".join(sorted(outputs)) or "none"))
        except CnabError as exc:
            raise AnsibleLookupError(str(exc)) from exc
        return values
