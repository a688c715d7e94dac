"""The claim-store contract every backend implements, and how one is chosen.

A store keeps claims, results and output values per installation, keeps sensitive
values apart from the shareable records, and gives an exclusive per-installation
lock that a run holds from before its ``running`` result until its final result.
"""

import os
import threading
import time

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError

# The installation-name rule lives with the other identifier rules (identifiers.py); the stores
# and their callers use it from here.
is_installation_name = identifiers.is_installation_name
check_installation_name = identifiers.check_installation_name


def lock_holder_identity():
    return {"host": os.uname().nodename,  # socket.gethostname() without importing socket (3 ms)
            "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def describe_holder(holder):
    if not holder:
        return "another run"
    return "the run of pid %s on host %s (since %s)" % (holder.get("pid"), holder.get("host"), holder.get("since"))


class ClaimStore:
    """Interface. Records are the dicts of ``claims.model``; values are bytes."""

    # Sentences about records read but not taken as they are (a foreign store's), for the module to warn with.
    warnings = ()

    def installation(self, name):
        """An ``Installation`` with every claim and result of ``name`` (empty if unknown)."""
        raise NotImplementedError

    def installation_names(self):
        raise NotImplementedError

    def lock(self, name, timeout):
        """Context manager holding the installation's exclusive lock; raises LockTimeout."""
        raise NotImplementedError

    def lock_holder(self, name):
        """Who holds the lock now (host, pid, since), or None."""
        raise NotImplementedError

    def break_lock(self, name):
        """Release a lock whose holder cannot release it (operators only); returns the holder or None."""
        raise NotImplementedError

    def write_claim(self, claim, sensitive_parameters):
        raise NotImplementedError

    def write_result(self, installation, result, outputs, sensitive_outputs):
        """Persist a result and its output values; ``sensitive_outputs`` names those kept apart."""
        raise NotImplementedError

    def sensitive_parameters(self, installation, claim_id):
        raise NotImplementedError

    def output_values(self, installation, result_id):
        """name -> bytes for every output value stored with the result."""
        raise NotImplementedError

    def fingerprint_key(self, create=True):
        """A secret key, stable for the store, for HMAC fingerprints of credentials; created on first
        use, or None when there is none yet and ``create`` is false (check mode writes nothing)."""
        raise NotImplementedError


class LeaseKeeper:
    """Renews a remote lock's lease from a daemon thread while a run holds it.

    ``renew()`` is called every ``interval`` seconds until the keeper stops. A failed
    renewal is kept in ``error``: the holder may have lost the lock. The stores also
    renew before each write, so a holder that lost the lock (paused past its lease, say)
    is refused its next write instead of writing over the new holder's history.
    """

    def __init__(self, renew, interval):
        self._renew = renew
        self._interval = max(0.2, interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cnab-lease", daemon=True)
        self.error = None

    def _loop(self):
        while not self._stop.wait(self._interval):
            try:
                self._renew()
            except Exception as exc:  # noqa: BLE001 - kept for the holder to report
                self.error = exc

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        return False


BACKENDS = ("local", "kubernetes", "azure_blob")
READ_ONLY_BACKENDS = ("porter_v0",)  # foreign stores: a source of cnab_claim_copy, read by cnab_claim_info


def open_store(options):
    """Open the backend named by ``options['backend']`` (default ``local``); SDKs load here."""
    options = dict(options or {})
    backend = options.get("backend") or "local"
    if backend == "local":
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore

        return LocalStore(options.get("path"))
    if backend == "kubernetes":
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import KubernetesStore

        return KubernetesStore(options)
    if backend == "azure_blob":
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.azure_blob import AzureBlobStore

        return AzureBlobStore(options)
    if backend == "porter_v0":
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.porter_v0 import PorterV0Store

        return PorterV0Store(options)
    raise ClaimStoreError("claim store backend %r is not supported (choose from: %s)."
                          % (backend, ", ".join(BACKENDS + READ_ONLY_BACKENDS)))
