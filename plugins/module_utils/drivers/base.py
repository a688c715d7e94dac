"""The driver seam: one Operation in, one OperationResult out.

A driver knows nothing of claims, stores or Ansible. It runs the invocation image
with the given environment and files, and hands back the exit status, the logs
and the output files it found, also when the action failed or was canceled.
"""

import contextlib
import re
import signal

from ansible_collections.cnab.runtime.plugins.module_utils.errors import Cancelled, DriverError


class Cancellation:
    """Turns SIGINT/SIGTERM into ``Cancelled``, but only where stopping is safe.

    Outside a ``critical`` section a signal raises at once. Inside one (from the
    ``running`` record to the final result) it is only remembered, except within
    ``interruptible`` (the driver's wait for the container), where it raises so the
    driver can stop the container and still hand back its outputs.
    """

    def __init__(self):
        self.signal = None
        self._critical = 0
        self._interruptible = 0

    def _handle(self, signum, frame):
        first = self.signal is None
        self.signal = signum
        if first and (self._critical == 0 or self._interruptible > 0):
            raise Cancelled("the run was canceled by signal %d." % signum)

    @contextlib.contextmanager
    def installed(self):
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    @contextlib.contextmanager
    def critical(self):
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1

    @contextlib.contextmanager
    def interruptible(self):
        if self.signal is not None:
            raise Cancelled("the run was canceled by signal %d." % self.signal)
        self._interruptible += 1
        try:
            yield
        finally:
            self._interruptible -= 1


