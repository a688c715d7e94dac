"""batch/v1 Jobs and v1 Pods, with a job controller, a garbage collector and a kubelet that runs each
Pod's containers on the local Docker engine.

What runs where:

- ``ControlPlane.tick()`` (a thread, every 0.1 s, started when the first Job or Pod is created) plays
  the job controller (one pod per Job, ``backoffLimit``, ``activeDeadlineSeconds``,
  ``ttlSecondsAfterFinished``, Complete/Failed conditions), the garbage collector (an object whose
  owners, by ``ownerReferences`` uid, are all gone is deleted) and the scheduler (``nodeSelector``
  against the one node's labels: a mismatch leaves the pod Pending with ``PodScheduled=False``,
  reason ``Unschedulable``).
- ``_PodRunner`` (a thread per scheduled pod) is the kubelet: it prepares the volumes in a private
  directory (``emptyDir``: an empty 0777 directory; ``secret``: the Secret's keys as files, mounted
  read-only, waiting for the Secret as the kubelet does), resolves ``env`` (``value``,
  ``secretKeyRef``) and ``envFrom`` (``secretRef``), runs the init containers in order and then the
  containers with Docker (bind mounts, ``subPath``, ``readOnly``, ``command``/``args``,
  ``workingDir``, ``securityContext.runAsUser``/``runAsGroup``), and writes their states and exit codes
  into the Pod's status. An image missing from the engine is ``ErrImagePull``, then
  ``ImagePullBackOff``, retried until the pod is deleted (nothing is pulled).
- Deleting a Pod (directly or by the garbage collector) stops its containers (SIGTERM, then SIGKILL
  after the grace period) and removes them. Docker containers carry the dockershim labels
  (``io.kubernetes.pod.name``, ...) and ``io.cnab.k8s-emulator=<instance>``, so leftovers can be found.
"""

import atexit
import base64
import copy
import os
import re
import shutil
import tempfile
import threading
import time
import uuid

from .cluster import SECRETS, SERVICE_ACCOUNTS, ApiError, Resource, bad_request, now_rfc3339
from .validation import label_name_errors, object_meta_causes, subdomain_errors

NODE = "emulator-node"
NODE_LABELS = {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
INSTANCE_LABEL = "io.cnab.k8s-emulator"
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


# -- resources ---------------------------------------------------------------------------------------


def _container_causes(containers, path, volumes):
    causes = []
    names = set()
    for index, container in enumerate(containers):
        where = "%s[%d]" % (path, index)
        if not isinstance(container, dict):
            causes.append((where, "Invalid value: a container must be an object"))
            continue
        name = container.get("name") or ""
        if not name:
            causes.append((where + ".name", "Required value"))
        else:
            causes.extend((where + ".name", 'Invalid value: "%s": %s' % (name, text)) for text in label_name_errors(name))
            if name in names:
                causes.append((where + ".name", 'Duplicate value: "%s"' % name))
            names.add(name)
        if not container.get("image"):
            causes.append((where + ".image", "Required value"))
        for number, mount in enumerate(container.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                causes.append(("%s.volumeMounts[%d].name" % (where, number), 'Not found: "%s"' % mount.get("name")))
            if not str(mount.get("mountPath") or "").startswith("/"):
                causes.append(("%s.volumeMounts[%d].mountPath" % (where, number), "Required value"))
    return causes


def _pod_spec_causes(spec, path, restart_policies):
    if not isinstance(spec, dict):
        return [(path, "Required value")]
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    causes = []
    if not spec.get("containers"):
        causes.append((path + ".containers", "Required value"))
    causes.extend(_container_causes(spec.get("initContainers") or [], path + ".initContainers", volumes))
    causes.extend(_container_causes(spec.get("containers") or [], path + ".containers", volumes))
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        causes.append((path + ".restartPolicy", 'Unsupported value: "%s": supported values: %s'
                       % (policy or "", ", ".join('"%s"' % p for p in restart_policies))))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
        causes.append((path + ".activeDeadlineSeconds", "Invalid value: %s: must be greater than 0" % deadline))
    return causes


def _prepare_pod(body):
    spec = copy.deepcopy(body.get("spec"))
    if isinstance(spec, dict):
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = "default"
    return {"spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}}, None


def _pod_causes(pod, extra, old):
    causes = object_meta_causes(pod["metadata"], subdomain_errors)
    causes.extend(_pod_spec_causes(pod.get("spec"), "spec", ("Always", "OnFailure", "Never")))
    return causes


def _prepare_job(body):
    spec = copy.deepcopy(body.get("spec"))
    if isinstance(spec, dict):
        for field, default in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1), ("suspend", False),
                               ("completionMode", "NonIndexed"), ("podReplacementPolicy", "TerminatingOrFailed")):
            spec.setdefault(field, default)
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            template["spec"].setdefault("terminationGracePeriodSeconds", 30)
    return {"spec": spec, "status": {}}, None


def _job_causes(job, extra, old):
    causes = object_meta_causes(job["metadata"], subdomain_errors)
    spec = job.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict):
        return causes + [("spec.template", "Required value")]
    causes.extend(_pod_spec_causes(spec["template"].get("spec"), "spec.template.spec", ("OnFailure", "Never")))
    for field in ("activeDeadlineSeconds", "ttlSecondsAfterFinished", "backoffLimit"):
        value = spec.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < (1 if field == "activeDeadlineSeconds" else 0)):
            causes.append(("spec." + field, "Invalid value: %s: must be greater than%s 0"
                           % (value, "" if field == "activeDeadlineSeconds" else " than or equal to")))
    if old is not None and old.get("spec", {}).get("template") != spec.get("template"):
        causes.append(("spec.template", "Invalid value: field is immutable"))
    return causes


