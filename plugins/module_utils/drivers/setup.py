"""Preparing a cluster for the kubernetes driver: what ``cnab.runtime.cnab_driver_setup`` (and the role
``cnab_driver``) does.

In ``driver_options.namespace``: the namespace, a ServiceAccount for the caller, a Role granting exactly
``DRIVER_RULES``, a RoleBinding of that Role to the ServiceAccount (Role and RoleBinding named after it),
and, when registry credentials are given, an image pull Secret (``kubernetes.io/dockerconfigjson``) to
name in ``driver_options.image_pull_secrets``. The namespace, ServiceAccount, Role and RoleBinding are
prepared as the claim store's are (``k8s_api.prepare_namespace``), so both behave alike: nothing already
right is touched, check mode only reads.
"""

import base64
import json

from ansible_collections.cnab.runtime.plugins.module_utils import k8s_api
from ansible_collections.cnab.runtime.plugins.module_utils.errors import DriverError

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


def docker_config(server, username, password):
    auth = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    document = {"auths": {server: {"username": username, "password": password, "auth": auth}}}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _ensure_pull_secret(api, name, server, username, password, check_mode, report):
    data = {".dockerconfigjson": base64.b64encode(docker_config(server, username, password)).decode("ascii")}
    secrets = api.path("v1", "secrets")
    current = api.get(secrets, name)
    if current is None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": k8s_api.metadata(name), "data": data}
        if check_mode or api.create(secrets, body) is not None:
            report["created"].append("Secret/%s" % name)
        return
    if current.get("type") != "kubernetes.io/dockerconfigjson":
        raise api.sentence("cannot be prepared in namespace %s: Secret %s exists and is of type %s, not "
                           "kubernetes.io/dockerconfigjson; delete it or choose another image_pull_secret"
                           % (api.namespace, name, current.get("type")))
    if current.get("data") == data:
        return
    if check_mode or api.replace(secrets, dict(current, data=data)) is not None:
        report["updated"].append("Secret/%s" % name)


def prepare_driver(options, service_account="cnab-driver", create_namespace=True, registry=None,
                   image_pull_secret="cnab-registry", check_mode=False):
    """``{"created": [...], "updated": [...]}`` of ``kind/name``; ``registry`` is None or a dict with
    ``server``, ``username`` and ``password``."""
    k8s_api.check_object_name(service_account, "service_account", DriverError)
    k8s_api.check_object_name(image_pull_secret, "image_pull_secret", DriverError)
    api = k8s_api.Connection(dict(options or {}), DriverError, "the kubernetes driver", "driver_options.")

    def errors(doing):
        return api.errors("could not be prepared in namespace %s: could not %s" % (api.namespace, doing))

    report, new = k8s_api.prepare_namespace(api, service_account, DRIVER_RULES, create_namespace, check_mode, errors)
    if registry and registry.get("server"):
        if check_mode and new:
            report["created"].append("Secret/%s" % image_pull_secret)
        else:
            with errors("prepare Secret %s" % image_pull_secret):
                _ensure_pull_secret(api, image_pull_secret, registry["server"], registry.get("username") or "",
                                    registry.get("password") or "", check_mode, report)
    return report
