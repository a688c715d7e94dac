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
from urllib.parse import quote

from ansible_collections.cnab.runtime.plugins.module_utils.claims.azure_blob import AzureBlobStore
from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import (
    _DNS_SUBDOMAIN,
    MANAGED_BY,
    MANAGER,
    KubernetesStore,
)
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore, _store_errors
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
RBAC = "rbac.authorization.k8s.io"
_RULE_FIELDS = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
_ATTEMPTS = 3  # reads and writes of one object, when another client changes it in between (409)


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
    root = LocalStore(options.get("path")).root
    report = _report()
    with _store_errors(root, "prepare its directory"):
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


class _Container(AzureBlobStore):
    """The azure_blob store's connection and error sentences, never creating the container itself
    (a store's first write does): prepare_azure_blob checks first, so that check mode creates nothing."""

    def _create_container(self):
        pass


def prepare_azure_blob(options, check_mode=False):
    """The container (``container``, default ``cnab-claims``) exists."""
    store = _Container(options)  # the SDK is loaded (or its absence reported) here
    from azure.core.exceptions import ResourceExistsError

    report = _report()
    with store._errors("check its container"):
        if store._container.exists():
            return report
    if not check_mode:
        with store._errors("create its container"):
            try:
                store._container.create_container()
            except ResourceExistsError:  # another client created it meanwhile
                return report
    report["created"].append("container/%s" % store._container.container_name)
    return report


# -- kubernetes -------------------------------------------------------------------------------


def _normal_rules(rules):
    """Rules as a comparable value: the order of rules and of each list's items does not matter."""
    normal = []
    for rule in rules or ():
        rule = rule or {}
        normal.append(tuple((field, tuple(sorted(rule.get(field) or ()))) for field in _RULE_FIELDS))
    return sorted(normal)


def rules_equal(rules, wanted=STORE_RULES):
    return _normal_rules(rules) == _normal_rules(wanted)


def _opened_kubernetes(options):
    """A KubernetesStore (its kubeconfig, auth, TLS, REST client and error sentences), with the paths
    preparing needs. Opening it makes no request."""
    api = KubernetesStore(options)
    namespace = quote(api.namespace, safe="")
    api._base.update(
        namespaces="/api/v1/namespaces",
        serviceaccounts="/api/v1/namespaces/%s/serviceaccounts" % namespace,
        roles="/apis/%s/v1/namespaces/%s/roles" % (RBAC, namespace),
        rolebindings="/apis/%s/v1/namespaces/%s/rolebindings" % (RBAC, namespace),
    )
    return api


def _namespace_exists(api):
    """True or False; None when this client may not read namespaces (then creates will tell)."""
    try:
        return api._get("namespaces", api.namespace) is not None
    except api._api_exception as exc:
        if exc.status == 403:
            return None
        raise


def _metadata(name):
    return {"name": name, "labels": {MANAGED_BY: MANAGER}}


def _wanted_objects(namespace, account):
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    return [
        ("ServiceAccount", "serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(account)}),
        ("Role", "roles",
         {"apiVersion": RBAC + "/v1", "kind": "Role", "metadata": _metadata(account),
          "rules": [dict(rule) for rule in STORE_RULES]}),
        ("RoleBinding", "rolebindings",
         {"apiVersion": RBAC + "/v1", "kind": "RoleBinding", "metadata": _metadata(account),
          "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": account}, "subjects": [subject]}),
    ]


def _binds(binding, namespace, account):
    """Whether a RoleBinding's subjects include the ServiceAccount (a subject without a namespace
    names one of the binding's namespace)."""
    return any(subject.get("kind") == "ServiceAccount" and subject.get("name") == account
               and subject.get("namespace") in (None, "", namespace)
               for subject in binding.get("subjects") or ())


def _fix(kind, current, wanted, namespace, account):
    """The object to write over ``current`` (which keeps its resourceVersion), or None when it is as needed."""
    if kind == "Role":
        if rules_equal(current.get("rules"), wanted["rules"]):
            return None
        return dict(current, rules=wanted["rules"])
    if kind == "RoleBinding":
        role_ref = current.get("roleRef") or {}
        if (role_ref.get("apiGroup"), role_ref.get("kind"), role_ref.get("name")) != (RBAC, "Role", account):
            raise ClaimStoreError(
                "the kubernetes claim store in namespace %s cannot be prepared: RoleBinding %s binds %s %s, not "
                "Role %s, and a RoleBinding's roleRef cannot change; delete it or choose another service_account."
                % (namespace, account, role_ref.get("kind") or "(no kind)", role_ref.get("name") or "(no name)",
                   account))
        if _binds(current, namespace, account):
            return None
        return dict(current, subjects=list(current.get("subjects") or []) + wanted["subjects"])
    return None  # a ServiceAccount that exists is left as it is


def _ensure(api, kind, resource, wanted, check_mode, report):
    name = wanted["metadata"]["name"]
    namespace, account = api.namespace, name
    for unused in range(_ATTEMPTS):
        current = api._get(resource, name)
        if current is None:
            if check_mode or api._create(resource, wanted) is not None:
                report["created"].append("%s/%s" % (kind, name))
                return
            continue  # 409: another client created it meanwhile; compare with theirs
        fixed = _fix(kind, current, wanted, namespace, account)
        if fixed is None:
            return
        if check_mode or api._replace(resource, fixed) is not None:
            report["updated"].append("%s/%s" % (kind, name))
            return
        # 409: it changed since it was read; read it again
    raise ClaimStoreError("the kubernetes claim store in namespace %s cannot be prepared: %s %s kept changing while "
                          "it was being written; run again." % (namespace, kind, name))


def check_object_name(name, what):
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ClaimStoreError("%s %r is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.', "
                              "starting and ending with a letter or digit." % (what, name))
    return name


def prepare_kubernetes(options, service_account="cnab-claims", create_namespace=True, check_mode=False):
    """The namespace, the ServiceAccount, its Role (exactly ``STORE_RULES``) and their RoleBinding."""
    check_object_name(service_account, "service_account")
    api = _opened_kubernetes(options)
    namespace = api.namespace
    report = _report()
    with api._api("read namespace %s" % namespace):
        exists = _namespace_exists(api)
    if exists is False:
        if not create_namespace:
            raise ClaimStoreError(
                "the kubernetes claim store cannot be prepared in namespace %s: it does not exist and "
                "create_namespace is false; create it, or set create_namespace to true." % namespace)
        created = True
        if not check_mode:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(namespace)}
            with api._api("create namespace %s" % namespace):
                created = api._create("namespaces", body) is not None  # None (409): created meanwhile
        if created:
            report["created"].append("Namespace/%s" % namespace)
    for kind, resource, wanted in _wanted_objects(namespace, service_account):
        if check_mode and exists is False:
            report["created"].append("%s/%s" % (kind, service_account))  # nothing to read in a namespace to be
            continue
        with api._api("prepare %s %s" % (kind, service_account)):
            _ensure(api, kind, resource, wanted, check_mode, report)
    return report
