#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_claim_store
short_description: Prepare a CNAB claim store for use
version_added: 0.1.0
description:
  - Makes sure that what the claim store named by O(claim_store) needs exists, so that the other modules of the
    collection can use it. Creates what is missing, leaves what is already right alone; a second run reports no change.
  - V(local) - the store's directory exists with mode C(0700).
  - V(kubernetes) - the namespace (unless O(create_namespace=false)), a ServiceAccount named O(service_account),
    a Role of the same name that grants exactly what the store uses, and a RoleBinding of the same name binding
    that Role to the ServiceAccount. A Role whose rules differ is updated to exactly these rules. A RoleBinding
    that does not name the ServiceAccount gets it added to its subjects.
  - The Role grants, in the store's namespace, C(secrets) V(get), V(list), V(create), V(update) and
    C(leases.coordination.k8s.io) V(get), V(create), V(update). Records are never changed or deleted (only each
    installation's index Secret is updated) and Leases are cleared rather than deleted, so nothing more is needed.
  - The store also reads its namespace (C(namespaces) V(get)) once per run, to tell a missing namespace from an
    empty store. Namespaces are cluster-scoped, so a namespaced Role cannot grant it; the store tolerates that
    request being forbidden (it then learns of a missing namespace from its first write).
  - V(azure_blob) - the container exists.
options:
  state:
    description:
      - V(present) prepares the store. Removing a store is not supported.
    type: str
    default: present
    choices: [present]
  service_account:
    description:
      - V(kubernetes) only. Name of the ServiceAccount that runs the store, and of its Role and RoleBinding.
    type: str
    default: cnab-claims
  create_namespace:
    description:
      - V(kubernetes) only. Create the store's namespace when it does not exist. When V(false) and the namespace
        is missing, the module fails.
      - When the module may not read namespaces (HTTP 403), it assumes the namespace exists.
    type: bool
    default: true
extends_documentation_fragment:
  - cnab.runtime.claim_store
attributes:
  action_group:
    description: Use C(group/cnab.runtime.cnab_claims) (O(claim_store)) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab_claims
  check_mode:
    support: full
    description: Reads only, and reports what would be created or updated.
  diff_mode:
    support: none
    description: RV(created) and RV(updated) name what changed.
notes:
  - On Kubernetes, creating a Role needs the permissions it grants (or the C(escalate) verb on roles), and creating
    the RoleBinding needs them too (or the C(bind) verb). A namespace admin may do it in an existing namespace
    (O(create_namespace=false)); creating the namespace needs a cluster role.
  - The role C(cnab.runtime.cnab_claims) wraps this module.
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Prepare the team's Kubernetes store (namespace, ServiceAccount, Role, RoleBinding)
  cnab.runtime.cnab_claim_store:
    claim_store:
      backend: kubernetes
      namespace: cnab
    service_account: cnab-claims

- name: Prepare the store that the group's module_defaults name
  cnab.runtime.cnab_claim_store:

- name: Prepare an Azure Blob store
  cnab.runtime.cnab_claim_store:
    claim_store:
      backend: azure_blob
      container: cnab-claims
      connection_string: "{{ azure_storage_connection_string }}"
"""

RETURN = r"""
created:
  description:
    - What was created (or would be in check mode), as C(kind/name). The kinds are C(directory) (V(local); its name
      is the absolute path, as in C(directory//home/me/.cnab)), C(Namespace), C(ServiceAccount), C(Role),
      C(RoleBinding) (V(kubernetes)) and C(container) (V(azure_blob)).
  returned: always
  type: list
  elements: str
  sample: [Namespace/cnab, ServiceAccount/cnab-claims, Role/cnab-claims, RoleBinding/cnab-claims]
updated:
  description:
    - What existed and was changed (or would be in check mode), as C(kind/name) - a directory whose mode was not
      C(0700), a Role whose rules differed, a RoleBinding that did not name the ServiceAccount.
  returned: always
  type: list
  elements: str
  sample: [Role/cnab-claims]
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_claim_store import run_claim_store_module


def main():
    run_claim_store_module()


if __name__ == "__main__":
    main()
