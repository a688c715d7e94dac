"""The claim-store contract every backend implements, and how one is chosen.

A store keeps claims, results and output values per installation, keeps sensitive
values apart from the shareable records, and gives an exclusive per-installation
lock that a run holds from before its ``running`` result until its final result.
"""

import contextlib
import os
import time

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout

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


def wait_for_lock(name, timeout, attempt, holder_now, first_pause, longest_pause):
    """The one lock-wait loop of every store: ``attempt()`` until it wins or ``timeout`` seconds pass.

    ``attempt()`` returns (what the store keeps while it holds the lock, None) when it won, else
    (None, the holder it saw, or None). Pauses double from ``first_pause`` to ``longest_pause``;
    the last attempt falls on the deadline, as a dead holder's lease may expire just then. On
    timeout, LockTimeout names the holder (``holder_now(name)`` when the attempt saw none).
    """
    deadline = time.monotonic() + max(0, timeout)
    pause = first_pause
    while True:
        won, owner = attempt()
        if won is not None:
            return won
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if owner is None:
                with contextlib.suppress(ClaimStoreError):
                    owner = holder_now(name)
            raise LockTimeout(
                "installation %s is locked by %s; gave up after waiting %s seconds (raise lock_timeout to wait longer)."
                % (name, describe_holder(owner), timeout)
            )
        time.sleep(max(0.01, min(pause, remaining)))
        pause = min(pause * 2, longest_pause)


def check_claim_of(installation, claim):
    """``claim``, when it is a claim of ``installation``: a store files it under that name."""
    if claim.get("installation") != installation:
        raise ClaimStoreError("claim %s names installation %r, so it cannot be recorded as a claim of installation %s."
                              % (claim.get("id"), claim.get("installation"), installation))
    return claim


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

    def write_claim(self, installation, claim, sensitive_parameters):
        """Persist a claim of ``installation`` (its ``installation`` field names it too) and its
        sensitive parameter values, kept apart."""
        raise NotImplementedError

    def write_result(self, installation, result, outputs, sensitive_outputs):
        """Persist a result of ``installation`` and its output values; ``sensitive_outputs`` names those kept apart."""
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
