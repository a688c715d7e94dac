# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # How registries are reached (adapter.CONCERNS["registry"]).
    DOCUMENTATION = r"""
options:
  registry_auth:
    description:
      - How to reach the registry of a bundle given as a registry reference (the C(bundle) of the action modules,
        the C(src) and C(dest) of M(cnab.runtime.cnab_bundle)), and to pull its images through the
        Docker engine. Without credentials, those of the Docker config file are used, else the registry is read
        anonymously.
    type: dict
    suboptions:
      username:
        description: User name for the registry. Falls back to E(CNAB_REGISTRY_USERNAME).
        type: str
      password:
        description: Password of O(registry_auth.username). Falls back to E(CNAB_REGISTRY_PASSWORD).
        type: str
      token:
        description: Identity (refresh) token for the registry, instead of a password. Falls back to E(CNAB_REGISTRY_TOKEN).
        type: str
      docker_config:
        description:
          - Directory holding the Docker C(config.json) whose credentials (C(auths), C(credHelpers), C(credsStore))
            are used when no username or token is given. Falls back to E(DOCKER_CONFIG), then C(~/.docker).
        type: path
      ca_cert:
        description: CA bundle that signs the registry's TLS certificate. Falls back to E(CNAB_REGISTRY_CA_CERT).
        type: path
      insecure:
        description:
          - Reach a non-loopback registry over plain HTTP or without TLS verification. Registries on loopback
            addresses are reached over plain HTTP without it, as Docker does. Falls back to E(CNAB_REGISTRY_INSECURE).
        type: bool
        default: false
      timeout:
        description: Seconds to wait for each registry request. Falls back to E(CNAB_REGISTRY_TIMEOUT).
        type: int
        default: 60
      retries:
        description: How many times a refused connection or a server error is retried.
        type: int
        default: 3
"""
