"""Docker driver, on the ``docker`` SDK's low-level API.

Files are copied into the created container before it starts (no bind mounts, so a
remote Docker host works), the container's logs are read after it stops, outputs are
copied out of the stopped container even when the action failed, then it is removed.

Containers are labelled with their installation, action, claim, a run id and the process that
created them (``created-by``: host, pid, process start time). Every prepare first removes the
containers that killed runs prepared and never started (their creator is gone), whatever their
installation. A container whose environment would hold a credential or a sensitive parameter is
created only in ``run`` (after the lock wait, right before it starts), so that no such container
waits on the lock.

With ``allow_docker_host_access``, a bundle requiring ``io.cnab.docker`` gets the engine's own
unix socket at ``/var/run/docker.sock``, the socket's group, and ``--privileged`` when it asks.
"""

import contextlib
import io
import os
import socket
import tarfile

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import OUTPUTS_DIR
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import (
    DOCKER_EXTENSION,
    Driver,
    OperationResult,
    cancellation_in,
    docker_access_request,
    secret_variables,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    Cancelled,
    DriverError,
    ImageDigestMismatch,
    ImageNotFound,
    InvalidReference,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

MAX_LOG_BYTES = 4 * 1024 * 1024  # keep the tail beyond this: a chatty image must not exhaust memory
LABEL = "io.cnab.runtime"
RUN_LABEL = LABEL + ".run"
CREATED_BY = LABEL + ".created-by"
DEFAULT_SOCKET = "/var/run/docker.sock"
CONTAINER_SOCKET = "/var/run/docker.sock"


class DockerDriver(Driver):
    name = "docker"

    def __init__(self, options):
        self.host = options.get("docker_host")
        self.tls_verify = options.get("tls_verify")
        self.cert_path = options.get("cert_path")
        self.keep_container = bool(options.get("keep_container"))
        self.pull = options.get("pull") or "missing"
        self.network = options.get("network")
        self.stop_timeout = int(options.get("stop_timeout") or 10)
        self.timeout = options.get("timeout")
        self.api_version = options.get("api_version") or "auto"
        self.allow_host_access = bool(options.get("allow_docker_host_access"))
        self.run_id = os.urandom(8).hex()  # labels every container of this run (RUN_LABEL)
        self._api = None
        self._container = None  # created by prepare() (or run()), removed by run() or discard()
        self._pending = None  # (operation, image, host access) of a container run() creates

    # -- connection -----------------------------------------------------------------------

    def connect(self):
        with self._engine_errors("connect to"):
            self._client()

    def _client(self):
        if self._api is None:
            import docker

            environment = dict(os.environ)
            for key, value in (("DOCKER_HOST", self.host), ("DOCKER_CERT_PATH", self.cert_path)):
                if value:
                    environment[key] = value
            if self.tls_verify is not None:
                environment["DOCKER_TLS_VERIFY"] = "1" if self.tls_verify else ""
            self._api = docker.from_env(environment=environment, version=self.api_version).api
        return self._api

    @contextlib.contextmanager
    def _engine_errors(self, doing, image=None):
        """SDK and transport errors become one DriverError sentence."""
        from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

        docker = require_library("docker", "docker", "the docker driver", DriverError)
        import requests

        where = self._engine_address() or "the default socket"
        try:
            yield
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            canceled = cancellation_in(exc)
            if canceled is not None:  # a signal arrived inside the SDK, which wrapped our Cancelled
                raise canceled from None
            if isinstance(exc, docker.errors.APIError):
                raise DriverError(_sentence("Docker could not %s %s: " % (doing, image or "the engine"),
                                            exc.explanation or exc)) from exc
            raise DriverError(_sentence("cannot reach the Docker engine at %s to %s %s: " % (where, doing, image or "it"),
                                        exc)) from exc

    def _engine_address(self):
        return self.host or os.environ.get("DOCKER_HOST")

    # -- the driver contract ----------------------------------------------------------------

    def check_bundle(self, bundle):
        """The host access a bundle requiring io.cnab.docker gets (``HostAccess``), None when it requires
        none; raises DriverError when it may not have it."""
        request = docker_access_request(bundle)
        if request is None:
            return None
        if not self.allow_host_access:
            raise DriverError(
                "bundle %s requires the extension \"%s\", which gives its invocation image the Docker engine's socket "
                "and so root on the engine's host; it runs only with driver_options.allow_docker_host_access: true "
                "(or CNAB_ALLOW_DOCKER_HOST_ACCESS=true)." % (bundle.name, DOCKER_EXTENSION))
        address = self._engine_address()
        path = engine_socket(address)
        if path is None:
            raise DriverError(
                "bundle %s requires the extension \"%s\", but the Docker engine at %s is not reached through a unix "
                "socket, so there is no socket of it to mount into the invocation container; use an engine on this "
                "host (unix://...)." % (bundle.name, DOCKER_EXTENSION, address))
        try:
            group = os.stat(path).st_gid
        except OSError as exc:
            raise DriverError("bundle %s requires the extension \"%s\", but the Docker engine's socket %s cannot be "
                              "read: %s." % (bundle.name, DOCKER_EXTENSION, path, exc.strerror)) from exc
        return HostAccess(path, group, request["privileged"])

    def prepare(self, operation):
        """Verify the image and create the container with its files copied in, not started; a container
        that would hold secrets in its environment is only created by ``run``."""
        source = operation.image_source
        reference = source.reference
        check_image_reference(operation.image.get("image"))
        if source.kind != "archive":
            check_image_reference(reference)
        access = self.check_bundle(operation.bundle)
        try:
            with self._engine_errors("prepare a container of", reference):
                api = self._client()
                reap_orphans(api)
                image = self._ensure_image(api, operation.image, source)
                if secret_variables(operation):
                    self._pending = (operation, image, access)
                else:
                    self._create(api, operation, image, access)
        except BaseException:
            self.discard()
            raise

    def _create(self, api, operation, image, access):
        host_config = {}
        if self.network:
            host_config["network_mode"] = self.network
        if access is not None:
            host_config["binds"] = ["%s:%s:rw" % (access.socket, CONTAINER_SOCKET)]
            host_config["group_add"] = [str(access.group)]
            host_config["privileged"] = access.privileged
        self._container = api.create_container(
            image=image["Id"],
            entrypoint=["/cnab/app/run"],
            command=[],
            environment=operation.environment,
            labels={
                LABEL + ".installation": operation.installation,
                LABEL + ".action": operation.action,
                LABEL + ".revision": operation.revision or "",
                LABEL + ".claim": operation.claim_id or "",
                RUN_LABEL: self.run_id,
                CREATED_BY: process_identity(),
            },
            host_config=api.create_host_config(**host_config) if host_config else None,
        )["Id"]
        owner = _file_owner(api, self._container, (image.get("Config") or {}).get("User"))
        api.put_archive(self._container, "/", _files_tar(operation.files, owner))

    def run(self, operation):
        if self._container is None and self._pending is None:
            self.prepare(operation)
        try:
            with self._engine_errors("run", operation.image["image"]):
                api = self._client()
                if self._container is None:
                    pending, self._pending = self._pending, None
                    self._create(api, *pending)
                return self._run_container(api, self._container, operation)
        finally:
            if self.keep_container:
                self._container = None  # left for debugging: it holds credentials in its env and files
            else:
                self.discard()

    def discard(self):
        self._pending = None
        container, self._container = self._container, None
        if container is not None:
            try:
                self._client().remove_container(container, force=True)
            except Exception:  # noqa: BLE001 - cleanup must not hide the error that led here
                pass

    def reap(self, installation, claim_id):
        with self._engine_errors("look for containers of", "installation " + installation):
            api = self._client()
            found = api.containers(all=True, filters={"label": ["%s.claim=%s" % (LABEL, claim_id)]})
            for container in found:
                api.remove_container(container["Id"], force=True)
        if found:
            return "its container, still running after the run that started it died, was stopped and removed"
        return None

    # -- details ------------------------------------------------------------------------------

    def _ensure_image(self, api, entry, source):
        import docker

        if source.kind == "archive":
            # From a thick archive: loaded (unless the engine has it), run by its image id.
            from ansible_collections.cnab.runtime.plugins.module_utils.drivers.docker_load import ensure_loaded

            return ensure_loaded(api, source)
        # From a registry: the relocated, digest-pinned reference, pulled with the registry's credentials.
        reference = source.reference
        if self.pull == "always":
            self._pull(api, reference, source)
        try:
            image = api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            if self.pull == "never":
                raise ImageNotFound("invocation image %s is not in the Docker engine and pull is set to never." % reference)
            self._pull(api, reference, source)
            image = api.inspect_image(reference)
        digest = entry.get("contentDigest")
        if digest and not any(d.endswith("@" + digest) for d in image.get("RepoDigests") or []):
            raise ImageDigestMismatch(
                "invocation image %s does not match the bundle's contentDigest %s (its repository digests: %s)."
                % (reference, digest, ", ".join(image.get("RepoDigests") or []) or "none, the image was never pulled or pushed")
            )
        return image

    def _pull(self, api, reference, source):
        import docker
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(reference)
        try:
            auth = _auth_config(source.auth, repository) if source.kind == "registry" else None
            progress = api.pull(repository, tag=tag or ("latest" if "@" not in reference else None), stream=True,
                                decode=True, auth_config=auth)
            for message in progress:  # errors after the pull started arrive in the stream
                if isinstance(message, dict) and message.get("error"):
                    raise ImageNotFound("invocation image %s cannot be pulled: %s." % (reference, message["error"].rstrip(".")))
        except docker.errors.APIError as exc:
            raise ImageNotFound("invocation image %s cannot be pulled: %s." % (reference, exc.explanation or exc)) from exc

    def _run_container(self, api, container, operation):
        import requests

        result = OperationResult()
        api.start(container)
        try:
            with operation.cancel.interruptible():
                status = api.wait(container, timeout=self.timeout)
            result.exit_code = status.get("StatusCode")
            if (status.get("Error") or {}).get("Message"):
                result.error = status["Error"]["Message"]
        except Cancelled:
            result.canceled = True
            result.error = "the run was canceled"
            api.stop(container, timeout=self.stop_timeout)
        except requests.exceptions.ReadTimeout:
            if not self.timeout:
                raise
            result.error = "the invocation image did not finish within %s seconds" % self.timeout
            api.stop(container, timeout=self.stop_timeout)
        result.logs = _read_logs(api, container)
        if operation.outputs:
            result.outputs = _copy_outputs(api, container, operation.outputs)
        return result


class HostAccess:
    """What a bundle requiring io.cnab.docker gets: the engine's socket (a path on this host), the group
    owning it (added to the container's groups, so a non-root USER can use it) and ``--privileged``."""

    def __init__(self, socket_path, group, privileged):
        self.socket = socket_path
        self.group = group
        self.privileged = privileged


def engine_socket(address):
    """The path of the engine's unix socket for a DOCKER_HOST-style address; None for tcp://, ssh://, ..."""
    if not address:
        return DEFAULT_SOCKET
    for scheme in ("unix://", "http+unix://"):
        if address.startswith(scheme):
            return address[len(scheme):] or DEFAULT_SOCKET
    return None


def check_image_reference(text):
    """Refuse what is not an image reference by the Docker/OCI grammar before it reaches an API path
    (``../../containers/json`` would address another endpoint of the Engine API)."""
    try:
        parse_reference(text)
    except InvalidReference as exc:
        raise DriverError("the invocation image %s is not a valid image reference "
                          "([host[:port]/]repository[:tag][@sha256:digest], repository in lowercase)."
                          % _quote(text)) from exc


def _quote(value):
    import json

    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:76] + '..."'


