"""The protocol of the indexed remote claim stores (kubernetes, azure_blob), written once.

A remote store keeps one immutable object per record and one small, mutable index per
installation that names its claims and results:

- Records are create-only. A record's parts (output values, sensitive values) are written
  first and the record itself last, then it is committed by adding its id to the index. A
  record whose commit never happened (the service went away in between) is invisible to
  reads; writing it again adopts it when its stored content is the same, and refuses it
  when it is not.
- The index is committed by an update conditional on the version read (a resourceVersion,
  an ETag); one that lost a race is read again and retried, ``COMMIT_ATTEMPTS`` times.
- The lock is a lease that expires unless renewed: a ``LeaseKeeper`` thread renews it while
  the run holds it, and every write renews it first, so a holder that lost it (paused past
  its lease, say) is refused its next write instead of writing over the new holder's history.
- Waiting for the lock is ``store.wait_for_lock``, the loop the local store uses too.

A backend implements the primitives ``IndexedStore`` names (each one request or two) and its
own reads. What a condition refuses is raised as ``Refused`` and becomes, in the backend's
``_errors``, one ClaimStoreError sentence.
"""

import contextlib
import json
import threading
import time

from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import (
    ClaimStore,
    check_claim_of,
    check_installation_name,
    describe_holder,
    wait_for_lock,
)

COMMIT_ATTEMPTS = 20  # index updates that lost a race before giving up


class Refused(Exception):
    """Refused by a condition (a record that exists, a lock lost, an index that kept changing, a
    stored object this store cannot use); the message is the reason."""


class LockLost(Exception):
    """A backend's renewal found its lease taken; ``holder`` is who holds it now (None when nobody)."""

    def __init__(self, holder=None):
        super().__init__(holder)
        self.holder = holder


def record_ids(document, label):
    """The claim and result ids an index document names, each checked before it becomes part of a name."""
    entries = {}
    for kind in ("claims", "results"):
        ids = document.get(kind) or []
        if not isinstance(ids, list):
            raise model.MalformedRecord(label, "its %s entry is not a list of ids" % kind)
        entries[kind] = [model.check_record_id(i, label) for i in ids]
    return entries


