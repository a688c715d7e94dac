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
            with open(os.path.join(directory, name), "rb") as handle:
                records.append(json.loads(handle.read()))
    return records


class LocalStore(ClaimStore):
    def __init__(self, root=None):
        self.root = os.path.abspath(os.path.expanduser(root or default_root()))

    def _dir(self, name, *parts):
        return os.path.join(self.root, "installations", check_installation_name(name), *parts)

    def installation(self, name):
        try:
            claims = _read_json_dir(self._dir(name, "claims"))
            results = _read_json_dir(self._dir(name, "results"))
        except (OSError, ValueError) as exc:
            raise ClaimStoreError("the local claim store at %s cannot be read: %s." % (self.root, exc)) from exc
        return Installation(name, claims, results)

    def installation_names(self):
        try:
            return sorted(os.listdir(os.path.join(self.root, "installations")))
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def lock(self, name, timeout):
        directory = self._dir(name)
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
                return json.loads(handle.read() or b"null")
        except (OSError, ValueError):
            return None

    def write_claim(self, claim, sensitive_parameters):
        name = claim["installation"]
        if sensitive_parameters:
            self._write_sensitive(name, "%s.parameters.json" % claim["id"], _dump(sensitive_parameters))
        atomic_write(self._dir(name, "claims", claim["id"] + ".json"), _dump(claim))

    def write_result(self, installation, result, outputs, sensitive_outputs):
        for output, value in sorted(outputs.items()):
            if output in sensitive_outputs:
                self._write_sensitive(installation, os.path.join(result["id"], output), value)
            else:
                atomic_write(self._dir(installation, "outputs", result["id"], output), value)
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
        try:
            with open(path, "rb") as handle:
                return json.loads(handle.read())
        except FileNotFoundError:
            return {}

    def output_values(self, installation, result_id):
        values = {}
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

    def fingerprint_key(self):
        path = os.path.join(self.root, "fingerprint.key")
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            pass
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