def _sentence(start, detail):
    """``start`` + the engine's ``detail``, ended by one full stop. The detail is kept as it is (not
    stripped): a secret it quotes must stay whole for the masking."""
    text = start + str(detail)
    return text if text.endswith(".") else text + "."


def process_identity(pid=None):
    """``host/pid namespace/pid/start`` of a process (start: its start time in clock ticks since boot, so a
    reused pid is not taken for it). The namespace tells apart processes of containers that share the host's
    name (host network); both are empty where /proc is not available."""
    pid = pid or os.getpid()
    stat = _proc_stat(pid)
    return "%s/%s/%d/%s" % (socket.gethostname(), _pid_namespace(), pid, stat[19] if stat else "")


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    except OSError:
        return ""


def _proc_stat(pid):
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def creator_is_gone(identity):
    """True when the process that ``process_identity`` named is known to have ended. A process on another
    host or in another pid namespace, or a label this runtime did not write, counts as alive: its container
    is left alone."""
    parts = (identity or "").split("/")
    if len(parts) != 4 or parts[:2] != [socket.gethostname(), _pid_namespace()] or not parts[2].isdigit():
        return False
    pid, start = int(parts[2]), parts[3]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user's process
    stat = _proc_stat(pid)
    if stat is None:
        return False  # it exists, and there is no /proc to tell more
    return stat[0] in ("Z", "X") or (bool(start) and stat[19] != start)


