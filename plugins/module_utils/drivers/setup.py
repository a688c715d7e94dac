"""Preparing a cluster for the kubernetes driver: what ``cnab.runtime.cnab_driver_setup`` (and the role
``cnab_driver``) does.

In ``driver_options.namespace``: the namespace, a ServiceAccount for the caller, a Role granting exactly
``DRIVER_RULES``, a RoleBinding of that Role to the ServiceAccount (Role and RoleBinding named after it),
and, when registry credentials are given, an image pull Secret (``kubernetes.io/dockerconfigjson``) to
name in ``driver_options.image_pull_secrets``. Creating and comparing reuse the claim store's preparation
(claims/setup.py), so both behave alike: nothing already right is touched, check mode only reads.
"""

import base64
import json
from urllib.parse import quote

from ansible_collections.cnab.runtime.plugins.module_utils.claims import setup as store_setup
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.kubernetes import MANAGED_BY, MANAGER
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, DriverError
from ansible_collections.cnab.runtime.plugins.module_utils.k8s_api import (
    Connection,
    api_reason,
    is_transport_error,
    transport_reason,
)

# What drivers/kubernetes.py asks of the API in its namespace, verb by verb:
#   jobs.batch  create   prepare (dryRun=All) and run                POST jobs
#               get      run, while waiting                          GET jobs/{name}
#               list     reap (a dead run's Job, by label)           GET jobs?labelSelector=cnab.io/claim=...
#               delete   run (cleanup), cancel, reap                 DELETE jobs/{name}
#   pods        list     run, the Job's pod (job-name=...)           GET pods?labelSelector=job-name=...
#   pods/log    get      run, the invocation container's log         GET pods/{name}/log
#   secrets     create   run, the run's files and environment        POST secrets
# The pod and the Secret are deleted by the garbage collector (ownerReferences), not by the driver.
# With driver_options.service_account the driver also GETs that ServiceAccount, to fail at once when it
# is missing; it skips that check when forbidden, so the Role leaves it out.
DRIVER_RULES = (
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
)
RBAC = store_setup.RBAC


class _Api:
    """The few calls claims/setup.py's helpers make (``_get``, ``_create``, ``_replace``), on a Connection."""

    def __init__(self, options):
        self.namespace = options.get("namespace") or "cnab"
        self._connection = Connection(options, DriverError, "the kubernetes driver", "driver_options.")
        self._api_exception = self._connection.api_exception
        namespace = quote(self.namespace, safe="")
        self._base = {
            "namespaces": "/api/v1/namespaces",
            "serviceaccounts": "/api/v1/namespaces/%s/serviceaccounts" % namespace,
            "secrets": "/api/v1/namespaces/%s/secrets" % namespace,
            "roles": "/apis/%s/v1/namespaces/%s/roles" % (RBAC, namespace),
            "rolebindings": "/apis/%s/v1/namespaces/%s/rolebindings" % (RBAC, namespace),
        }

    def _get(self, resource, name):
        try:
            return self._connection.call("GET", "%s/%s" % (self._base[resource], quote(name, safe="")))
        except self._api_exception as exc:
            if exc.status == 404:
                return None
            raise

    def _create(self, resource, body):
        try:
            return self._connection.call("POST", self._base[resource], body=body)
        except self._api_exception as exc:
            if exc.status == 409:
                return None
            raise

    def _replace(self, resource, body):
        try:
            return self._connection.call("PUT", "%s/%s" % (self._base[resource], body["metadata"]["name"]), body=body)
        except self._api_exception as exc:
            if exc.status == 409:
                return None
            raise

    def errors(self, doing):
        return _Errors(self, doing)