def cancellation_in(exc):
    """The ``Cancelled`` that ``exc`` wraps (an SDK may turn the exception a signal handler raised into its
    own error, "Error while fetching server API version: the run was canceled..."), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Cancelled):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class ImageSource:
    """Where the invocation image comes from.

    ``engine``: ``reference`` as the bundle names it, already in the engine or pulled (today's default).
    ``registry``: ``reference`` is the relocated, digest-pinned image, pulled with the ``auth``
    registry options when the engine lacks it. ``archive``: the image ``original`` of the thick
    archive at ``archive``, loaded into the engine when it lacks it. ``digest`` is the bundle's
    ``contentDigest`` of the image, when it declares one. ``recorded``: for an archive, what the
    claim recorded about the image (``sources.archived_image_record``), so the engine's copy runs without it.
    """

    def __init__(self, kind, reference, auth=None, archive=None, original=None, digest=None, recorded=None):
        self.kind = kind
        self.reference = reference
        self.auth = auth or {}
        self.archive = archive
        self.original = original or reference
        self.digest = digest
        self.recorded = recorded


class Operation:
    def __init__(self, installation, action, revision, bundle, image, environment, files, outputs, claim_id=None,
                 cancel=None, image_source=None):
        self.installation = installation
        self.action = action
        self.revision = revision
        self.bundle = bundle  # a bundle.Bundle
        self.image = image  # the invocation image entry of bundle.json
        self.environment = environment  # name -> str
        self.files = files  # absolute container path -> str or bytes
        self.outputs = outputs  # container path under /cnab/app/outputs -> output name
        self.claim_id = claim_id
        self.cancel = cancel or Cancellation()
        self.image_source = image_source or ImageSource("engine", (image or {}).get("image"))


class OperationResult:
    def __init__(self, exit_code=None, logs="", outputs=None, error=None, canceled=False):
        self.exit_code = exit_code
        self.logs = logs
        self.outputs = outputs or {}  # container path -> bytes
        self.error = error  # a sentence when the run did not complete normally
        self.canceled = canceled

    @property
    def succeeded(self):
        return self.exit_code == 0 and not self.error and not self.canceled


class Driver:
    name = None

    def connect(self):
        """Load SDKs and reach the backend; called once before ``prepare``."""

    def prepare(self, operation):
        """Everything short of starting the action (image present and verified, files in
        place), done before anything is recorded. Raises DriverError when ``run`` could not start."""

    def run(self, operation):
        raise NotImplementedError

    def discard(self):
        """Undo ``prepare`` when the action will not run after all. Never raises."""

    def reap(self, installation, claim_id):
        """Stop and remove what a run that died left running for ``claim_id``; returns a sentence or None."""
        return None

    def check_bundle(self, bundle):
        """Refuse, before anything is prepared or recorded, a bundle that needs what this driver cannot
        give; raises DriverError. The Docker driver alone can give io.cnab.docker (it overrides this)."""
        if docker_access_request(bundle) is not None:
            raise DriverError("bundle %s requires the extension \"%s\" (access to a Docker engine), which driver %s "
                              "cannot give; run it with driver docker and driver_options.allow_docker_host_access: true."
                              % (bundle.name, DOCKER_EXTENSION, self.name))


def check_bundle(driver, bundle):
    """``driver.check_bundle(bundle)``; a plugin class that does not derive from Driver gets Driver's refusals."""
    method = getattr(driver, "check_bundle", None)
    return method(bundle) if method is not None else Driver.check_bundle(driver, bundle)


def check_bundle_for(name, options, bundle):
    """``check_bundle`` without a driver at hand (check mode): one is instantiated only for a bundle that
    requires something a driver may refuse."""
    if docker_access_request(bundle) is not None:
        check_bundle(get_driver(name, options), bundle)


# Porter's extension: the invocation image gets the Docker engine's socket (and, when it asks, --privileged).
DOCKER_EXTENSION = "io.cnab.docker"


def docker_access_request(bundle):
    """``{"privileged": bool}`` when the bundle requires io.cnab.docker, else None.

    Only ``requiredExtensions`` counts (as in Porter); the value in ``custom`` is ``{"privileged": bool}``
    or ``null``, which Porter itself writes and reads as ``{"privileged": false}``."""
    document = bundle.document
    if DOCKER_EXTENSION not in (document.get("requiredExtensions") or ()):
        return None
    value = (document.get("custom") or {}).get(DOCKER_EXTENSION)
    return {"privileged": isinstance(value, dict) and value.get("privileged") is True}


def secret_variables(operation):
    """Names of the operation's environment variables that carry a credential or a sensitive parameter."""
    bundle = operation.bundle
    names = {spec.get("env") for spec in bundle.credentials.values() if isinstance(spec, dict)}
    names.update((spec.get("destination") or {}).get("env") for name, spec in bundle.parameters.items()
                 if isinstance(spec, dict) and bundle.is_sensitive_parameter(name))
    return sorted(name for name in names if name and name in operation.environment)


DRIVERS = ("docker", "kubernetes")
ENTRY_POINTS = "cnab.runtime.drivers"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def get_driver(name, options):
    """Instantiate a driver by name; SDK imports happen only when it connects.

    Built in: ``docker`` and ``kubernetes``. Any other name is a plugin: a Python driver class
    registered under that name in the entry point group ``cnab.runtime.drivers`` (called with the
    driver options), else the executable ``cnab-<name>`` on PATH (see drivers/command.py)."""
    if name == "docker":
        from ansible_collections.cnab.runtime.plugins.module_utils.drivers.docker import DockerDriver

        return DockerDriver(options or {})
    if name == "kubernetes":
        from ansible_collections.cnab.runtime.plugins.module_utils.drivers.kubernetes import KubernetesDriver

        return KubernetesDriver(options or {})
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DriverError("driver %r is not a valid driver name: use lowercase letters, digits, '-', '_' and '.' "
                          "(built in: %s)." % (name, ", ".join(DRIVERS)))
    plugin = _entry_point(name)
    if plugin is not None:
        try:
            driver = plugin.load()(options or {})
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one sentence, not a traceback
            raise DriverError("Python driver %s (%s) could not be loaded: %s." % (name, plugin.value, exc)) from exc
        driver.name = driver.name or name
        return driver
    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.command import CommandDriver

    return CommandDriver(name, options or {})


def _entry_point(name):
    from importlib.metadata import entry_points

    found = entry_points()
    group = found.select(group=ENTRY_POINTS) if hasattr(found, "select") else found.get(ENTRY_POINTS, ())
    for entry in group:
        if entry.name == name:
            return entry
    return None