def reap_orphans(api):
    """Remove the containers of killed runs: prepared (created, never started) by a process that is gone.
    Such a container never ran; a ``running`` claim naming it is settled as ``unknown`` by its installation's
    next run. Containers that were started are left to that settling (``reap``)."""
    import docker

    for container in api.containers(all=True, filters={"label": [CREATED_BY], "status": "created"}):
        if creator_is_gone((container.get("Labels") or {}).get(CREATED_BY)):
            try:
                api.remove_container(container["Id"], force=True)
            except docker.errors.APIError:
                pass  # another run reaped it first; cleanup must not fail this run


def _auth_config(options, repository):
    """The engine's credentials for pulling ``repository`` from the ``registry_auth`` options;
    None lets the SDK use the default Docker config file."""
    if options.get("username") is not None or options.get("password") is not None:
        return {"username": options.get("username") or "", "password": options.get("password") or ""}
    if options.get("token"):
        return {"identitytoken": options["token"]}
    if options.get("docker_config"):
        from docker import auth

        registry = auth.resolve_repository_name(repository)[0]
        config = auth.load_config(os.path.join(options["docker_config"], "config.json"))
        return auth.resolve_authconfig(config, registry) or None
    return None


def _read_logs(api, container):
    """Combined stdout/stderr of the stopped container, streamed from the engine and
    keeping only the last MAX_LOG_BYTES. Read once after exit: following the log
    while the container runs adds tens of milliseconds of engine polling to every action."""
    chunks, size = [], 0
    for chunk in api.logs(container, stdout=True, stderr=True, stream=True, follow=False):
        chunks.append(chunk)
        size += len(chunk)
        while size > MAX_LOG_BYTES and len(chunks) > 1:
            size -= len(chunks.pop(0))
    return b"".join(chunks).decode("utf-8", "replace")


