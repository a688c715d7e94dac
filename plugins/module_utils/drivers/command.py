"""Command driver: ``driver: <name>`` runs the executable ``cnab-<name>`` found on PATH.

The contract is cnab-go's command driver, so drivers written for other CNAB tools work here:

- ``cnab-<name> --handles`` prints the image types it handles, comma-separated; the run is refused
  when the invocation image's ``imageType`` (``oci`` when unset, as the CNAB spec says) is not among them.
- ``cnab-<name>`` gets the operation as JSON on stdin (``installation_name``, ``revision``, ``action``,
  ``parameters``, ``image``, ``environment``, ``files``, ``outputs``, ``bundle``), the caller's
  environment plus the operation's environment, ``CNAB_VARS`` (the comma-separated names of the
  variables added), and, when the action has outputs, ``CNAB_OUTPUT_DIR``: a fresh directory where it
  writes each output at its container path without the leading ``/``
  (``$CNAB_OUTPUT_DIR/cnab/app/outputs/<name>``).
- Its exit status is the action's result; stdout and stderr are the action's log.

Beyond cnab-go: outputs are read also after a non-zero exit (as the Docker driver does), a
canceled run gets SIGTERM (then SIGKILL after ``stop_timeout``), ``timeout`` applies, and the
``config`` driver option is passed as environment variables (cnab-go's ``Configurable`` settings).
See docs/drivers.md.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading

from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import Driver, OperationResult
from ansible_collections.cnab.runtime.plugins.module_utils.errors import Cancelled, DriverError

MAX_LOG_BYTES = 4 * 1024 * 1024


def operation_document(operation):
    """The operation as cnab-go's driver.Operation marshals it."""
    files = {path: content if isinstance(content, str) else content.decode("utf-8", "replace")
             for path, content in operation.files.items()}
    return {
        "installation_name": operation.installation,
        "revision": operation.revision or "",
        "action": operation.action,
        "parameters": getattr(operation, "parameters", None) or {},
        "image": operation.image,
        "environment": dict(operation.environment),
        "files": files,
        "outputs": dict(operation.outputs),
        "bundle": operation.bundle.document,
    }


class CommandDriver(Driver):
    def __init__(self, name, options):
        self.name = name
        self.executable_name = "cnab-" + name
        self.options = dict(options or {})
        self.timeout = self.options.get("timeout")
        self.stop_timeout = int(self.options.get("stop_timeout") or 10)
        self.executable = None

    def _environment(self, extra=None):
        environment = dict(os.environ)
        environment.update({str(k): str(v) for k, v in (self.options.get("config") or {}).items()})
        environment.update(extra or {})
        return environment

    def connect(self):
        self.executable = shutil.which(self.executable_name)
        if self.executable is None:
            raise DriverError("driver %r is not available: no executable %s on PATH and no Python driver of that name "
                              "is installed (entry point group cnab.runtime.drivers)." % (self.name, self.executable_name))

    def prepare(self, operation):
        if self.executable is None:
            self.connect()
        wanted = operation.image.get("imageType") or "oci"
        try:
            answer = subprocess.run([self.executable, "--handles"], capture_output=True, text=True, timeout=30,
                                    env=self._environment(), check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DriverError("driver %s could not be asked which image types it handles: %s." % (self.name, exc)) from exc
        handled = [t.strip() for t in answer.stdout.strip().split(",") if t.strip()]
        if answer.returncode != 0 or wanted not in handled:
            raise DriverError("driver %s does not handle invocation images of type %s (%s --handles answered %s)."
                              % (self.name, wanted, self.executable_name,
                                 ", ".join(handled) or "nothing, exit code %d" % answer.returncode))

    def run(self, operation):
        if self.executable is None:
            self.prepare(operation)
        output_dir = tempfile.mkdtemp(prefix="cnab-driver-outputs-") if operation.outputs else None
        added = dict(operation.environment)
        added["CNAB_VARS"] = ",".join(sorted(operation.environment))
        if output_dir:
            added["CNAB_OUTPUT_DIR"] = output_dir
        result = OperationResult()
        try:
            process = subprocess.Popen([self.executable], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=self._environment(added), start_new_session=True)
            log = _Tail(process.stdout)
            feeder = threading.Thread(target=_feed, args=(process.stdin, json.dumps(operation_document(operation))),
                                      daemon=True)
            feeder.start()
            try:
                with operation.cancel.interruptible():
                    result.exit_code = process.wait(timeout=self.timeout)
            except Cancelled:
                result.canceled, result.error = True, "the run was canceled"
                result.exit_code = self._stop(process)
            except subprocess.TimeoutExpired:
                result.error = "driver %s did not finish within %s seconds" % (self.name, self.timeout)
                result.exit_code = self._stop(process)
            log.join()
            result.logs = log.text()
            if output_dir:
                result.outputs = _read_outputs(output_dir, operation.outputs)
            return result
        finally:
            if output_dir:
                shutil.rmtree(output_dir, ignore_errors=True)

    def _stop(self, process):
        try:
            os.killpg(process.pid, signal.SIGTERM)
            return process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()
        except ProcessLookupError:
            return process.wait()


def _feed(stream, text):
    try:
        stream.write(text.encode("utf-8"))
        stream.close()
    except OSError:  # the driver exited without reading all of it
        pass


class _Tail(threading.Thread):
    """Reads a stream to its end, keeping the last MAX_LOG_BYTES."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.chunks = []
        self.start()

    def run(self):
        size = 0
        for chunk in iter(lambda: self.stream.read(65536), b""):
            self.chunks.append(chunk)
            size += len(chunk)
            while size > MAX_LOG_BYTES and len(self.chunks) > 1:
                size -= len(self.chunks.pop(0))

    def text(self):
        return b"".join(self.chunks).decode("utf-8", "replace")


def _read_outputs(directory, wanted):
    """Outputs at ``<directory>/<path without leading slash>``, confined to the directory."""
    found = {}
    root = os.path.realpath(directory)
    for path in wanted:
        candidate = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if not candidate.startswith(root + os.sep) or not os.path.isfile(candidate):
            continue
        with open(candidate, "rb") as handle:
            found[path] = handle.read()
    return found
