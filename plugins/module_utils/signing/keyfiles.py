"""Key-pair files for ``cnab_signing_key``: make a pair once, then leave it alone.

The private key is created with mode 0600 from the first byte on (O_EXCL on a temporary name,
then a hard link to its final name, so a concurrent run can never overwrite a key).
"""

import os
import stat

from ansible_collections.cnab.runtime.plugins.module_utils.errors import SigningKeyError
from ansible_collections.cnab.runtime.plugins.module_utils.signing import keys

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


def default_public_path(private_path):
    """cosign's naming: cosign.key -> cosign.pub; any other name gets ``.pub`` appended."""
    base, extension = os.path.splitext(private_path)
    return (base if extension == ".key" else private_path) + ".pub"


def write_new_file(path, data, mode):
    """Create ``path`` holding ``data`` with ``mode``; FileExistsError when it exists."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temporary = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed it
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write(path, data, mode, what):
    try:
        write_new_file(path, data, mode)
    except FileExistsError as exc:
        raise SigningKeyError("%s %s was created by someone else while this run was making it; run again to use"
                              " it." % (what, path)) from exc
    except OSError as exc:
        raise SigningKeyError("%s %s cannot be written: %s." % (what, path, exc.strerror or exc)) from exc


def ensure_key_pair(private_path, public_path=None, passphrase=None, key_format="cosign", check_mode=False):
    """Make sure an ECDSA P-256 key pair exists. Returns a report: ``changed``, ``private_key``,
    ``public_key``, ``fingerprint`` (None when a new key would be made in check mode),
    ``created`` (files written) and ``updated`` (a private key whose mode was made 0600)."""
    if key_format not in keys.FORMATS:
        raise SigningKeyError("key format %r is not one of %s." % (key_format, ", ".join(keys.FORMATS)))
    private_path = os.path.abspath(os.path.expanduser(private_path))
    public_path = os.path.abspath(os.path.expanduser(public_path or default_public_path(private_path)))
    if private_path == public_path:
        raise SigningKeyError("the private and the public key cannot both be written to %s." % private_path)
    report = {"changed": False, "private_key": private_path, "public_key": public_path, "fingerprint": None,
              "created": [], "updated": []}

    if not os.path.exists(private_path):
        if os.path.exists(public_path):
            raise SigningKeyError("public key %s exists but its private key %s does not; remove the public key or"
                                  " choose other paths." % (public_path, private_path))
        report["changed"] = True
        report["created"] = [private_path, public_path]
        if check_mode:
            return report
        private = keys.generate_private_key()
        _write(private_path, keys.private_key_pem(private, passphrase, key_format, private_path), PRIVATE_MODE,
               "private key")
        _write(public_path, keys.public_key_pem(private.public), PUBLIC_MODE, "public key")
        report["fingerprint"] = private.fingerprint
        return report

    private = keys.load_private_key(private_path, passphrase)  # also proves the passphrase
    report["fingerprint"] = private.fingerprint
    if stat.S_IMODE(os.stat(private_path).st_mode) & 0o077:
        report["changed"] = True
        report["updated"].append(private_path)
        if not check_mode:
            os.chmod(private_path, PRIVATE_MODE)
    if os.path.exists(public_path):
        public = keys.load_public_key(public_path)
        if public.fingerprint != private.fingerprint:
            raise SigningKeyError(
                "public key %s does not belong to private key %s (fingerprints %s and %s); remove it or choose"
                " another public_key_path." % (public_path, private_path, public.fingerprint, private.fingerprint))
    else:
        report["changed"] = True
        report["created"].append(public_path)
        if not check_mode:
            _write(public_path, keys.public_key_pem(private.public), PUBLIC_MODE, "public key")
    return report
