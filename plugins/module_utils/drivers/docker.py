"""Docker driver, on the ``docker`` SDK's low-level API.

Files are copied into the created container before it starts (no bind mounts, so a
remote Docker host works), logs are streamed while it runs, outputs are copied out
of the stopped container even when the action failed, then the container is removed.
"""

import io
import os
import tarfile

from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import Driver, OperationResult
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    Cancelled,
    DriverError,
    ImageDigestMismatch,
    ImageNotFound,
)

OUTPUTS_DIR = "/cnab/app/outputs"
MAX_LOG_BYTES = 4 * 1024 * 1024  # keep the tail beyond this: a chatty image must not exhaust memory
LABEL = "io.cnab.runtime"
DEFAULT_API_VERSION = "1.41"  # Docker Engine 20.10 and every later engine accept it


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
        self.api_version = options.get("api_version") or DEFAULT_API_VERSION
        self._api = None
        self._container = None  # created by prepare(), removed by run() or discard()

    def connect(self):
        self._client()

    def _client(self):
        if self._api is None:
            self._api = self._connect()
        return self._api

    def _connect(self):
        import docker

        environment = dict(os.environ)
        for key, value in (("DOCKER_HOST", self.host), ("DOCKER_CERT_PATH", self.cert_path)):
            if value:
                environment[key] = value
        if self.tls_verify is not None:
            environment["DOCKER_TLS_VERIFY"] = "1" if self.tls_verify else ""
        try:
            # A fixed API version spares a negotiation round trip on every run.
            return docker.from_env(environment=environment, version=self.api_version).api
        except docker.errors.DockerException as exc:
            raise DriverError("cannot reach the Docker engine (%s): %s." % (environment.get("DOCKER_HOST") or "default socket", exc)) from exc

    def prepare(self, operation):
        """Verify the image and create the container with its files copied in, not started."""
        import docker
        import requests

        api = self._client()
        try:
            image = self._ensure_image(api, operation.image)
            self._container = api.create_container(
                image=image["Id"],
                entrypoint=["/cnab/app/run"],
                command=[],
                environment=operation.environment,
                labels={
                    LABEL + ".installation": operation.installation,
                    LABEL + ".action": operation.action,
                    LABEL + ".revision": operation.revision or "",
                },
                host_config=api.create_host_config(network_mode=self.network) if self.network else None,
            )["Id"]
            api.put_archive(self._container, "/", _files_tar(operation.files, (image.get("Config") or {}).get("User")))
        except docker.errors.APIError as exc:
            self.discard()
            raise DriverError("Docker could not prepare a container of %s: %s." % (operation.image["image"], exc.explanation or exc)) from exc
        except requests.exceptions.ConnectionError as exc:
            raise DriverError(
                "cannot reach the Docker engine at %s: is it running? (%s)"
                % (self.host or os.environ.get("DOCKER_HOST") or "the default socket", exc)
            ) from exc

    def run(self, operation):
        import docker

        if self._container is None:
            self.prepare(operation)
        try:
            return self._run_container(self._client(), self._container, operation)
        except docker.errors.APIError as exc:
            raise DriverError("Docker failed while running %s: %s." % (operation.image["image"], exc.explanation or exc)) from exc
        finally:
            if not self.keep_container:
                self.discard()

    def discard(self):
        import docker

        container, self._container = self._container, None
        if container is not None:
            try:
                self._client().remove_container(container, force=True)
            except docker.errors.APIError:
                pass  # already gone; nothing to clean

    def _ensure_image(self, api, entry):
        import docker

        reference = entry["image"]
        if self.pull == "always":
            self._pull(api, reference)
        try:
            image = api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            if self.pull == "never":
                raise ImageNotFound("invocation image %s is not in the Docker engine and pull is set to never." % reference)
            self._pull(api, reference)
            image = api.inspect_image(reference)
        digest = entry.get("contentDigest")
        if digest and not any(d.endswith("@" + digest) for d in image.get("RepoDigests") or []):
            raise ImageDigestMismatch(
                "invocation image %s does not match the bundle's contentDigest %s (its repository digests: %s)."
                % (reference, digest, ", ".join(image.get("RepoDigests") or []) or "none, the image was never pulled or pushed")
            )
        return image

    def _pull(self, api, reference):
        import docker

        repository, tag = _split_reference(reference)
        try:
            api.pull(repository, tag=tag)
        except docker.errors.APIError as exc:
            raise ImageNotFound("invocation image %s cannot be pulled: %s." % (reference, exc.explanation or exc)) from exc

    def _run_container(self, api, container, operation):
        import requests

        result = OperationResult()
        api.start(container)
        try:
            status = api.wait(container, timeout=self.timeout)
            result.exit_code = status.get("StatusCode")
            if (status.get("Error") or {}).get("Message"):
                result.error = status["Error"]["Message"]
        except Cancelled:
            result.canceled = True
            result.error = "the run was canceled"
            api.stop(container, timeout=self.stop_timeout)
        except requests.exceptions.RequestException:
            result.error = "the invocation image did not finish within %s seconds" % self.timeout
            api.stop(container, timeout=self.stop_timeout)
        result.logs = _read_logs(api, container)
        if operation.outputs:
            result.outputs = _copy_outputs(api, container, operation.outputs)
        return result


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


def _split_reference(reference):
    if "@" in reference:
        return reference, None
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


def _owner(user):
    """uid/gid for injected files: the image's USER when numeric, else root."""
    uid, _sep, gid = (user or "").partition(":")
    return (int(uid) if uid.isdigit() else 0), (int(gid) if gid.isdigit() else (int(uid) if uid.isdigit() else 0))


def _files_tar(files, user):
    uid, gid = _owner(user)
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
