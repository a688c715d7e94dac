"""Preparing a claim store for use: what ``cnab.runtime.cnab_claim_store`` does, one function per backend.

Each function makes sure what its backend's store needs exists, and returns
``{"created": [...], "updated": [...]}``, each a list of ``kind/name`` strings. Nothing that
is already as needed is touched, so a second run returns two empty lists. In check mode
they only read, and return what they would have created or updated. Failures are
``ClaimStoreError`` sentences, from the same connection code and error handling the stores use.

- local: the store's directory, mode 0700.
- kubernetes: the namespace, a ServiceAccount, a Role granting exactly ``STORE_RULES`` and a
  RoleBinding of that Role to the ServiceAccount (the Role and RoleBinding are named after it).
- azure_blob: the container.
"""

import os
import stat

from ansible_collections.cnab.runtime.plugins.module_utils import k8s_api
from ansible_collections.cnab.runtime.plugins.module_utils.claims.azure_blob import AzureBlobStore
from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import (
    lease_seconds,
    missing_namespace,
    store_errors,
)
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import BACKENDS
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError

# What claims/kubernetes.py asks of the API in its namespace, verb by verb:
#   secrets  get      installation (index, records), sensitive_parameters,   GET secrets/{name}
#                     output_values, fingerprint_key
#            list     installation_names                                     GET secrets?labelSelector=...
#            create   write_claim, write_result, fingerprint_key             POST secrets
#            update   write_claim, write_result: the installation's index    PUT secrets/{name}
#   leases   get      lock, lock_holder, break_lock                          GET leases/{name}
#            create   lock, the first time an installation is locked         POST leases
#            update   lock (free or expired Lease), renewal, release, break_lock   PUT leases/{name}
# Records are immutable (only the index Secret is updated) and Leases are cleared rather than deleted:
# no patch, delete or watch. The store's one other request, GET namespaces/{namespace} (once per store, to tell
# a missing namespace from an empty store), is on a cluster-scoped resource that no Role can grant:
# the store carries on when it is forbidden (403).
STORE_RULES = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "list", "update"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
)


def _report():
    return {"created": [], "updated": []}


def prepare_store(options, service_account="cnab-claims", create_namespace=True, check_mode=False):
    """Prepare the backend named by ``options['backend']`` (default ``local``)."""
    options = dict(options or {})
    backend = options.get("backend") or "local"
    if backend == "local":
        return prepare_local(options, check_mode)
    if backend == "kubernetes":
        return prepare_kubernetes(options, service_account, create_namespace, check_mode)
    if backend == "azure_blob":
        return prepare_azure_blob(options, check_mode)
    raise ClaimStoreError("claim store backend %r is not supported (choose from: %s)." % (backend, ", ".join(BACKENDS)))


# -- local ------------------------------------------------------------------------------------


def prepare_local(options, check_mode=False):
    """The store's directory (``path``, else ``$CNAB_HOME``, else ``~/.cnab``) exists with mode 0700."""
    store = LocalStore(options.get("path"))
    root = store.root
    report = _report()
    with store.errors("prepare its directory"):
        try:
            found = os.stat(root)
        except FileNotFoundError:
            found = None
        if found is None:
            if not check_mode:
                os.makedirs(root, mode=0o700, exist_ok=True)
                os.chmod(root, 0o700)  # makedirs' mode is filtered by the umask
            report["created"].append("directory/%s" % root)
        elif not stat.S_ISDIR(found.st_mode):
            raise ClaimStoreError("the local claim store at %s cannot be prepared: it exists and is not a directory."
                                  % root)
        elif stat.S_IMODE(found.st_mode) != 0o700:
            if not check_mode:
                os.chmod(root, 0o700)
            report["updated"].append("directory/%s" % root)
    return report


# -- azure_blob -------------------------------------------------------------------------------


def prepare_azure_blob(options, check_mode=False):
    """The container (``container``, default ``cnab-claims``) exists. Opening the store creates nothing
    (its first write creates the container), so check mode only reads."""
    store = AzureBlobStore(options)  # the SDK is loaded (or its absence reported) here
    from azure.core.exceptions import ResourceExistsError

    report = _report()
    with store.errors("check its container"):
        if store.container.exists():
            return report
    if not check_mode:
        with store.errors("create its container"):
            try:
                store.container.create_container()
            except ResourceExistsError:  # another client created it meanwhile
                return report
    report["created"].append("container/%s" % store.container.container_name)
    return report


# -- kubernetes -------------------------------------------------------------------------------


def prepare_kubernetes(options, service_account="cnab-claims", create_namespace=True, check_mode=False):
    """The namespace, the ServiceAccount, its Role (exactly ``STORE_RULES``) and their RoleBinding."""
    options = dict(options or {})
    k8s_api.check_object_name(service_account, "service_account", ClaimStoreError)
    lease_seconds(options)  # refused as the store refuses it
    api = k8s_api.Connection(options, ClaimStoreError, "the kubernetes claim store", "claim_store.",
                             missing_namespace=missing_namespace)
    report, unused_new = k8s_api.prepare_namespace(api, service_account, STORE_RULES, create_namespace, check_mode,
                                                   lambda doing: store_errors(api, doing))
    return report