class _Errors:
    def __init__(self, api, doing):
        self.api, self.doing = api, doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if exc is None or isinstance(exc, DriverError):
            return False
        if isinstance(exc, ClaimStoreError):  # the shared helpers' sentences name the store: say driver
            raise DriverError(str(exc).replace("the kubernetes claim store", "the kubernetes driver")) from exc
        if isinstance(exc, self.api._api_exception):
            reason = api_reason(exc)
        elif is_transport_error(exc):
            reason = transport_reason(exc, self.api._connection.host)
        else:
            return False
        raise DriverError("the kubernetes driver could not be prepared in namespace %s: could not %s: %s."
                          % (self.api.namespace, self.doing, reason)) from exc


def _metadata(name):
    return {"name": name, "labels": {MANAGED_BY: MANAGER}}


def docker_config(server, username, password):
    auth = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    document = {"auths": {server: {"username": username, "password": password, "auth": auth}}}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _ensure_pull_secret(api, name, server, username, password, check_mode, report):
    data = {".dockerconfigjson": base64.b64encode(docker_config(server, username, password)).decode("ascii")}
    current = api._get("secrets", name)
    if current is None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": _metadata(name), "data": data}
        if check_mode or api._create("secrets", body) is not None:
            report["created"].append("Secret/%s" % name)
        return
    if current.get("type") != "kubernetes.io/dockerconfigjson":
        raise DriverError("the kubernetes driver cannot be prepared in namespace %s: Secret %s exists and is of type "
                          "%s, not kubernetes.io/dockerconfigjson; delete it or choose another image_pull_secret."
                          % (api.namespace, name, current.get("type")))
    if current.get("data") == data:
        return
    if check_mode or api._replace("secrets", dict(current, data=data)) is not None:
        report["updated"].append("Secret/%s" % name)


def prepare_driver(options, service_account="cnab-driver", create_namespace=True, registry=None,
                   image_pull_secret="cnab-registry", check_mode=False):
    """``{"created": [...], "updated": [...]}`` of ``kind/name``; ``registry`` is None or a dict with
    ``server``, ``username`` and ``password``."""
    try:
        store_setup.check_object_name(service_account, "service_account")
        store_setup.check_object_name(image_pull_secret, "image_pull_secret")
    except ClaimStoreError as exc:
        raise DriverError(str(exc)) from exc
    api = _Api(dict(options or {}))
    namespace = api.namespace
    report = {"created": [], "updated": []}
    with api.errors("read namespace %s" % namespace):
        exists = store_setup._namespace_exists(api)
    if exists is False:
        if not create_namespace:
            raise DriverError("the kubernetes driver cannot be prepared in namespace %s: it does not exist and "
                              "create_namespace is false; create it, or set create_namespace to true." % namespace)
        created = True
        if not check_mode:
            with api.errors("create namespace %s" % namespace):
                created = api._create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": _metadata(namespace)}) is not None
        if created:
            report["created"].append("Namespace/%s" % namespace)
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    wanted = [
        ("ServiceAccount", "serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(service_account)}),
        ("Role", "roles", {"apiVersion": RBAC + "/v1", "kind": "Role", "metadata": _metadata(service_account),
                           "rules": [dict(rule) for rule in DRIVER_RULES]}),
        ("RoleBinding", "rolebindings",
         {"apiVersion": RBAC + "/v1", "kind": "RoleBinding", "metadata": _metadata(service_account),
          "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": service_account}, "subjects": [subject]}),
    ]
    for kind, resource, body in wanted:
        if check_mode and exists is False:
            report["created"].append("%s/%s" % (kind, service_account))
            continue
        with api.errors("prepare %s %s" % (kind, service_account)):
            store_setup._ensure(api, kind, resource, body, check_mode, report)
    if registry and registry.get("server"):
        if check_mode and exists is False:
            report["created"].append("Secret/%s" % image_pull_secret)
        else:
            with api.errors("prepare Secret %s" % image_pull_secret):
                _ensure_pull_secret(api, image_pull_secret, registry["server"], registry.get("username") or "",
                                    registry.get("password") or "", check_mode, report)
    return report
