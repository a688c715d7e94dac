#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_driver_setup
short_description: Prepare a Kubernetes namespace for the kubernetes driver
version_added: 0.1.0
description:
  - Makes sure that what the kubernetes driver (C(driver=kubernetes) of the action modules) needs in
    O(driver_options.namespace) exists. Creates what is missing,
    leaves what is already right alone; a second run reports no change.
  - The namespace (unless O(create_namespace=false)), a ServiceAccount named O(service_account) for the caller (for
    example an AWX execution environment running in the cluster), a Role of the same name that grants exactly what
    the driver uses, and a RoleBinding of the same name binding that Role to the ServiceAccount. A Role whose rules
    differ is updated to exactly these rules. A RoleBinding that does not name the ServiceAccount gets it added.
  - The Role grants, in the namespace, C(jobs.batch) V(create), V(get), V(list), V(delete); C(pods) V(list);
    C(pods/log) V(get); C(secrets) V(create). The driver deletes only Jobs; their pods and Secrets go with them
    through their owner references, so nothing more is needed.
  - With O(registry), an image pull Secret (C(kubernetes.io/dockerconfigjson)) named O(image_pull_secret) that
    holds those registry credentials; name it in the C(driver_options.image_pull_secrets) of the action modules. It is updated when the
    credentials change.
  - The connection settings are those of the driver (O(driver_options.kubeconfig), O(driver_options.context),
    O(driver_options.host), ...), so C(module_defaults) of C(group/cnab.runtime.cnab_driver) set them for this module
    and for the action modules at once.
options:
  state:
    description:
      - V(present) prepares the namespace. Removing is not supported.
    type: str
    default: present
    choices: [present]
  service_account:
    description: Name of the ServiceAccount that runs the driver, and of its Role and RoleBinding.
    type: str
    default: cnab-driver
  create_namespace:
    description:
      - Create the namespace when it does not exist. When V(false) and the namespace is missing, the module fails.
      - When the module may not read namespaces (HTTP 403), it assumes the namespace exists.
    type: bool
    default: true
  registry:
    description: Credentials of the registry the invocation images come from, for the image pull Secret.
    type: dict
    suboptions:
      server:
        description: Registry host, as in C(docker login), for example C(registry.example.com:5000).
        type: str
        required: true
      username:
        description: Registry user.
        type: str
      password:
        description: Registry password or token.
        type: str
  image_pull_secret:
    description: Name of the image pull Secret created from O(registry).
    type: str
    default: cnab-registry
extends_documentation_fragment:
  - cnab.runtime.driver.setup
attributes:
  action_group:
    description: Use C(group/cnab.runtime.cnab_driver) (O(driver_options)) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab_driver
  check_mode:
    support: full
    description: Reads only, and reports what would be created or updated.
  diff_mode:
    support: none
    description: RV(created) and RV(updated) name what changed.
notes:
  - Creating a Role needs the permissions it grants (or the C(escalate) verb on roles), and creating the RoleBinding
    needs them too (or the C(bind) verb). Creating the namespace needs a cluster role.
  - The role C(cnab.runtime.cnab_driver) wraps this module (C(driver=kubernetes) there).
author:
  - cnab.runtime maintainers (@cnab-runtime)
"""

EXAMPLES = r"""
- name: Prepare namespace cnab for the kubernetes driver, with a pull secret for the bundles' registry
  cnab.runtime.cnab_driver_setup:
    driver_options:
      namespace: cnab
      kubeconfig: ~/.kube/config
    registry:
      server: registry.example.com
      username: robot
      password: "{{ vault_registry_token }}"

- name: Then run bundles there
  cnab.runtime.cnab_install:
    installation: hello
    bundle: /srv/bundles/hello
    driver: kubernetes
    driver_options:
      namespace: cnab
      image_pull_secrets: [cnab-registry]
"""

RETURN = r"""
created:
  description: What was created (or would be in check mode), as C(kind/name).
  returned: always
  type: list
  elements: str
  sample: [Namespace/cnab, ServiceAccount/cnab-driver, Role/cnab-driver, RoleBinding/cnab-driver, Secret/cnab-registry]
updated:
  description:
    - What existed and was changed (or would be in check mode), as C(kind/name) - a Role whose rules differed, a
      RoleBinding that did not name the ServiceAccount, a pull Secret whose credentials changed.
  returned: always
  type: list
  elements: str
  sample: [Role/cnab-driver]
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_driver_setup import run_driver_setup_module


def main():
    run_driver_setup_module()


if __name__ == "__main__":
    main()
