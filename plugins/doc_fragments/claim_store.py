# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible_collections.cnab.runtime.plugins.doc_fragments.kubernetes import connection_suboptions


_HEAD = r"""
options:
  claim_store:
    description:
      - Where claims are kept. Every backend gives the same records, the same per-installation lock and the
        same decisions, so a playbook behaves the same whichever store it uses.
    type: dict
    suboptions:
      backend:
        description:
          - V(local) keeps claims in a directory. V(kubernetes) keeps them as Secrets in a namespace with a
            C(coordination.k8s.io/v1) Lease as the lock. V(azure_blob) keeps them as blobs in a container with a
            blob lease as the lock.
          - V(porter_v0) reads the claims of Porter v0.38 (its home directory, or the blob container of its
            C(azure.blob) plugin) as Claims 1.0 records. It is read-only - the source of
            M(cnab.runtime.cnab_claim_copy), or read by M(cnab.runtime.cnab_claim_info); any run that would write,
            lock or delete fails. See C(docs/migrating-from-porter.md).
          - Falls back to E(CNAB_CLAIM_STORE).
        type: str
        default: local
        choices: [local, kubernetes, azure_blob, porter_v0]
      path:
        description:
          - Directory of the V(local) store. Defaults to E(CNAB_HOME), then C(~/.cnab).
          - V(porter_v0) - Porter's home directory. Defaults to E(PORTER_HOME), then C(~/.porter), unless
            O(claim_store.connection_string) or O(claim_store.account_url) is given, which selects the blob container
            O(claim_store.container) instead.
        type: path
      namespace:
        description: Namespace of the V(kubernetes) store. Falls back to E(CNAB_CLAIM_NAMESPACE).
        type: str
        default: cnab
"""

_TAIL = r"""
      container:
        description:
          - Blob container of the V(azure_blob) store. Falls back to E(CNAB_CLAIM_CONTAINER), then C(cnab-claims).
          - V(porter_v0) - the container of Porter's C(azure.blob) plugin. Defaults to C(porter), the plugin's.
        type: str
      connection_string:
        description: Azure Storage connection string. Falls back to E(AZURE_STORAGE_CONNECTION_STRING).
        type: str
      account_url:
        description:
          - Blob service URL, used with O(claim_store.account_key) or O(claim_store.sas_token) instead of a
            connection string. Falls back to E(AZURE_STORAGE_ACCOUNT_URL).
        type: str
      account_key:
        description: Storage account key. Falls back to E(AZURE_STORAGE_KEY).
        type: str
      sas_token:
        description: Shared access signature. Falls back to E(AZURE_STORAGE_SAS_TOKEN).
        type: str
      encryption_key:
        description:
          - Key that encrypts sensitive values in the V(azure_blob) store (any string; a key is derived from it).
            Runs that would store a sensitive value fail without it. Falls back to E(CNAB_CLAIM_ENCRYPTION_KEY).
        type: str
      lease_seconds:
        description:
          - Lifetime of a remote lock's lease, renewed while the run holds it. A run that died loses its lock
            after this long. Falls back to E(CNAB_LEASE_SECONDS).
        type: int
        default: 30
"""


class ModuleDocFragment(object):
    """Where claims are kept (adapter.CONCERNS["claim_store"]): DOCUMENTATION, assembled below the class because
    it holds the Kubernetes connection settings of kubernetes.py (written once) and a fragment's class body may
    only hold string literals (ansible-test's yamllint)."""


ModuleDocFragment.DOCUMENTATION = _HEAD + connection_suboptions("claim_store", "the V(kubernetes) store") + _TAIL
