"""The driver seam: one Operation in, one OperationResult out.

A driver knows nothing of claims, stores or Ansible. It runs the invocation image
with the given environment and files, and hands back the exit status, the logs
and the output files it found, also when the action failed or was canceled.
"""


class Operation:
    def __init__(self, installation, action, revision, bundle, image, environment, files, outputs, claim_id=None):
        self.installation = installation
        self.action = action
        self.revision = revision
        self.bundle = bundle  # a bundle.Bundle
        self.image = image  # the invocation image entry of bundle.json
        self.environment = environment  # name -> str
        self.files = files  # absolute container path -> str or bytes
        self.outputs = outputs  # container path under /cnab/app/outputs -> output name
        self.claim_id = claim_id

    def to_json(self):
        """cnab-go's command-driver form of an operation (used by plugin drivers)."""
        return {
            "installation_name": self.installation,
            "revision": self.revision,
            "action": self.action,
            "image": self.image,
            "environment": self.environment,
            "files": {p: (c.decode("utf-8", "replace") if isinstance(c, bytes) else c) for p, c in self.files.items()},
            "outputs": self.outputs,
            "bundle": self.bundle.document,
        }


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
        """Undo ``prepare`` when the action will not run after all."""


DRIVERS = {"docker": "docker"}


def get_driver(name, options):
    """Instantiate a driver by name; SDK imports happen only here, when one will run."""
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import DriverError

    if name == "docker":
        from ansible_collections.cnab.runtime.plugins.module_utils.drivers.docker import DockerDriver

        return DockerDriver(options or {})
    raise DriverError("driver %r is not available (choose from: %s)." % (name, ", ".join(sorted(DRIVERS))))
