"""Kubernetes driver: each action is a batch/v1 Job of one pod, driven from outside the cluster.

What one run creates in ``driver_options.namespace`` (all labelled ``cnab.io/claim=<claim id>``):

- Job ``cnab-<claim id>``: ``backoffLimit: 0``, ``activeDeadlineSeconds`` (the timeout),
  ``ttlSecondsAfterFinished`` (so that a killed caller leaves nothing behind), one pod of
  - init container ``cnab-setup`` (the helper image, a static busybox): copies the run's files from
    the Secret volume (read-only) into an emptyDir, and its own busybox into another emptyDir;
  - container ``invocation`` (the invocation image): each file is mounted from the writable emptyDir
    with ``subPath`` at its CNAB path, ``/cnab/app/outputs`` is an emptyDir, and every environment
    value comes from the Secret (``secretKeyRef``). Its command is the copied busybox running a small
    shell wrapper: ``/cnab/app/run``, then (also when it failed) a tar of ``/cnab/app/outputs``,
    base64-encoded between two marker lines carrying a per-run nonce, then exit with run's status.
- Secret ``cnab-<claim id>``: the environment values (``env-<n>``) and files (``f<n>``), owned by the
  Job (ownerReference), so deleting the Job deletes it.

The caller polls the Job and its pod, reads the ``invocation`` container's log (``pods/log``) once the
pod ended, splits it into the action's own log and the framed outputs, then deletes the Job (unless
``keep_resources``). Nothing needs a PersistentVolumeClaim or the caller inside the cluster, and the
invocation image needs nothing beyond ``/cnab/app/run``: the wrapper's shell comes from the helper image.
See docs/architecture.md.
"""