def _file_owner(api, container, user):
    """uid/gid that must own the injected files so that the image's USER can read them.

    A numeric USER is used as it is; a user name is looked up in the image's own
    /etc/passwd (one more copy from the engine, paid only by such images).
    """
    name, _sep, group = (user or "").partition(":")
    if not name or name in ("root", "0"):
        return 0, (int(group) if group.isdigit() else 0)
    if name.isdigit():
        return int(name), int(group) if group.isdigit() else int(name)
    entries = _read_file(api, container, "/etc/passwd").decode("utf-8", "replace")
    for line in entries.splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name and fields[2].isdigit() and fields[3].isdigit():
            return int(fields[2]), int(group) if group.isdigit() else int(fields[3])
    raise DriverError("the invocation image runs as user %r, which its /etc/passwd does not define." % name)


def _read_file(api, container, path):
    import docker

    try:
        stream, _stat = api.get_archive(container, path)
    except docker.errors.NotFound:
        return b""
    with tarfile.open(fileobj=_StreamReader(stream), mode="r|") as tar:
        for member in tar:
            if member.isfile():
                return tar.extractfile(member).read()
    return b""


def _files_tar(files, owner):
    uid, gid = owner
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        outputs = tarfile.TarInfo(OUTPUTS_DIR.lstrip("/"))
        outputs.type, outputs.mode, outputs.uid, outputs.gid = tarfile.DIRTYPE, 0o777, uid, gid
        tar.addfile(outputs)
        for path, content in sorted(files.items()):
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, uid, gid
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _copy_outputs(api, container, wanted):
    """Read the wanted files out of /cnab/app/outputs of the stopped container."""
    import docker

    try:
        stream, _stat = api.get_archive(container, OUTPUTS_DIR)
    except docker.errors.NotFound:
        return {}
    found = {}
    with tarfile.open(fileobj=_StreamReader(stream), mode="r|") as tar:
        for member in tar:
            # Members are "outputs/<name>"; only regular files at a wanted path are read.
            path = "/cnab/app/" + member.name.lstrip("./")
            if member.isfile() and path in wanted:
                found[path] = tar.extractfile(member).read()
    return found


class _StreamReader(io.RawIOBase):
    """File-like view of the SDK's chunk iterator, so tarfile can stream it."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self):
        return True

    def readinto(self, target):
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
