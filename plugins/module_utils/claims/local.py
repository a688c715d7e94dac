"""The embedded claim store: JSON files under ``$CNAB_HOME`` (default ``~/.cnab``).

Layout, one directory per installation so that reading one never scans the others::

    installations/<name>/lock                     flock target; holds the holder's identity
    installations/<name>/claims/<claimId>.json    shareable records
    installations/<name>/results/<resultId>.json
    installations/<name>/outputs/<resultId>/<output>
    installations/<name>/sensitive/...            0700 dir, 0600 files: sensitive values

Every write is write + fsync + rename + directory fsync, so a crash leaves either
the old file or the new one, never half of one.

Paths are built only from checked parts (installation names, ULIDs, output names: see
``identifiers``), and nothing below the store's root is reached through a symbolic link:
each directory is opened relative to its parent with ``O_NOFOLLOW``, each file likewise,
and only regular files with one link are read or locked. A link, a device or a FIFO in the
store is refused in one sentence (a lock file linked to another file would otherwise be
truncated by the next run). The root itself may be a link: that is the user's choice.
"""

import contextlib
import errno
import fcntl
import json
import os
import stat

from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import (
    ClaimStore,
    check_claim_of,
    check_installation_name,
    describe_holder,
    is_installation_name,
    lock_holder_identity,
    wait_for_lock,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the store must not hang the run; it is refused after fstat.
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class _Unsafe(Exception):
    """Something in the store that is not a plain directory or file; the message says what."""


def default_root():
    return os.environ.get("CNAB_HOME") or os.path.join(os.path.expanduser("~"), ".cnab")


def _refuse_link(parent_fd, name, where, exc):
    """The sentence for a component that could not be opened without following it."""
    try:
        found = os.lstat(name, dir_fd=parent_fd)
    except OSError:
        raise exc from None
    if stat.S_ISLNK(found.st_mode):
        raise _Unsafe("%s is a symbolic link, which the local claim store does not follow" % where) from None
    raise _Unsafe("%s is not a %s" % (where, "directory" if exc.errno == errno.ENOTDIR else "regular file")) from None


def _open_dir_at(parent_fd, name, where, create, mode):
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            _refuse_link(parent_fd, name, where, exc)
        raise
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, mode, dir_fd=parent_fd)
    return _open_dir_at(parent_fd, name, where, False, mode)


@contextlib.contextmanager
def _directory(root, parts, create=False, mode=0o755):
    """A file descriptor of ``root/parts...``, each part opened without following links and
    created (with ``mode``) when ``create``; FileNotFoundError when one is missing."""
    if create:
        os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, part in enumerate(parts):
            child = _open_dir_at(fd, part, "/".join(parts[:index + 1]), create, mode)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_file(dir_fd, name, flags, where, mode=0o644, single_link=True):
    """A descriptor of the regular file ``name`` in ``dir_fd``, opened without following a link."""
    try:
        fd = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            _refuse_link(dir_fd, name, where, exc)
        raise
    found = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(found.st_mode):
        problem = "%s is not a regular file" % where
    elif single_link and found.st_nlink != 1:
        problem = "%s has %d hard links, so it may be another file too" % (where, found.st_nlink)
    if problem:
        os.close(fd)
        raise _Unsafe(problem)
    os.set_blocking(fd, True)
    return fd


def _read_at(dir_fd, name, where, single_link=True):
    fd = _open_file(dir_fd, name, os.O_RDONLY, where, single_link=single_link)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _temporary_name(name):
    # Unique per process and thread; readers skip names containing ".tmp-".
    return "%s.tmp-%d-%s" % (name, os.getpid(), os.urandom(4).hex())


def _write_at(dir_fd, name, data, mode=0o644):
    tmp = _temporary_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # replaces a link, never writes through it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)