JOBS = Resource("batch", "v1", "jobs", "Job", True, _prepare_job, _job_causes)
PODS = Resource("", "v1", "pods", "Pod", True, _prepare_pod, _pod_causes, fields=("status.phase", "spec.nodeName"))
WORKLOADS = (JOBS, PODS)


# -- the control plane ------------------------------------------------------------------------------------


def control_plane(cluster):
    """The cluster's control plane, started on first use."""
    with cluster._lock:
        plane = getattr(cluster, "control_plane", None)
        if plane is None:
            plane = cluster.control_plane = ControlPlane(cluster)
    plane.start()
    return plane


def delete_job(cluster, namespace, name, options, dry_run=False):
    """DELETE of a Job. Its pods are deleted by the garbage collector (``Background``, ``Foreground``,
    done here as background) or kept without their owner (``Orphan``, the Job API's default)."""
    options = options or {}
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request('propagationPolicy: Unsupported value: "%s": supported values: "Background", '
                          '"Foreground", "Orphan"' % policy)
    with cluster._lock:
        job = cluster.get(JOBS, namespace, name)
        status = cluster.delete(JOBS, namespace, name, options, dry_run)
        if not dry_run and policy in (None, "Orphan"):
            for key, obj in list(cluster._objects.items()):
                references = obj["metadata"].get("ownerReferences") or []
                kept = [r for r in references if r.get("uid") != job["metadata"]["uid"]]
                if key[0] == "pods" and key[1] == namespace and len(kept) != len(references):
                    obj["metadata"]["ownerReferences"] = kept
                    if not kept:
                        del obj["metadata"]["ownerReferences"]
                    obj["metadata"]["resourceVersion"] = cluster._next_version()
        return status


def _update(cluster, resource, namespace, name, change):
    """Apply ``change(obj)`` to a stored object (a status update); False when it is gone."""
    with cluster._lock:
        obj = cluster._objects.get((resource.plural, namespace, name))
        if obj is None:
            return False
        before = copy.deepcopy(obj)
        change(obj)
        if obj != before:
            obj["metadata"]["resourceVersion"] = cluster._next_version()
        return True