class LeaseKeeper:
    """Renews a remote lock's lease from a daemon thread while a run holds it.

    ``renew()`` is called every ``interval`` seconds until the keeper stops. A failed
    renewal is kept in ``error``: the holder may have lost the lock; its next write,
    which renews first, is refused then.
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


class Held:
    """A lease this store holds: what renewing and releasing it need."""

    def __init__(self, installation, lease, holder=None):
        self.installation = installation
        self.lease = lease  # the backend's: the Lease object as last written, a lease client
        self.holder = holder  # the identity it was taken with, where the backend keeps one
        self.lost = None  # the reason, once another run or an operator took the lock away
        self.renewing = threading.Lock()  # the keeper and a write may renew at once


class IndexedStore(ClaimStore):
    """The shared half of an indexed remote store. A backend supplies:

    - ``_errors(doing)``: a context manager turning its errors (and Refused) into one ClaimStoreError sentence;
    - ``_claim_record(installation, claim_id, claim, sensitive_parameters)`` and ``_result_record(installation,
      result_id, result, outputs, sensitive_outputs)``: the record and a callable writing its parts
      (the result's also the ``key -> names`` of its outputs for the index, or None);
    - ``_read_records(name, wanted)``: for each (record id, "claim" or "result") of ``wanted``, (its label
      in a sentence, its JSON document or None when it is gone), in order, as it goes (a generator);
    - ``_create_once(record)``: create the record's object unless it exists, True when this call did;
      ``_stored_as(record)``: the stored object has that content; ``_already_written(record)``: the
      exception for a record stored with other content or committed already;
    - ``_read_index(name)``: (version, entries), (None, empty entries) when there is none;
      ``_store_index(name, version, entries)``: store it conditional on ``version`` (None: create it),
      the new version or None when another writer changed it first; ``_index_label(name)``: it in a sentence;
    - ``_try_lock(name)``: one attempt, (Held, None) when won, else (None, the holder seen, or None);
      ``_renew_lease(held)``: renew it (updating ``held.lease``), LockLost when another run or an
      operator took it; ``_release_lease(held)``;
    - optionally ``_ready_to_read()`` and ``_ready_to_write()`` (what must be checked before the first
      read, or exist before the first write, once per store) and
      ``_announce(held)`` (record who holds the lock, where the lease itself does not say).
    """

    lease_seconds = 30
    LOCK_PAUSES = (0.05, 0.5)  # first and longest pause between lock attempts

    def __init__(self):
        self._indexes = {}  # installation -> (index version or None, entries) as last read or written
        self._held = {}  # installation -> Held, while this store holds its lock
        self._held_lock = threading.Lock()

    def _ready_to_read(self):
        pass

    def _ready_to_write(self):
        pass

    def _announce(self, held):
        pass

    # -- reads and writes ---------------------------------------------------------------------

    def installation(self, name):
        """One read of the index, then one of each record it names (in parallel), whatever the store's size."""
        check_installation_name(name)
        with self._errors("read installation %s" % name):
            self._ready_to_read()
            entries = self._index(name, fresh=True)[1]
            wanted = [(i, "claim") for i in entries["claims"]] + [(i, "result") for i in entries["results"]]
            claims, results = [], []
            for (record_id, kind), (label, document) in zip(wanted, self._read_records(name, wanted)):
                if document is None:
                    continue  # deleted by hand, say
                if kind == "claim":
                    claims.append(model.read_claim(document, name, label, record_id))
                else:
                    results.append(model.read_result(document, label, record_id))
            return model.Installation(name, claims, results)

    def write_claim(self, installation, claim, sensitive_parameters):
        check_installation_name(installation)
        with self._errors("write a claim of installation %s" % installation):
            check_claim_of(installation, claim)
            claim_id = model.check_record_id(claim["id"], "a claim of installation %s" % installation)
            record, write_parts = self._claim_record(installation, claim_id, claim, sensitive_parameters)
            self._write_record(installation, "claims", claim_id, record, write_parts)

    def write_result(self, installation, result, outputs, sensitive_outputs):
        check_installation_name(installation)
        with self._errors("write a result of installation %s" % installation):
            result_id = model.check_record_id(result["id"], "a result of installation %s" % installation)
            record, write_parts, output_names = self._result_record(installation, result_id, result, outputs,
                                                                    sensitive_outputs)
            self._write_record(installation, "results", result_id, record, write_parts, output_names)

    # -- records and the index ----------------------------------------------------------------

    def _index(self, name, fresh=False):
        """(version, entries) of the installation's index; the last one seen unless ``fresh``."""
        if fresh or name not in self._indexes:
            self._indexes[name] = self._read_index(name)
        return self._indexes[name]

    def _write_record(self, name, kind, record_id, record, write_parts=None, output_names=None):
        """Write a record (its parts first, through ``write_parts()``), then commit it to the index."""
        if record_id in self._index(name)[1][kind]:
            raise self._already_written(record)
        self._ready_to_write()
        self._still_held(name)
        if write_parts is not None:
            write_parts()
        # The record goes last: once it is visible, so are its parts.
        self._create_record(record)
        self._commit(name, kind, record_id, record, output_names)

    def _create_record(self, record):
        """Create a record once; one that exists with the same content (an uncommitted earlier write) is kept."""
        if not self._create_once(record) and not self._stored_as(record):
            raise self._already_written(record)

    def _commit(self, name, kind, record_id, record, output_names=None):
        """Add ``record_id`` (and the names of its outputs, ``key -> names``) to the index: from then
        on reads see it."""
        for attempt in range(COMMIT_ATTEMPTS):
            version, entries = self._index(name, fresh=attempt > 0)
            if record_id in entries[kind]:  # another writer committed the same record first
                raise self._already_written(record)
            self._still_held(name)
            entries = json.loads(json.dumps(entries))  # a copy: the cached one stays as read
            entries[kind].append(record_id)
            for key, names in (output_names or {}).items():
                if names:
                    entries[key][record_id] = sorted(names)
            stored = self._store_index(name, version, entries)
            if stored is not None:
                self._indexes[name] = (stored, entries)
                return
            time.sleep(min(0.01 * (attempt + 1), 0.2))  # another writer updated it first: read it again
        raise Refused("its index %s kept changing" % self._index_label(name))

    # -- the lock -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name, timeout):
        check_installation_name(name)
        doing = "lock installation %s" % name
        with self._errors(doing):
            self._ready_to_write()

        def attempt():
            with self._errors(doing):
                return self._try_lock(name)

        first_pause, longest_pause = self.LOCK_PAUSES
        held = wait_for_lock(name, timeout, attempt, self.lock_holder, first_pause, longest_pause)
        try:
            self._announce(held)
            with self._held_lock:
                self._held[name] = held
            with LeaseKeeper(lambda: self._keep(held), self.lease_seconds / 3.0):
                yield
        finally:
            with self._held_lock:
                self._held.pop(name, None)
            if not held.lost:
                # An unreleased lease expires on its own.
                with contextlib.suppress(Exception):
                    self._release_lease(held)

    def _keep(self, held):
        """LeaseKeeper's call."""
        if held.lost:
            return  # reported once; LeaseKeeper keeps that error
        with self._errors("renew the lock of installation %s" % held.installation):
            self._renew(held)

    def _still_held(self, name):
        """Before a write: renew the lease of a lock this store holds, or refuse if another run took it
        (a holder paused past its lease writes before its keeper can notice)."""
        held = self._held.get(name)
        if held is not None:
            self._renew(held)

    def _renew(self, held):
        with held.renewing:
            if held.lost:
                raise Refused(held.lost)
            try:
                self._renew_lease(held)
            except LockLost as lost:
                held.lost = "it lost the lock of installation %s to %s" % (
                    held.installation, describe_holder(lost.holder) if lost.holder else "an operator who broke it")
                raise Refused(held.lost) from lost.__cause__