def atomic_write(path, data, mode=0o644):
    """Write ``path`` whole or not at all (its directory is created if needed)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _write_at(fd, os.path.basename(path), data, mode)
    finally:
        os.close(fd)


def _dump(document):
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")


def _read_records(root, parts):
    """(record id, document, label) of every ``<id>.json`` in ``root/parts``; none when it is missing."""
    label = "/".join(parts)
    try:
        with _directory(root, parts) as fd:
            records = []
            for name in sorted(os.listdir(fd)):
                if name.endswith(".json"):
                    where = "%s/%s" % (label, name)
                    record_id = model.check_record_id(name[:-len(".json")], where)
                    records.append((record_id, model.load_record(_read_at(fd, name, where), where), where))
            return records
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def _store_errors(root, doing):
    """Filesystem and record errors become one ClaimStoreError sentence."""
    try:
        yield
    except ClaimStoreError:
        raise
    except (OSError, ValueError, TypeError, KeyError, _Unsafe) as exc:
        raise ClaimStoreError("the local claim store at %s could not %s: %s." % (root, doing, exc)) from exc


class LocalStore(ClaimStore):
    def __init__(self, root=None):
        self.root = os.path.abspath(os.path.expanduser(root or default_root()))

    def errors(self, doing):
        """The context in which filesystem failures become this store's sentence (for cnab_claim_store)."""
        return _store_errors(self.root, doing)

    def _parts(self, name, *parts):
        """The path below the root, as parts; every one is a checked name or id."""
        return ("installations", check_installation_name(name)) + parts

    def _record_id(self, record_id, name, kind):
        return model.check_record_id(record_id, "a %s of installation %s" % (kind, name))

    def installation(self, name):
        with _store_errors(self.root, "read installation %s" % name):
            claims = [model.read_claim(document, name, where, record_id)
                      for record_id, document, where in _read_records(self.root, self._parts(name, "claims"))]
            results = [model.read_result(document, where, record_id)
                       for record_id, document, where in _read_records(self.root, self._parts(name, "results"))]
            return model.Installation(name, claims, results)

    def installation_names(self):
        with _store_errors(self.root, "list installations"):
            try:
                with _directory(self.root, ("installations",)) as fd:
                    names = os.listdir(fd)
                    # Only real directories: a link is not followed, so it holds no installation.
                    return sorted(n for n in names if is_installation_name(n)
                                  and stat.S_ISDIR(os.lstat(n, dir_fd=fd).st_mode))
            except FileNotFoundError:
                return []

    @contextlib.contextmanager
    def lock(self, name, timeout):
        parts = self._parts(name)
        with _store_errors(self.root, "create the lock of installation %s" % name):
            with _directory(self.root, parts, create=True) as directory:
                fd = _open_file(directory, "lock", os.O_RDWR | os.O_CREAT, "/".join(parts + ("lock",)))
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
        def attempt():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True, None
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise ClaimStoreError("cannot lock installation %s: %s." % (name, exc.strerror)) from exc
            return None, None

        wait_for_lock(name, timeout, attempt, self.lock_holder, first_pause=0.02, longest_pause=0.25)

    def lock_holder(self, name):
        parts = self._parts(name)
        try:
            with _directory(self.root, parts) as directory:
                fd = _open_file(directory, "lock", os.O_RDONLY, "/".join(parts + ("lock",)))
            with os.fdopen(fd, "rb") as handle:
                try:
                    # Free to take a shared lock: nobody holds it, whatever a dead holder wrote.
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return None
                except OSError:
                    holder = json.loads(handle.read() or b"null")
                    return holder if isinstance(holder, dict) else None
        except (OSError, ValueError, _Unsafe):
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

    def write_claim(self, installation, claim, sensitive_parameters):
        name = installation
        with _store_errors(self.root, "write a claim of installation %s" % name):
            check_claim_of(name, claim)
            claim_id = self._record_id(claim["id"], name, "claim")
            if sensitive_parameters:
                self._write_sensitive(name, (), "%s.parameters.json" % claim_id, _dump(sensitive_parameters))
            with _directory(self.root, self._parts(name, "claims"), create=True) as fd:
                _write_at(fd, claim_id + ".json", _dump(claim))

    def write_result(self, installation, result, outputs, sensitive_outputs):
        with _store_errors(self.root, "write a result of installation %s" % installation):
            result_id = self._record_id(result["id"], installation, "result")
            for output, value in sorted(outputs.items()):
                where = "output %s of result %s" % (output, result_id)
                file_name = model.check_output_name(output, where)
                if output in sensitive_outputs:
                    self._write_sensitive(installation, (result_id,), file_name, value)
                else:
                    with _directory(self.root, self._parts(installation, "outputs", result_id), create=True) as fd:
                        _write_at(fd, file_name, value)
            # The result goes last: once it is visible, so are its outputs.
            with _directory(self.root, self._parts(installation, "results"), create=True) as fd:
                _write_at(fd, result_id + ".json", _dump(result))

    def _write_sensitive(self, installation, below, file_name, data):
        with _directory(self.root, self._parts(installation), create=True) as fd:
            os.close(_open_dir_at(fd, "sensitive", "sensitive", True, 0o700))  # 0700 even when nothing is below it
        with _directory(self.root, self._parts(installation, "sensitive", *below), create=True, mode=0o700) as fd:
            _write_at(fd, file_name, data, mode=0o600)

    def sensitive_parameters(self, installation, claim_id):
        with _store_errors(self.root, "read the sensitive parameters of installation %s" % installation):
            claim_id = self._record_id(claim_id, installation, "claim")
            parts = self._parts(installation, "sensitive")
            where = "/".join(parts + ("%s.parameters.json" % claim_id,))
            try:
                with _directory(self.root, parts) as fd:
                    data = _read_at(fd, "%s.parameters.json" % claim_id, where)
            except FileNotFoundError:
                return {}
            return model.read_sensitive_parameters(model.load_record(data, where), where)

    def output_values(self, installation, result_id):
        values = {}
        with _store_errors(self.root, "read the outputs of installation %s" % installation):
            result_id = self._record_id(result_id, installation, "result")
            for kind in ("outputs", "sensitive"):
                parts = self._parts(installation, kind, result_id)
                try:
                    with _directory(self.root, parts) as fd:
                        for output in sorted(os.listdir(fd)):
                            if ".tmp-" not in output:
                                where = "/".join(parts + (output,))
                                values[model.check_output_name(output, where)] = _read_at(fd, output, where)
                except FileNotFoundError:
                    continue
        return values

    def fingerprint_key(self, create=True):
        with _store_errors(self.root, "read its fingerprint key"):
            return self._fingerprint_key(create)

    def _fingerprint_key(self, create):
        try:
            with _directory(self.root, ()) as fd:
                # Linked twice for a moment while it is created: see below.
                return _read_at(fd, "fingerprint.key", "fingerprint.key", single_link=False)
        except FileNotFoundError:
            if not create:
                return None
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        with _directory(self.root, ()) as fd:
            tmp = _temporary_name("fingerprint.key")
            key_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
            with os.fdopen(key_fd, "wb") as handle:
                handle.write(os.urandom(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                # Atomic and refuses to replace: the first writer wins.
                os.link(tmp, "fingerprint.key", src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp, dir_fd=fd)
            return _read_at(fd, "fingerprint.key", "fingerprint.key", single_link=False)