def _condition(kind, status, reason=None, message=None):
    condition = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _set_condition(status, condition):
    conditions = [c for c in status.get("conditions") or [] if c["type"] != condition["type"]]
    status["conditions"] = conditions + [condition]


def _finished(job):
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class ControlPlane:
    def __init__(self, cluster):
        self.cluster = cluster
        self.instance = uuid.uuid4().hex[:12]
        self.runners = {}  # pod uid -> _PodRunner
        self.started = {}  # job uid -> monotonic start
        self.ended = {}  # job uid -> monotonic end
        self._thread = None
        self._stopped = threading.Event()
        self._docker = None
        self._docker_lock = threading.Lock()

    def docker(self):
        with self._docker_lock:
            if self._docker is None:
                import docker

                self._docker = docker.from_env(timeout=120).api
            return self._docker

    def start(self):
        with self.cluster._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="k8s-emulator-control-plane", daemon=True)
            self._thread.start()
        atexit.register(self.stop)

    def stop(self):
        """Stop the loop, stop and remove every container this emulator started."""
        self._stopped.set()
        for runner in list(self.runners.values()):
            runner.terminate(grace=0)
        for runner in list(self.runners.values()):
            runner.join(timeout=30)
        if self._docker is not None:
            for container in self._docker.containers(all=True, filters={"label": INSTANCE_LABEL + "=" + self.instance}):
                try:
                    self._docker.remove_container(container["Id"], force=True)
                except Exception:  # noqa: BLE001 - best effort at exit
                    pass

    def _loop(self):
        while not self._stopped.wait(0.1):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a controller keeps reconciling after an error
                import traceback

                traceback.print_exc()

    def _objects(self, plural):
        with self.cluster._lock:
            return [copy.deepcopy(obj) for key, obj in self.cluster._objects.items() if key[0] == plural]

    def tick(self):
        for job in self._objects("jobs"):
            self._reconcile_job(job)
        self._collect_garbage()
        alive = set()
        for pod in self._objects("pods"):
            uid = pod["metadata"]["uid"]
            alive.add(uid)
            if uid not in self.runners and pod["status"].get("phase") == "Pending":
                self._schedule(pod)
        for uid, runner in list(self.runners.items()):
            if uid not in alive:
                runner.terminate()
                if not runner.is_alive():
                    del self.runners[uid]

    # -- the job controller ------------------------------------------------------------------------------

    def _reconcile_job(self, job):
        meta, spec = job["metadata"], job["spec"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        now = time.monotonic()
        if _finished(job):
            self.ended.setdefault(uid, now)
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and now >= self.ended[uid] + ttl:
                try:
                    delete_job(self.cluster, namespace, name, {"propagationPolicy": "Background"})
                except ApiError:
                    pass
            return
        if spec.get("suspend"):
            return
        start = self.started.setdefault(uid, now)
        pods = [p for p in self._objects("pods") if p["metadata"].get("namespace") == namespace
                and any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])]
        phases = [p["status"].get("phase") for p in pods]
        active = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and now - start >= deadline:
            self._end_job(job, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline", pods)
            return
        if "Succeeded" in phases:
            self._end_job(job, "Complete", None, None, pods)
            return
        failed = phases.count("Failed")
        if failed > spec.get("backoffLimit", 6):
            self._end_job(job, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", pods)
            return
        if not active:
            account = spec["template"]["spec"].get("serviceAccountName")
            if account and not self._exists(SERVICE_ACCOUNTS, namespace, account):
                return  # the controller's pod create is refused (FailedCreate event); it retries
            active = [self._create_pod(job)]

        def status(obj):
            obj["status"].setdefault("startTime", now_rfc3339())
            obj["status"]["active"] = len(active)
            obj["status"]["ready"] = sum(1 for p in active if p["status"].get("phase") == "Running")
            if failed:
                obj["status"]["failed"] = failed
            obj["status"].setdefault("uncountedTerminatedPods", {})

        _update(self.cluster, JOBS, namespace, name, status)

    def _exists(self, resource, namespace, name):
        try:
            self.cluster.get(resource, namespace, name)
            return True
        except ApiError:
            return False

    def _create_pod(self, job):
        meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update({"batch.kubernetes.io/controller-uid": meta["uid"], "batch.kubernetes.io/job-name": meta["name"],
                       "controller-uid": meta["uid"], "job-name": meta["name"]})
        body = {"metadata": {"generateName": meta["name"] + "-", "labels": labels,
                             "annotations": (template.get("metadata") or {}).get("annotations") or {},
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                                  "uid": meta["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": template["spec"]}
        return self.cluster.create(PODS, meta["namespace"], body)

    def _end_job(self, job, kind, reason, message, pods):
        meta = job["metadata"]
        if kind == "Failed":
            for pod in pods:  # the controller deletes the pods still running
                if pod["status"].get("phase") not in ("Succeeded", "Failed"):
                    try:
                        self.cluster.delete(PODS, meta["namespace"], pod["metadata"]["name"])
                    except ApiError:
                        pass

        def status(obj):
            state = obj["status"]
            state.setdefault("startTime", now_rfc3339())
            state["active"] = 0
            state["ready"] = 0
            succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
            failed = sum(1 for p in pods if p["status"].get("phase") == "Failed") + (
                sum(1 for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")))
            if succeeded:
                state["succeeded"] = succeeded
            if failed:
                state["failed"] = failed
            if kind == "Complete":
                _set_condition(state, _condition("SuccessCriteriaMet", "True", "CompletionsReached",
                                                 "Reached expected number of succeeded pods"))
                state["completionTime"] = now_rfc3339()
            else:
                _set_condition(state, _condition("FailureTarget", "True", reason, message))
            _set_condition(state, _condition(kind, "True", reason, message))

        _update(self.cluster, JOBS, meta["namespace"], meta["name"], status)
        self.ended.setdefault(meta["uid"], time.monotonic())

    # -- the garbage collector ---------------------------------------------------------------------------

    def _collect_garbage(self):
        with self.cluster._lock:
            uids = {obj["metadata"].get("uid") for obj in self.cluster._objects.values()}
            orphans = [key for key, obj in self.cluster._objects.items()
                       if obj["metadata"].get("ownerReferences")
                       and not any(r.get("uid") in uids for r in obj["metadata"]["ownerReferences"])]
        from .server import resource_of

        for plural, namespace, name in orphans:
            try:
                self.cluster.delete(resource_of(plural), namespace or None, name)
            except ApiError:
                pass

    # -- the scheduler -----------------------------------------------------------------------------------

    def _schedule(self, pod):
        meta, spec = pod["metadata"], pod["spec"]
        selector = spec.get("nodeSelector") or {}
        if any(NODE_LABELS.get(k) != v for k, v in selector.items()):
            message = ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: "
                       "0/1 nodes are available: 1 Preemption is not helpful for scheduling.")

            def unschedulable(obj):
                if not any(c["type"] == "PodScheduled" for c in obj["status"].get("conditions") or []):
                    _set_condition(obj["status"], _condition("PodScheduled", "False", "Unschedulable", message))

            _update(self.cluster, PODS, meta["namespace"], meta["name"], unschedulable)
            return

        def scheduled(obj):
            obj["spec"]["nodeName"] = NODE
            state = obj["status"]
            state.update(hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}], startTime=now_rfc3339())
            _set_condition(state, _condition("PodScheduled", "True"))
            state["initContainerStatuses"] = [_waiting(c, "PodInitializing") for c in spec.get("initContainers") or []]
            state["containerStatuses"] = [_waiting(c, "PodInitializing" if spec.get("initContainers")
                                                   else "ContainerCreating") for c in spec["containers"]]

        if _update(self.cluster, PODS, meta["namespace"], meta["name"], scheduled):
            runner = _PodRunner(self, meta["namespace"], meta["name"], meta["uid"], spec)
            self.runners[meta["uid"]] = runner
            runner.start()

    # -- pods/log ----------------------------------------------------------------------------------------

    def log(self, namespace, name, query):
        pod = self.cluster.get(PODS, namespace, name)
        spec = pod["spec"]
        names = [c["name"] for c in spec["containers"]]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(names) != 1:
                raise bad_request("a container name must be specified for pod %s, choose one of: [%s] or one of the "
                                  "init containers: [%s]" % (name, " ".join(names), " ".join(init_names)))
            container = names[0]
        if container not in names + init_names:
            raise bad_request("container %s is not valid for pod %s" % (container, name))
        runner = self.runners.get(pod["metadata"]["uid"])
        docker_id = runner.container_ids.get(container) if runner else None
        if docker_id is None:
            reason = "PodInitializing" if container in names and init_names else "ContainerCreating"
            raise bad_request('container "%s" in pod "%s" is waiting to start: %s' % (container, name, reason))
        options = {"stdout": True, "stderr": True, "timestamps": query.get("timestamps") == "true"}
        if (query.get("tailLines") or "").isdigit():
            options["tail"] = int(query["tailLines"])
        data = self.docker().logs(docker_id, **options)
        limit = query.get("limitBytes")
        if limit and limit.isdigit():
            data = data[:int(limit)]
        return data


def _waiting(container, reason, message=None):
    waiting = {"reason": reason}
    if message:
        waiting["message"] = message
    return {"name": container["name"], "image": container["image"], "imageID": "", "ready": False,
            "restartCount": 0, "started": False, "state": {"waiting": waiting}, "lastState": {}}


# -- the kubelet -------------------------------------------------------------------------------------------


class _PodRunner(threading.Thread):
    def __init__(self, plane, namespace, name, uid, spec):
        super().__init__(name="k8s-emulator-pod-%s" % name, daemon=True)
        self.plane = plane
        self.cluster = plane.cluster
        self.namespace, self.pod, self.uid, self.spec = namespace, name, uid, spec
        self.container_ids = {}
        self.directory = None
        self._deleted = threading.Event()
        self._grace = int(spec.get("terminationGracePeriodSeconds", 30))

    def terminate(self, grace=None):
        if grace is not None:
            self._grace = grace
        self._deleted.set()

    def _status(self, change):
        return _update(self.cluster, PODS, self.namespace, self.pod, lambda obj: change(obj["status"]))

    def _set_container(self, kind, container, state, **extra):
        def change(status):
            for entry in status.get(kind) or []:
                if entry["name"] == container["name"]:
                    entry["state"] = state
                    entry.update(extra)

        self._status(change)

    def run(self):
        try:
            self.directory = tempfile.mkdtemp(prefix="k8s-emulator-pod-")
            os.chmod(self.directory, 0o755)
            volumes = self._volumes()
            if volumes is None:
                return
            for container in self.spec.get("initContainers") or []:
                code = self._run_one("initContainerStatuses", container, volumes)
                if code is None:
                    return
                if code != 0:
                    self._finish("Failed")
                    return
            self._status(lambda status: _set_condition(status, _condition("Initialized", "True")))
            codes = self._run_all(volumes)
            if codes is None:
                return
            self._finish("Succeeded" if all(code == 0 for code in codes) else "Failed")
        finally:
            self._deleted.wait()  # the containers stay (for pods/log) until the pod is deleted
            self._cleanup()

    def _finish(self, phase):
        def change(status):
            status["phase"] = phase
            _set_condition(status, _condition("Ready", "False", "PodCompleted"))
            _set_condition(status, _condition("ContainersReady", "False", "PodCompleted"))

        self._status(change)

    # volumes

    def _volumes(self):
        """Volume name -> (host directory, read-only); None when the pod went away while waiting."""
        volumes = {}
        for volume in self.spec.get("volumes") or []:
            path = os.path.join(self.directory, "volumes", volume["name"])
            os.makedirs(path)
            if "secret" in volume:
                source = volume["secret"]
                secret = self._wait_for_secret(source.get("secretName"), optional=source.get("optional"))
                if secret is False:
                    return None
                os.chmod(path, 0o755)
                data = {k: base64.b64decode(v) for k, v in ((secret or {}).get("data") or {}).items()}
                items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
                for item in items:
                    target = os.path.join(path, item["path"])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as handle:
                        handle.write(data.get(item["key"], b""))
                    os.chmod(target, item.get("mode", source.get("defaultMode", 0o644)))
                volumes[volume["name"]] = (path, True)
            else:  # emptyDir, and anything else as an empty directory
                os.chmod(path, 0o777)
                volumes[volume["name"]] = (path, False)
        return volumes

    def _wait_for_secret(self, name, optional=False):
        """The Secret; None when optional and missing; False when the pod was deleted while waiting."""
        while True:
            try:
                return self.cluster.get(SECRETS, self.namespace, name)
            except ApiError:
                if optional:
                    return None
            if self._deleted.wait(0.05):
                return False

    def _environment(self, container):
        """The container's environment, or raises _ConfigError (CreateContainerConfigError)."""
        environment = {}
        for source in container.get("envFrom") or []:
            reference = source.get("secretRef")
            if reference is None:
                continue
            secret = self._wait_for_secret(reference["name"], reference.get("optional"))
            if secret is False:
                raise _Deleted()
            for key, value in ((secret or {}).get("data") or {}).items():
                if _ENV_NAME.fullmatch(source.get("prefix", "") + key):
                    environment[source.get("prefix", "") + key] = base64.b64decode(value).decode("utf-8", "replace")
        for entry in container.get("env") or []:
            if "valueFrom" not in entry:
                environment[entry["name"]] = entry.get("value", "")
                continue
            reference = (entry["valueFrom"] or {}).get("secretKeyRef")
            if reference is None:
                raise _ConfigError("the emulator supports only secretKeyRef in valueFrom (env %s)" % entry["name"])
            secret = self._wait_for_secret(reference["name"], reference.get("optional"))
            if secret is False:
                raise _Deleted()
            data = (secret or {}).get("data") or {}
            if reference["key"] not in data:
                if reference.get("optional"):
                    continue
                raise _ConfigError("couldn't find key %s in Secret %s/%s"
                                   % (reference["key"], self.namespace, reference["name"]))
            environment[entry["name"]] = base64.b64decode(data[reference["key"]]).decode("utf-8", "replace")
        return environment

    # containers

    def _image(self, kind, container):
        """The local image's id; reports ErrImagePull / ImagePullBackOff and retries while it is missing."""
        import docker

        api = self.plane.docker()
        attempt = 0
        while True:
            try:
                return api.inspect_image(container["image"])["Id"]
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as exc:  # an invalid reference
                self._set_container(kind, container, {"waiting": {"reason": "InvalidImageName", "message": str(exc)}})
                self._deleted.wait()
                return None
            reason = "ErrImagePull" if attempt % 2 == 0 else "ImagePullBackOff"
            message = ('failed to pull and unpack image "%s": failed to resolve reference "%s": %s: not found'
                       % (container["image"], container["image"], container["image"]) if attempt % 2 == 0
                       else 'Back-off pulling image "%s"' % container["image"])
            self._set_container(kind, container, {"waiting": {"reason": reason, "message": message}})
            attempt += 1
            if self._deleted.wait(1.0):
                return None

    def _create(self, kind, container, volumes):
        image = self._image(kind, container)
        if image is None:
            return None
        try:
            environment = self._environment(container)
        except _ConfigError as exc:
            self._set_container(kind, container, {"waiting": {"reason": "CreateContainerConfigError",
                                                              "message": str(exc)}})
            self._deleted.wait()
            return None
        binds = []
        for mount in container.get("volumeMounts") or []:
            source, read_only = volumes[mount["name"]]
            if mount.get("subPath"):
                source = os.path.join(source, mount["subPath"])
                if not os.path.exists(source):
                    os.makedirs(source, mode=0o777)  # as the kubelet does for a missing subPath
            read_only = read_only or bool(mount.get("readOnly"))
            binds.append("%s:%s:%s" % (source, mount["mountPath"], "ro" if read_only else "rw"))
        security = container.get("securityContext") or {}
        pod_security = self.spec.get("securityContext") or {}
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        group = security.get("runAsGroup", pod_security.get("runAsGroup"))
        api = self.plane.docker()
        labels = {INSTANCE_LABEL: self.plane.instance, "io.kubernetes.pod.name": self.pod,
                  "io.kubernetes.pod.namespace": self.namespace, "io.kubernetes.pod.uid": self.uid,
                  "io.kubernetes.container.name": container["name"]}
        created = api.create_container(
            image=image,
            entrypoint=container.get("command"),
            command=container.get("args"),
            environment=environment,
            working_dir=container.get("workingDir"),
            user=None if user is None else ("%s:%s" % (user, group) if group is not None else str(user)),
            labels=labels,
            name="k8s_%s_%s_%s_%s_0" % (container["name"], self.pod, self.namespace, self.uid[:8]),
            host_config=api.create_host_config(binds=binds),
        )["Id"]
        self.container_ids[container["name"]] = created
        return created

    def _start(self, kind, container, docker_id):
        """Start the container; False when the runtime could not (terminated, reason StartError, code 128)."""
        import docker

        api = self.plane.docker()
        try:
            api.start(docker_id)
        except docker.errors.APIError as exc:
            now = now_rfc3339()
            self._set_container(kind, container, {"terminated": {
                "exitCode": 128, "reason": "StartError", "message": exc.explanation or str(exc),
                "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now, "containerID": "docker://" + docker_id}})
            return False
        started = api.inspect_container(docker_id)["State"].get("StartedAt", "")[:19] + "Z"
        self._set_container(kind, container, {"running": {"startedAt": started}}, started=True,
                            containerID="docker://" + docker_id, imageID="docker-pullable://" + container["image"])
        if kind == "containerStatuses":
            self._status(lambda status: status.update(phase="Running"))
        return True

    def _wait(self, kind, container, docker_id):
        """Wait for the container to exit; its exit code, or None when the pod was deleted meanwhile."""
        import requests

        api = self.plane.docker()
        while True:
            try:
                code = api.wait(docker_id, timeout=0.5)["StatusCode"]
                break
            except requests.exceptions.RequestException:  # read timeout: check for deletion, wait on
                if self._deleted.is_set():
                    return None
        state = api.inspect_container(docker_id)["State"]
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": state.get("StartedAt", "")[:19] + "Z",
                      "finishedAt": state.get("FinishedAt", "")[:19] + "Z",
                      "containerID": "docker://" + docker_id}
        if state.get("OOMKilled"):
            terminated["reason"] = "OOMKilled"
        self._set_container(kind, container, {"terminated": terminated}, ready=False, started=False)
        return code

    def _run_one(self, kind, container, volumes):
        try:
            docker_id = self._create(kind, container, volumes)
        except _Deleted:
            return None
        if docker_id is None:
            return None
        if not self._start(kind, container, docker_id):
            return 128
        return self._wait(kind, container, docker_id)

    def _run_all(self, volumes):
        created = []
        for container in self.spec["containers"]:
            try:
                docker_id = self._create("containerStatuses", container, volumes)
            except _Deleted:
                return None
            if docker_id is None:
                return None
            created.append((container, docker_id))
        started = [self._start("containerStatuses", container, docker_id) for container, docker_id in created]
        codes = []
        for (container, docker_id), running in zip(created, started):
            code = self._wait("containerStatuses", container, docker_id) if running else 128
            if code is None:
                return None
            codes.append(code)
        return codes

    def _cleanup(self):
        api = self.plane.docker() if self.container_ids else None
        for docker_id in self.container_ids.values():
            try:
                api.stop(docker_id, timeout=self._grace)
            except Exception:  # noqa: BLE001 - already stopped or gone
                pass
            try:
                api.remove_container(docker_id, force=True)
            except Exception:  # noqa: BLE001
                pass
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class _ConfigError(Exception):
    pass


class _Deleted(Exception):
    pass