import base64
import contextlib
import io
import os
import re
import tarfile
import time

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import OUTPUTS_DIR
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import (
    DOCKER_EXTENSION,
    Driver,
    OperationResult,
    docker_access_request,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import Cancelled, DriverError, ImageNotFound
from ansible_collections.cnab.runtime.plugins.module_utils.k8s_api import (
    MANAGED_BY,
    MANAGER,
    Connection,
    api_reason,
    is_transport_error,
)

DEFAULT_TIMEOUT = 3600  # activeDeadlineSeconds when driver_options.timeout is unset: a stuck run ends
DEFAULT_TTL = 300
DEFAULT_HELPER_IMAGE = "docker.io/library/busybox:1.36.1"
MAX_LOG_BYTES = 4 * 1024 * 1024  # as the Docker driver: only the tail of a chatty action's log is kept
MAX_SECRET_DATA = 1024 * 1024
CLAIM = "cnab.io/claim"
INSTALLATION = "cnab.io/installation"
ACTION = "cnab.io/action"
REVISION = "cnab.io/revision"
TOOLS = "/cnab-runtime"  # where the helper's busybox lands in the invocation container
INVOCATION = "invocation"
SETUP = "cnab-setup"
# Waiting reasons that will not resolve by waiting (kubelet's and the job controller's names).
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FAILURES = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")

# The invocation container's command (run by the helper's busybox; %(nonce)s is random per run).
# /cnab/app/run runs as a child so that SIGTERM (pod deletion, deadline) reaches it; its stderr goes
# into its stdout so that the log keeps its order against the frame (two streams are copied to the
# log separately, and a late stderr line could land after it); its outputs are framed even when it
# failed; the pod's exit code is run's.
_WRAPPER = r"""B=%(tools)s/bin/busybox
/cnab/app/run </dev/null 2>&1 &
child=$!
trap '$B kill -TERM $child 2>/dev/null' TERM INT
wait $child
code=$?
while $B kill -0 $child 2>/dev/null; do wait $child; code=$?; done
echo "%(nonce)s begin"
%(tar)s
echo "%(nonce)s end $code"
exit $code
"""
_TAR = "(cd %s && $B tar -cf - . | $B base64 -w 76)" % OUTPUTS_DIR
_SETUP = r"""set -e
B=/bin/busybox
$B mkdir -p %(tools)s/bin
$B cp $B %(tools)s/bin/busybox
$B chmod 0755 %(tools)s/bin/busybox
for f in /cnab-secret/*; do [ -e "$f" ] && $B cp "$f" /cnab-files/; done
$B chmod 0666 /cnab-files/* 2>/dev/null || true
"""


def label_value(value):
    """``value`` when it is a valid label value, else a short hash (the real value goes in an annotation)."""
    if _LABEL_VALUE.fullmatch(value or ""):
        return value
    import hashlib

    return "h-" + hashlib.sha256((value or "").encode("utf-8")).hexdigest()[:40]


def _run_name(claim_id):
    return "cnab-" + str(claim_id).lower()


def split_log(raw, nonce):
    """``(log, outputs tar bytes or None, exit code or None)`` from the invocation container's log."""
    begin = ("%s begin\n" % nonce).encode("ascii")
    at = raw.find(begin)
    if at < 0:
        return raw, None, None
    log, framed = raw[:at], raw[at + len(begin):]
    end = re.search((r"(?:^|\n)%s end (\d+)\n?" % nonce).encode("ascii"), framed)
    if end is None:
        return log, None, None  # cut off: the container was killed while writing its outputs
    encoded = b"".join(framed[:end.start()].split())
    # Anything after the frame still belongs to the log (a child of run that outlived it, say).
    return log + framed[end.end():], base64.b64decode(encoded) if encoded else b"", int(end.group(1))


def read_outputs(archive, wanted):
    """The wanted files (container path -> bytes) of a tar of /cnab/app/outputs (members ``./<name>``)."""
    found = {}
    if not archive:
        return found
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            path = OUTPUTS_DIR + "/" + name
            if member.isfile() and path in wanted:
                found[path] = tar.extractfile(member).read()
    return found


class KubernetesDriver(Driver):
    name = "kubernetes"

    def __init__(self, options):
        self.options = dict(options or {})
        self.namespace = self.options.get("namespace") or "cnab"
        self.timeout = int(self.options.get("timeout") or DEFAULT_TIMEOUT)
        self.ttl = DEFAULT_TTL if self.options.get("ttl_seconds") is None else int(self.options["ttl_seconds"])
        self.keep = bool(self.options.get("keep_resources"))
        self.helper_image = self.options.get("helper_image") or DEFAULT_HELPER_IMAGE
        self.poll = 0.2
        self._api = None
        self._prepared = None  # (operation, job, secret, nonce) from prepare()

    # -- connection -----------------------------------------------------------------------

    def connect(self):
        if self._api is None:
            self._api = Connection(self.options, DriverError, "the kubernetes driver", "driver_options.")
        return self._api

    def _path(self, resource, name=None):
        """The path of the driver's namespace's ``resource`` (``jobs`` are batch/v1's), or of one of them."""
        return self.connect().path("batch/v1" if resource == "jobs" else "v1", resource, name)

    @contextlib.contextmanager
    def _errors(self, doing):
        """API and transport errors become one DriverError sentence with Kubernetes' reason."""
        api = self.connect()
        try:
            yield
        except api.api_exception as exc:
            raise self._api_error(doing, exc) from exc
        except Exception as exc:  # noqa: BLE001 - urllib3's classes load with the SDK, not with this file
            if is_transport_error(exc):
                raise api.sentence("could not %s in namespace %s: %s" % (doing, self.namespace, api.reason(exc))) from exc
            raise

    def _api_error(self, doing, exc):
        api, reason = self.connect(), api_reason(exc)
        if exc.status == 403:
            return api.sentence("may not %s in namespace %s: %s; grant it the Role that roles/cnab_driver creates"
                                % (doing, self.namespace, reason))
        if exc.status == 404 and '"kind":"namespaces"' in (exc.body or "").replace(" ", ""):
            return api.sentence("cannot %s: namespace %s does not exist; create it (roles/cnab_driver does) or set "
                                "driver_options.namespace (CNAB_DRIVER_NAMESPACE) to an existing one"
                                % (doing, self.namespace))
        return api.sentence("could not %s in namespace %s: %s" % (doing, self.namespace, reason))

    # -- the driver contract ------------------------------------------------------------------

    def check_bundle(self, bundle):
        if docker_access_request(bundle) is not None:
            raise DriverError(
                "bundle %s requires the extension \"%s\" (the socket of a Docker engine), which the kubernetes driver "
                "cannot give, as its pod runs on a cluster node whose container runtime is the cluster's, not an engine "
                "this run may hand over; run it with driver docker and driver_options.allow_docker_host_access: true."
                % (bundle.name, DOCKER_EXTENSION))

    def prepare(self, operation):
        """Build the Job and Secret, and have the API server check the Job (``dryRun=All``): a missing
        namespace, a refusal (RBAC, admission) or an invalid spec fails here, before anything is recorded."""
        nonce = os.urandom(12).hex()
        secret, mounts, env = self._secret(operation)
        job = self._job(operation, mounts, env, nonce)
        with self._errors("create Job %s" % job["metadata"]["name"]):
            self.connect().call("POST", self._path("jobs"), {"dryRun": "All"}, job)
        if self.options.get("service_account"):
            self._check_service_account(self.options["service_account"])
        self._prepared = (operation, job, secret, nonce)

    def _check_service_account(self, account):
        """A Job whose ServiceAccount is missing gets no pod (the controller's create is refused, an event says
        why) and would wait for its deadline: say so now. Skipped when reading ServiceAccounts is forbidden."""
        api = self.connect()
        with self._errors("read ServiceAccount %s" % account):
            try:
                found = api.get(self._path("serviceaccounts"), account)
            except api.api_exception as exc:
                if exc.status == 403:
                    return
                raise
        if found is None:
            raise api.sentence("cannot run pods as ServiceAccount %s: it does not exist in namespace %s; create it or "
                               "unset driver_options.service_account" % (account, self.namespace))

    def run(self, operation):
        if self._prepared is None or self._prepared[0] is not operation:
            self.prepare(operation)
        unused, job, secret, nonce = self._prepared
        self._prepared = None
        name = job["metadata"]["name"]
        result = OperationResult()
        created = None
        try:
            with self._errors("create Job %s" % name):
                created = self.connect().call("POST", self._path("jobs"), body=job)
            secret["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                                      "uid": created["metadata"]["uid"]}]
            with self._errors("create Secret %s" % name):
                self.connect().call("POST", self._path("secrets"), body=secret)
            try:
                with operation.cancel.interruptible():
                    pod = self._wait(name, operation)
            except Cancelled:
                result.canceled = True
                result.error = "the run was canceled"
                pod = self._pod(name)
            if pod is not None:
                raw = self._log(pod)
                log, archive, code = split_log(raw, nonce)
                result.logs = log[-MAX_LOG_BYTES:].decode("utf-8", "replace")
                result.exit_code = _exit_code(pod, code)
                if operation.outputs:
                    result.outputs = read_outputs(archive, operation.outputs)
            if result.exit_code is None and not result.canceled and not result.error:
                result.error = _setup_failure(pod) or "the pod of Job %s ended without an exit code" % name
            return result
        except _Timeout as exc:
            result.error = str(exc)
            return result
        finally:
            if created is not None and not self.keep:
                self._delete_job(name)

    def discard(self):
        self._prepared = None  # prepare() creates nothing

    def reap(self, installation, claim_id):
        selector = "%s=%s,%s=%s" % (MANAGED_BY, MANAGER, CLAIM, str(claim_id).lower())
        with self._errors("look for the Jobs of installation %s" % installation):
            jobs = list(self.connect().list(self._path("jobs"), selector))
            for job in jobs:
                self._delete_job(job["metadata"]["name"], quiet=False)
        if jobs:
            return "its Job %s, left by the run that died, was deleted" % jobs[0]["metadata"]["name"]
        return None

    # -- the objects ----------------------------------------------------------------------------

    def _labels(self, operation):
        labels = dict(self.options.get("labels") or {})
        labels.update({MANAGED_BY: MANAGER, CLAIM: str(operation.claim_id).lower(),
                       INSTALLATION: label_value(operation.installation), ACTION: label_value(operation.action)})
        return labels

    def _annotations(self, operation):
        annotations = {k: v for k, v in (self.options.get("annotations") or {}).items() if not k.startswith("cnab.io/")}
        annotations.update({INSTALLATION: operation.installation, ACTION: operation.action,
                            REVISION: operation.revision or ""})
        return annotations

    def _secret(self, operation):
        """The run's Secret, the file mounts and the env entries that refer to it."""
        name = _run_name(operation.claim_id)
        data, mounts, env = {}, [], []
        for index, (variable, value) in enumerate(sorted(operation.environment.items())):
            key = "env-%d" % index
            data[key] = str(value).encode("utf-8")
            env.append({"name": variable, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}})
        for index, (path, content) in enumerate(sorted(operation.files.items())):
            key = "f%d" % index
            data[key] = content.encode("utf-8") if isinstance(content, str) else content
            mounts.append({"name": "cnab-files", "mountPath": path, "subPath": key})
        size = sum(len(value) for value in data.values())
        if size > MAX_SECRET_DATA:
            raise DriverError("the files and environment of action %s of installation %s hold %.2f MiB, more than "
                              "one Kubernetes Secret can carry (1 MiB); make the parameters or credentials smaller."
                              % (operation.action, operation.installation, size / 1048576.0))
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": True,
                  "metadata": {"name": name, "labels": self._labels(operation),
                               "annotations": self._annotations(operation)},
                  "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()}}
        return secret, mounts, env

    def _image(self, entry):
        image, digest = entry["image"], entry.get("contentDigest")
        return "%s@%s" % (image, digest) if digest and "@" not in image else image

    def _job(self, operation, file_mounts, env, nonce):
        name = _run_name(operation.claim_id)
        labels = self._labels(operation)
        files = [mount["subPath"] for mount in file_mounts]
        script = _WRAPPER % {"tools": TOOLS, "nonce": nonce, "tar": _TAR if operation.outputs else ":"}
        invocation = {
            "name": INVOCATION,
            "image": self._image(operation.image),
            "imagePullPolicy": "IfNotPresent",
            "command": [TOOLS + "/bin/busybox", "sh", "-c", script],
            "env": env,
            "volumeMounts": [{"name": "cnab-tools", "mountPath": TOOLS, "readOnly": True},
                             {"name": "cnab-outputs", "mountPath": OUTPUTS_DIR}] + file_mounts,
        }
        if self.options.get("resources"):
            invocation["resources"] = self.options["resources"]
        setup = {
            "name": SETUP,
            "image": self.helper_image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/busybox", "sh", "-c", _SETUP % {"tools": TOOLS}],
            "volumeMounts": [{"name": "cnab-secret", "mountPath": "/cnab-secret", "readOnly": True},
                             {"name": "cnab-files", "mountPath": "/cnab-files"},
                             {"name": "cnab-tools", "mountPath": TOOLS}],
        }
        pod = {
            "restartPolicy": "Never",
            "initContainers": [setup],
            "containers": [invocation],
            "volumes": [
                {"name": "cnab-secret", "secret": {"secretName": name, "defaultMode": 0o400,
                                                   "items": [{"key": key, "path": key} for key in files]}},
                {"name": "cnab-files", "emptyDir": {}},
                {"name": "cnab-tools", "emptyDir": {}},
                {"name": "cnab-outputs", "emptyDir": {}},
            ],
        }
        if self.options.get("service_account"):
            pod["serviceAccountName"] = self.options["service_account"]
        else:
            pod["automountServiceAccountToken"] = False  # the action gets no API access unless asked for
        if self.options.get("image_pull_secrets"):
            pod["imagePullSecrets"] = [{"name": secret} for secret in self.options["image_pull_secrets"]]
        if self.options.get("node_selector"):
            pod["nodeSelector"] = dict(self.options["node_selector"])
        if self.options.get("tolerations"):
            pod["tolerations"] = list(self.options["tolerations"])
        spec = {"backoffLimit": 0, "activeDeadlineSeconds": self.timeout,
                "template": {"metadata": {"labels": labels, "annotations": self._annotations(operation)},
                             "spec": pod}}
        if not self.keep:
            spec["ttlSecondsAfterFinished"] = self.ttl
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "labels": labels, "annotations": self._annotations(operation)},
                "spec": spec}

    # -- waiting and reading ------------------------------------------------------------------------

    def _pod(self, job_name):
        """The Job's newest pod, or None."""
        with self._errors("read the pods of Job %s" % job_name):
            items = list(self.connect().list(self._path("pods"), "job-name=" + job_name))
        return max(items, key=lambda p: p["metadata"].get("creationTimestamp") or "") if items else None

    def _wait(self, name, operation):
        """Poll the Job and its pod until the pod ended; the pod. Raises on what waiting cannot fix."""
        unschedulable = None
        deadline = time.monotonic() + self.timeout + 60  # the Job's own deadline normally ends it first
        while True:
            with self._errors("read Job %s" % name):
                job = self.connect().call("GET", self._path("jobs", name))
            pod = self._pod(name)
            if pod is not None:
                status = pod.get("status") or {}
                if status.get("phase") in ("Succeeded", "Failed"):
                    return pod
                self._check_waiting(pod, operation)
                unschedulable = _unschedulable(pod) or unschedulable
            failed = _condition(job, "Failed")
            if failed is not None:
                if failed.get("reason") == "DeadlineExceeded":
                    if unschedulable:
                        raise _Timeout("the pod of Job %s could not be scheduled within %d seconds: %s"
                                       % (name, self.timeout, unschedulable))
                    raise _Timeout("the invocation image did not finish within %d seconds (activeDeadlineSeconds)"
                                   % self.timeout)
                if pod is None:
                    raise DriverError("Job %s failed before its pod ran: %s." % (name, failed.get("message")))
            if time.monotonic() > deadline:
                raise _Timeout("Job %s did not end within %d seconds" % (name, self.timeout))
            time.sleep(self.poll)

    def _check_waiting(self, pod, operation):
        status = pod.get("status") or {}
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in PULL_FAILURES:
                image = container.get("image") or ""
                message = " ".join(str(waiting.get("message") or reason).split()).rstrip(".")
                if container.get("name") == SETUP:
                    raise ImageNotFound("the helper image %s cannot be pulled in namespace %s (%s: %s); set "
                                        "driver_options.helper_image to a static busybox image the cluster can pull."
                                        % (image or self.helper_image, self.namespace, reason, message))
                raise ImageNotFound("the invocation image %s cannot be pulled in namespace %s (%s: %s)."
                                    % (image or operation.image["image"], self.namespace, reason, message))
            if reason in CONFIG_FAILURES:
                raise DriverError("container %s of pod %s cannot start (%s: %s)."
                                  % (container.get("name"), pod["metadata"]["name"], reason,
                                     str(waiting.get("message") or "").rstrip(".")))

    def _log(self, pod):
        """The invocation container's whole log (its outputs are framed in it); empty when there is none."""
        api = self.connect()
        try:
            return api.call("GET", self._path("pods", pod["metadata"]["name"]) + "/log",
                            {"container": INVOCATION}, raw=True, timeout=(5, 120))
        except api.api_exception as exc:
            if exc.status in (400, 404):  # never started, or already gone
                return b""
            raise self._api_error("read the log of pod %s" % pod["metadata"]["name"], exc) from exc

    def _delete_job(self, name, quiet=True):
        """Delete the Job; the garbage collector deletes its pod and Secret (their ownerReferences)."""
        try:
            self.connect().delete(self._path("jobs"), name, body={"propagationPolicy": "Background"})  # False: gone
        except Exception:  # noqa: BLE001 - cleanup must not hide the result; the TTL deletes it later
            if not quiet:
                raise


class _Timeout(Exception):
    """The run ended by its deadline: a result with this error, not a driver failure."""


def _condition(obj, kind):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def _unschedulable(pod):
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return "%s: %s" % (condition.get("reason") or "Unschedulable", (condition.get("message") or "").rstrip("."))
    return None


def _setup_failure(pod):
    """Why an init container failed, as a phrase; None when none did."""
    for container in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode"):
            return "init container %s of pod %s failed with code %s (%s%s)" % (
                container.get("name"), pod["metadata"]["name"], terminated["exitCode"],
                terminated.get("reason") or "Error",
                ": " + " ".join(terminated["message"].split()).rstrip(".") if terminated.get("message") else "")
    return None


def _exit_code(pod, framed):
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == INVOCATION:
            terminated = (container.get("state") or {}).get("terminated")
            if terminated is not None:
                return terminated.get("exitCode")
    return framed
