"""The embedded claim store: JSON files under ``$CNAB_HOME`` (default ``~/.cnab``).

Layout, one directory per installation so that reading one never scans the others::

    installations/<name>/lock                     flock target; holds the holder's identity
    installations/<name>/claims/<claimId>.json    shareable records
    installations/<name>/results/<resultId>.json
    installations/<name>/outputs/<resultId>/<output>
    installations/<name>/sensitive/...            0700 dir, 0600 files: sensitive values

Every write is write + fsync + rename + directory fsync, so a crash leaves either
the old file or the new one, never half of one.
"""

import contextlib
import errno
import fcntl
import json
import os
import time

from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import Installation
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import (
    ClaimStore,
    check_installation_name,
    describe_holder,
    is_installation_name,
    lock_holder_identity,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout


def default_root():
    return os.environ.get("CNAB_HOME") or os.path.join(os.path.expanduser("~"), ".cnab")


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_name(path):
    # Unique per process and thread; readers skip names containing ".tmp-".
    return "%s.tmp-%d-%s" % (path, os.getpid(), os.urandom(4).hex())


def atomic_write(path, data, mode=0o644):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _file_name(output):
    # Validation allows only safe output names; this keeps the store safe from any other.
    if not is_installation_name(output):
        raise ValueError("output name %r cannot be stored as a file name" % (output,))
    return output


def _dump(document):
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")


def _read_json_dir(directory):
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    records = []
    for name in names:
        if name.endswith(".json"):
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                try:
                    records.append(json.loads(handle.read()))
                except ValueError as exc:
                    raise ValueError("%s is not valid JSON (%s)" % (path, exc)) from exc
    return records


@contextlib.contextmanager
def _store_errors(root, doing):
    """Filesystem and record errors become one ClaimStoreError sentence."""
    try:
        yield
    except ClaimStoreError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ClaimStoreError("the local claim store at %s could not %s: %s." % (root, doing, exc)) from exc


class LocalStore(ClaimStore):
    def __init__(self, root=None):
        self.root = os.path.abspath(os.path.expanduser(root or default_root()))

    def _dir(self, name, *parts):
        return os.path.join(self.root, "installations", check_installation_name(name), *parts)

    def installation(self, name):
        with _store_errors(self.root, "read installation %s" % name):
            claims = _read_json_dir(self._dir(name, "claims"))
            results = _read_json_dir(self._dir(name, "results"))
            return Installation(name, claims, results)

    def installation_names(self):
        base = os.path.join(self.root, "installations")
        with _store_errors(self.root, "list installations"):
            try:
                names = os.listdir(base)
            except FileNotFoundError:
                return []
            return sorted(n for n in names if is_installation_name(n) and os.path.isdir(os.path.join(base, n)))

    @contextlib.contextmanager
    def lock(self, name, timeout):
        directory = self._dir(name)
        with _store_errors(self.root, "create the lock of installation %s" % name):
            os.makedirs(directory, exist_ok=True)
            fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._acquire(fd, name, timeout)
            # Identity goes in after the lock is ours, for the message a waiter prints.
            identity = json.dumps(lock_holder_identity()).encode("utf-8")
            os.ftruncate(fd, 0)
            os.pwrite(fd, identity, 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd, name, timeout):
        deadline = time.monotonic() + max(0, timeout)
        pause = 0.02
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise ClaimStoreError("cannot lock installation %s: %s." % (name, exc.strerror)) from exc
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    "installation %s is locked by %s; gave up after waiting %s seconds (raise lock_timeout to wait longer)."
                    % (name, describe_holder(self.lock_holder(name)), timeout)
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def lock_holder(self, name):
        try:
            with open(self._dir(name, "lock"), "rb") as handle:
                try:
                    # Free to take a shared lock: nobody holds it, whatever a dead holder wrote.
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return None
                except OSError:
                    return json.loads(handle.read() or b"null")
        except (OSError, ValueError):
            return None

    def break_lock(self, name):
        holder = self.lock_holder(name)
        if holder:
            # flock(2) dies with its holder: a held local lock belongs to a live process.
            raise ClaimStoreError(
                "installation %s is locked by %s, which is still running; stop that run instead of breaking its lock."
                % (name, describe_holder(holder))
            )
        return None

    def write_claim(self, claim, sensitive_parameters):
        name = claim["installation"]
        with _store_errors(self.root, "write a claim of installation %s" % name):
            if sensitive_parameters:
                self._write_sensitive(name, "%s.parameters.json" % claim["id"], _dump(sensitive_parameters))
            atomic_write(self._dir(name, "claims", claim["id"] + ".json"), _dump(claim))

    def write_result(self, installation, result, outputs, sensitive_outputs):
        with _store_errors(self.root, "write a result of installation %s" % installation):
            for output, value in sorted(outputs.items()):
                if output in sensitive_outputs:
                    self._write_sensitive(installation, os.path.join(result["id"], _file_name(output)), value)
                else:
                    atomic_write(self._dir(installation, "outputs", result["id"], _file_name(output)), value)
            # The result goes last: once it is visible, so are its outputs.
            atomic_write(self._dir(installation, "results", result["id"] + ".json"), _dump(result))

    def _write_sensitive(self, installation, relative, data):
        base = self._dir(installation, "sensitive")
        os.makedirs(base, mode=0o700, exist_ok=True)
        path = os.path.join(base, relative)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        atomic_write(path, data, mode=0o600)

    def sensitive_parameters(self, installation, claim_id):
        path = self._dir(installation, "sensitive", "%s.parameters.json" % claim_id)
        with _store_errors(self.root, "read the sensitive parameters of installation %s" % installation):
            try:
                with open(path, "rb") as handle:
                    return json.loads(handle.read())
            except FileNotFoundError:
                return {}

    def output_values(self, installation, result_id):
        values = {}
        with _store_errors(self.root, "read the outputs of installation %s" % installation):
            for base in (self._dir(installation, "outputs", result_id), self._dir(installation, "sensitive", result_id)):
                try:
                    names = os.listdir(base)
                except FileNotFoundError:
                    continue
                for output in names:
                    if ".tmp-" not in output:
                        with open(os.path.join(base, output), "rb") as handle:
                            values[output] = handle.read()
        return values

    def fingerprint_key(self, create=True):
        with _store_errors(self.root, "read its fingerprint key"):
            return self._fingerprint_key(create)

    def _fingerprint_key(self, create):
        path = os.path.join(self.root, "fingerprint.key")
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            if not create:
                return None
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        tmp = _temporary_name(path)
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(os.urandom(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic and refuses to replace: the first writer wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        with open(path, "rb") as handle:
            return handle.read()
