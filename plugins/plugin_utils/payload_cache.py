# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps the built AnsiballZ payload of this collection's modules across runs.

Why: ansible-core caches the zip it builds for a module (module_common._find_module_utils)
only in C.DEFAULT_LOCAL_TMP/ansiballz_cache, a directory that lives for one run. Building it
parses every module_utils file the module imports (0.15-0.2 s for cnab_install, more than the
module itself on a no-op), so every ad-hoc run and every AWX job paid for it again. Here a copy
of the file ansible-core wrote is kept under the user's Ansible home, keyed by everything the
zip depends on, and put back where ansible-core looks before the next build.

This leans on ansible-core 2.19 internals (the cache file name and format); whenever they are
not exactly as expected, when CNAB_PAYLOAD_CACHE=0, or on any error, it steps aside and the
module is built the normal way.
"""

import hashlib
import inspect
import os
import pickle
import stat
import sys
import tempfile

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES_DIR = os.path.join(COLLECTION_ROOT, "plugins", "modules")
MODULE_UTILS_DIR = os.path.join(COLLECTION_ROOT, "plugins", "module_utils")
FQN_PREFIX = "ansible_collections.cnab.runtime.plugins.modules."
SUPPORTED_CORE = ("2.19",)  # versions whose module_common layout was checked by hand
DISABLE_ENV = "CNAB_PAYLOAD_CACHE"


def enabled():
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def core_internals():
    """Return ansible-core's module_common when it has exactly what this cache relies on, else None."""
    try:
        from ansible.release import __version__
        from ansible.executor import module_common
        from ansible._internal._ansiballz._builder import ExtensionManager
    except ImportError:
        return None
    if ".".join(__version__.split(".")[:2]) not in SUPPORTED_CORE:
        return None
    cached = getattr(module_common, "_CachedModule", None)
    find = getattr(module_common, "_find_module_utils", None)
    if cached is None or find is None or not callable(getattr(ExtensionManager, "create", None)):
        return None
    if not callable(getattr(cached, "load", None)) or not callable(getattr(module_common, "_get_ansible_module_fqn", None)):
        return None
    if "module_compression" not in inspect.signature(find).parameters:
        return None
    return module_common


def cache_key(module_path, module_compression, extension_key, module_utils_dir=MODULE_UTILS_DIR):
    """Digest of everything the built zip depends on: ansible-core and Python, the options in
    ansible-core's own cache file name, and path and content of the module and of every file
    under the collection's module_utils (hashing about 0.5 MB costs under 1 ms)."""
    from ansible.release import __version__
    from ansible import constants as C
    import ansible

    digest = hashlib.sha256()
    # _MODULE_METADATA: the one setting the build itself reads (experimental module METADATA)
    digest.update(repr((__version__, os.path.dirname(ansible.__file__), sys.version, module_compression,
                        extension_key, C.config.get_config_value("_MODULE_METADATA"))).encode())
    files = [module_path]
    for root, dirs, names in os.walk(module_utils_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files.extend(os.path.join(root, name) for name in sorted(names))
    for path in files:
        with open(path, "rb") as source:
            digest.update(("%s\0" % path).encode() + hashlib.sha256(source.read()).digest())
    return digest.hexdigest()


def _owned_by_me(info):
    return info.st_uid == os.geteuid()


def _private_dir(path):
    """Create (0700) or check the persistent directory; it must be ours and closed to others."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or not _owned_by_me(info):
        raise PermissionError("%s is not a directory owned by the current user" % path)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def _write_atomically(directory, path, data):
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".part-")  # mkstemp creates it 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


class PayloadEntry:
    """One module's payload: where ansible-core looks for it in this run, and where it is kept."""

    def __init__(self, module_common, module_path, module_compression, extension_key, local_tmp, cache_dir):
        self._module_common = module_common
        fqn = module_common._get_ansible_module_fqn(module_path)
        if not fqn.startswith(FQN_PREFIX):
            raise ValueError("not a cnab.runtime module: %s" % fqn)
        # Exactly as module_common._find_module_utils names its per-run cache file.
        self.run_dir = os.path.join(local_tmp, "ansiballz_cache")
        self.run_file = os.path.join(self.run_dir, "-".join((fqn, module_compression, extension_key)))
        self.cache_dir = cache_dir
        self.prefix = fqn + "."
        self.cache_file = os.path.join(cache_dir, self.prefix + cache_key(module_path, module_compression, extension_key))

    def place(self):
        """Put the kept payload where ansible-core looks; True when it did."""
        if os.path.exists(self.run_file):
            return False  # built or placed earlier in this run
        _private_dir(self.cache_dir)
        try:
            info = os.lstat(self.cache_file)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode) or not _owned_by_me(info) or stat.S_IMODE(info.st_mode) & 0o022:
            return False  # never unpickle a file someone else could have written
        with open(self.cache_file, "rb") as kept:
            data = kept.read()
        try:
            valid = isinstance(pickle.loads(data), self._module_common._CachedModule)
        except Exception:  # pylint: disable=broad-except  # a torn or foreign file: drop it
            valid = False
        if not valid:
            os.unlink(self.cache_file)
            return False
        os.makedirs(self.run_dir, exist_ok=True)
        _write_atomically(self.run_dir, self.run_file, data)
        return True

    def store(self):
        """Keep the file ansible-core built in this run, and only the newest entry for the module."""
        if os.path.exists(self.cache_file) or not os.path.isfile(self.run_file):
            return False
        _private_dir(self.cache_dir)
        with open(self.run_file, "rb") as built:
            data = built.read()
        _write_atomically(self.cache_dir, self.cache_file, data)
        for name in os.listdir(self.cache_dir):
            path = os.path.join(self.cache_dir, name)
            if name.startswith(self.prefix) and path != self.cache_file:
                os.unlink(path)
        return True


def default_cache_dir():
    from ansible import constants as C

    return os.path.join(C.config.get_config_value("ANSIBLE_HOME"), "cnab_runtime", "ansiballz")
