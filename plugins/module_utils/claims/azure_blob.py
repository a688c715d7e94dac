"""The azure_blob claim store: one blob per record in an Azure Storage container.

Layout (blob names), one prefix per installation::

    installations/<name>/index.json                    the ids of its claims and results, its outputs' names
    installations/<name>/lock                          lease target; metadata names the holder
    installations/<name>/claims/<claimId>.json         shareable records, written once
    installations/<name>/results/<resultId>.json
    installations/<name>/outputs/<resultId>/<output>
    installations/<name>/sensitive/<claimId>.parameters        AES-256-GCM encrypted
    installations/<name>/sensitive/<resultId>/<output>         AES-256-GCM encrypted
    encryption.salt                                    per-store salt of the encryption key
    fingerprint.key                                    32 random bytes, written once

Every blob upload is atomic, so a reader sees a record whole or not at all. Reading an
installation never lists: it downloads the index, then each record by its exact name (in
parallel), so its cost does not depend on how many installations the container holds. A
record is uploaded first (create-only), then committed by adding it to the index, an upload
conditional on the index's ETag (412: read it again and retry); a record whose commit never
happened (the service went away in between) is invisible, and writing it again adopts it when
its content is the same (the protocol of ``claims/indexed.py``, which this store gives its
primitives). The lock is a blob lease (15 to 60 seconds) renewed while the run holds it: a
killed holder loses it when the lease expires. A blob lease guards only its own blob, so the holder also renews it before
each write and each index update: a holder whose lease another run took is refused. The
container is created by the first write, never by reads: a missing container reads as an
empty store, so check mode and info runs create nothing. The Azure SDK and ``cryptography``
load lazily: this file ships in every module payload, and only runs that use this backend
need them.
"""

import contextlib
import json
import os
import re
from urllib.parse import urlsplit

from ansible_collections.cnab.runtime.plugins.module_utils.claims import indexed, model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import (
    check_installation_name,
    is_installation_name,
    lock_holder_identity,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, require_library

DEFAULT_CONTAINER = "cnab-claims"
LEASE_RANGE = (15, 60)  # what Azure accepts for a finite lease
_HOLDER = "cnabholder"  # metadata key of the lock holder's identity (JSON)
_SALT = "encryption.salt"
_FINGERPRINT = "fingerprint.key"
_SEALED = b"\x01"  # format byte of an encrypted value: scrypt key, AES-256-GCM, 12-byte nonce
_NONCE = 12
_DOWNLOAD_THREADS = 8
_INDEX = "index.json"
_MISSING_ONE_OF = (
    "the azure_blob claim store needs claim_store.connection_string (or AZURE_STORAGE_CONNECTION_STRING), or "
    "claim_store.account_url (or AZURE_STORAGE_ACCOUNT_URL) with claim_store.account_key (or AZURE_STORAGE_KEY) "
    "or claim_store.sas_token (or AZURE_STORAGE_SAS_TOKEN)."
)
_NEEDS_KEY = (
    "the azure_blob claim store needs claim_store.encryption_key (or CNAB_CLAIM_ENCRYPTION_KEY) to %s sensitive values."
)


def _import_sdk():
    return require_library("azure.storage.blob", "azure-storage-blob", "the azure_blob claim store", ClaimStoreError)


def _sdk_errors():
    try:
        from azure.core.exceptions import AzureError
    except ImportError:  # then nothing of the SDK can raise
        return ()
    return (AzureError,)


def _account_name(url):
    """The account of an account URL: the first host label, or the first path part for the emulator."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1") or host.replace(".", "").isdigit():
        return parts.path.strip("/").split("/")[0]
    return host.split(".")[0]


def _service_client(options):
    sdk = _import_sdk()
    from azure.storage.blob import LinearRetry

    # Fail fast when the service is down: the SDK's default waits 15 s and more between retries.
    settings = dict(connection_timeout=5, read_timeout=30,
                    retry_policy=LinearRetry(backoff=0.5, retry_total=2, random_jitter_range=0.2))
    if options.get("connection_string"):
        return sdk.BlobServiceClient.from_connection_string(options["connection_string"], **settings)
    url = options.get("account_url")
    if url and options.get("account_key"):
        credential = {"account_name": _account_name(url), "account_key": options["account_key"]}
        return sdk.BlobServiceClient(url, credential=credential, **settings)
    if url and options.get("sas_token"):
        from azure.core.credentials import AzureSasCredential

        credential = AzureSasCredential(options["sas_token"].lstrip("?"))
        return sdk.BlobServiceClient(url, credential=credential, **settings)
    raise ClaimStoreError(_MISSING_ONE_OF)


def _reason(exc):
    """One line from an SDK error, which may span many (headers, request ids, XML)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    line = message.strip().splitlines()[0].strip()
    if line.startswith("<") and ">: " in line:  # "<urllib3...Connection object at 0x..>: Failed to ..."
        line = line.split(">: ", 1)[1]
    # A URL in the message may carry a SAS token; its signature is a secret.
    line = re.sub(r"([?&]sig=)[^&\s'\"]+", r"\1********", line)
    return line.rstrip(".")


def _dump(document):
    return json.dumps(document, indent=1, sort_keys=True).encode("utf-8")


def _load(blob_name, data):
    return model.load_record(data, blob_name)


def _index_entries(blob_name, document):
    """The ids and output names an index names, each checked before it becomes part of a blob name."""
    if not isinstance(document, dict):
        raise model.MalformedRecord(blob_name, "it is not a JSON object")
    entries = indexed.record_ids(document, blob_name)
    for kind in ("outputs", "sensitiveOutputs"):
        names = document.get(kind) or {}
        if not isinstance(names, dict) or not all(isinstance(n, list) for n in names.values()):
            raise model.MalformedRecord(blob_name, "its %s entry is not an object of lists of output names" % kind)
        entries[kind] = {model.check_record_id(i, blob_name): [model.check_output_name(n, blob_name) for n in outputs]
                         for i, outputs in names.items()}
    return entries


def _lease_seconds(value):
    low, high = LEASE_RANGE
    return min(max(int(value or 30), low), high)


class AzureBlobStore(indexed.IndexedStore):
    def __init__(self, options):
        super().__init__()
        options = dict(options or {})
        container = options.get("container") or DEFAULT_CONTAINER
        self.where = container
        with self._errors("connect"):
            service = _service_client(options)
            self.where = "%s/%s" % (service.account_name, container)
            self._container = service.get_container_client(container)
        self._encryption_key = options.get("encryption_key") or None
        self.lease_seconds = _lease_seconds(options.get("lease_seconds"))
        self._aead = None
        self._fingerprint = None
        self._container_ready = False

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, doing):
        """SDK, transport and record errors become one ClaimStoreError sentence."""
        expected = _sdk_errors() + (OSError, ValueError, TypeError, KeyError, indexed.Refused)
        try:
            yield
        except ClaimStoreError:
            raise
        except expected as exc:
            raise ClaimStoreError(
                "the azure_blob claim store at %s could not %s: %s." % (self.where, doing, _reason(exc))
            ) from exc

    def errors(self, doing):
        """The context in which this store's failures become its sentence (for cnab_claim_store)."""
        return self._errors(doing)

    @property
    def container(self):
        """The SDK's client of the store's container (for cnab_claim_store)."""
        return self._container

    def _writable(self):
        """Create the container before the first write (once per store); reads never create it."""
        if not self._container_ready:
            with self._errors("create its container"):
                self._create_container()
            self._container_ready = True

    _ready_to_write = _writable

    def _create_container(self):
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            # A container-scoped SAS may not create containers: the container then exists already,
            # and the first real request reports it if not.
            if exc.status_code != 403:
                raise

    def _path(self, name, *parts):
        return "/".join(("installations", check_installation_name(name)) + parts)

    def _download(self, blob_name):
        """The blob's bytes, or None when there is no such blob."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._container.download_blob(blob_name).readall()
        except ResourceNotFoundError:
            return None

    def _download_all(self, blob_names):
        """name -> bytes; several downloads at once, as each is one round trip."""
        if len(blob_names) < 2:
            return {n: self._download(n) for n in blob_names}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(_DOWNLOAD_THREADS, len(blob_names))) as pool:
            return dict(zip(blob_names, pool.map(self._download, blob_names)))

    def _upload(self, blob_name, data):
        self._container.upload_blob(blob_name, data, overwrite=True)

    def _upload_once(self, blob_name, data):
        """Upload unless the blob exists (If-None-Match: *); True when this call created it."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self._container.upload_blob(blob_name, data, overwrite=False)
            return True
        except ResourceExistsError:
            return False

    # -- records and the index: the primitives of IndexedStore (a record is (blob name, bytes)) --

    def _create_once(self, record):
        return self._upload_once(*record)

    def _stored_as(self, record):
        blob_name, data = record
        return self._download(blob_name) == data

    def _already_written(self, record):
        return ClaimStoreError("the azure_blob claim store at %s already holds %s: claims and results are written once."
                               % (self.where, record[0]))

    def _read_index(self, name):
        from azure.core.exceptions import ResourceNotFoundError

        blob_name = self._path(name, _INDEX)
        try:
            downloader = self._container.download_blob(blob_name)
            etag, document = downloader.properties.etag, _load(blob_name, downloader.readall())
        except ResourceNotFoundError:
            etag, document = None, {}
        return etag, _index_entries(blob_name, document)

    def _store_index(self, name, etag, entries):
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        blob = self._container.get_blob_client(self._path(name, _INDEX))
        try:
            if etag is None:
                stored = blob.upload_blob(_dump(entries), overwrite=False)
            else:
                stored = blob.upload_blob(_dump(entries), overwrite=True, etag=etag,
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None
        return stored["etag"]

    def _index_label(self, name):
        return self._path(name, _INDEX)

    # -- the store's API --------------------------------------------------------------------

    def _read_records(self, name, wanted):
        blob_names = [self._path(name, kind + "s", record_id + ".json") for record_id, kind in wanted]
        blobs = self._download_all(blob_names)
        for blob_name in blob_names:
            # A blob deleted by hand is simply gone.
            yield blob_name, None if blobs[blob_name] is None else _load(blob_name, blobs[blob_name])

    def installation_names(self):
        from azure.core.exceptions import ResourceNotFoundError

        with self._errors("list installations"):
            prefixes = self._container.walk_blobs(name_starts_with="installations/", delimiter="/")
            try:
                names = [p.name[len("installations/"):].rstrip("/") for p in prefixes]
            except ResourceNotFoundError:  # no container yet: nothing was written
                return []
            return sorted(n for n in names if is_installation_name(n))

    def _claim_record(self, installation, claim_id, claim, sensitive_parameters):
        def write_sensitive_parameters():
            if sensitive_parameters:
                # Key first: without it nothing of the claim is written.
                aead = self._cipher("store")
                sealed_name = self._path(installation, "sensitive", claim_id + ".parameters")
                self._upload(sealed_name, self._seal(aead, sealed_name, _dump(sensitive_parameters)))

        return (self._path(installation, "claims", claim_id + ".json"), _dump(claim)), write_sensitive_parameters

    def _result_record(self, installation, result_id, result, outputs, sensitive_outputs):
        names = {"outputs": [], "sensitiveOutputs": []}  # filled as they are written, for the index

        def write_outputs():
            aead = self._cipher("store") if any(o in sensitive_outputs for o in outputs) else None
            for output, value in sorted(outputs.items()):
                model.check_output_name(output, "output %s of result %s" % (output, result_id))
                if output in sensitive_outputs:
                    sealed_name = self._path(installation, "sensitive", result_id, output)
                    self._upload(sealed_name, self._seal(aead, sealed_name, value))
                    names["sensitiveOutputs"].append(output)
                else:
                    self._upload(self._path(installation, "outputs", result_id, output), value)
                    names["outputs"].append(output)

        return (self._path(installation, "results", result_id + ".json"), _dump(result)), write_outputs, names

    def sensitive_parameters(self, installation, claim_id):
        with self._errors("read the sensitive parameters of installation %s" % installation):
            claim_id = model.check_record_id(claim_id, "a claim of installation %s" % installation)
            blob_name = self._path(installation, "sensitive", claim_id + ".parameters")
            data = self._download(blob_name)
            if data is None:
                return {}
            return model.read_sensitive_parameters(_load(blob_name, self._open(blob_name, data)), blob_name)

    def output_values(self, installation, result_id):
        with self._errors("read the outputs of installation %s" % installation):
            result_id = model.check_record_id(result_id, "a result of installation %s" % installation)
            entries = self._index(installation)[1]
            if result_id not in entries["results"]:  # recorded after the index was last read
                entries = self._index(installation, fresh=True)[1]
            plain = [self._path(installation, "outputs", result_id, n) for n in entries["outputs"].get(result_id, [])]
            sealed = [self._path(installation, "sensitive", result_id, n)
                      for n in entries["sensitiveOutputs"].get(result_id, [])]
            blobs = self._download_all(plain + sealed)
            values = {}
            for blob_name, data in sorted(blobs.items()):
                if data is not None:
                    output = blob_name.rsplit("/", 1)[1]
                    values[output] = self._open(blob_name, data) if blob_name in sealed else data
            return values

    def fingerprint_key(self, create=True):
        if self._fingerprint is None:
            with self._errors("read its fingerprint key"):
                self._fingerprint = self._shared_secret(_FINGERPRINT, 32, create)
        return self._fingerprint

    def _shared_secret(self, blob_name, size, create=True):
        """Random bytes created once per store; a concurrent creator reads the winner's.
        None when there are none yet and ``create`` is false."""
        data = self._download(blob_name)
        if data is None:
            if not create:
                return None
            self._writable()
            self._upload_once(blob_name, os.urandom(size))
            data = self._download(blob_name)
        if not data or len(data) != size:
            raise indexed.Refused("%s holds %d bytes instead of %d" % (blob_name, len(data or b""), size))
        return data

    # -- sensitive values -------------------------------------------------------------------

    def _cipher(self, doing):
        """The store's AES-256-GCM cipher; raises before anything is written when there is no key."""
        if not self._encryption_key:
            raise ClaimStoreError(_NEEDS_KEY % doing)
        if self._aead is None:
            needed_for = "encrypting sensitive values in the azure_blob claim store"
            AESGCM = require_library("cryptography.hazmat.primitives.ciphers.aead", "cryptography", needed_for,
                                     ClaimStoreError).AESGCM
            Scrypt = require_library("cryptography.hazmat.primitives.kdf.scrypt", "cryptography", needed_for,
                                     ClaimStoreError).Scrypt
            salt = self._shared_secret(_SALT, 16)
            # scrypt, not a plain hash: the key is often a passphrase, and the salt sits next to the data.
            key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(str(self._encryption_key).encode("utf-8"))
            self._aead = AESGCM(key)
        return self._aead

    @staticmethod
    def _seal(aead, blob_name, data):
        nonce = os.urandom(_NONCE)
        # The blob name is authenticated too: a value copied to another record does not decrypt.
        return _SEALED + nonce + aead.encrypt(nonce, data, blob_name.encode("utf-8"))

    def _open(self, blob_name, data):
        from cryptography.exceptions import InvalidTag

        aead = self._cipher("read")
        if data[:1] != _SEALED or len(data) < 1 + _NONCE + 16:
            raise ClaimStoreError("the azure_blob claim store at %s holds %s in an unknown format." % (self.where, blob_name))
        try:
            return aead.decrypt(data[1:1 + _NONCE], data[1 + _NONCE:], blob_name.encode("utf-8"))
        except InvalidTag as exc:
            raise ClaimStoreError(
                "the azure_blob claim store at %s cannot decrypt %s: claim_store.encryption_key does not match "
                "the key its sensitive values were stored with." % (self.where, blob_name)
            ) from exc

    # -- the lock: the primitives of IndexedStore ---------------------------------------------

    def _lock_blob(self, name):
        return self._container.get_blob_client(self._path(name, "lock"))

    def _try_lock(self, name):
        """A lease of the lock blob, unless another holds it (409: LeaseAlreadyPresent, or a lease still breaking)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        blob = self._lock_blob(name)
        for attempt in (1, 2):
            try:
                return indexed.Held(name, blob.acquire_lease(lease_duration=self.lease_seconds)), None
            except ResourceNotFoundError:
                if attempt == 2:
                    raise
                self._upload_once(blob.blob_name, b"")  # the installation's first lock
            except ResourceExistsError:
                return None, None
        return None, None

    def _announce(self, held):
        # Identity goes in after the lease is ours, for the message a waiter prints.
        with self._errors("record the holder of the lock of installation %s" % held.installation):
            self._lock_blob(held.installation).set_blob_metadata({_HOLDER: json.dumps(lock_holder_identity())},
                                                                 lease=held.lease)

    def _renew_lease(self, held):
        """Azure renews an expired lease unless the blob was leased again since: only then (409) or
        when it was broken is it lost."""
        from azure.core.exceptions import HttpResponseError

        try:
            held.lease.renew()
        except HttpResponseError as exc:
            if exc.status_code not in (404, 409, 412):
                raise  # the service failed: the lease may still be ours
            owner = None
            with contextlib.suppress(Exception):
                owner = self._lock_state(held.installation)[1]
            raise indexed.LockLost(owner) from exc

    def _release_lease(self, held):
        held.lease.release()

    def _lock_state(self, name):
        """(leased?, holder identity or None) of the installation's lock blob."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            properties = self._lock_blob(name).get_blob_properties()
        except ResourceNotFoundError:
            return False, None
        if properties.lease.state != "leased":
            return False, None
        try:
            holder = json.loads(properties.metadata.get(_HOLDER) or "null")
        except ValueError:
            return True, None
        return True, holder if isinstance(holder, dict) else None

    def lock_holder(self, name):
        with self._errors("read the lock of installation %s" % name):
            return self._lock_state(name)[1]

    def break_lock(self, name):
        with self._errors("break the lock of installation %s" % name):
            leased, holder = self._lock_state(name)
            if not leased:
                return None
            from azure.storage.blob import BlobLeaseClient

            BlobLeaseClient(self._lock_blob(name)).break_lease(lease_break_period=0)
            # A holder killed before it wrote its identity still held the lock.
            return holder or {"host": "unknown", "pid": "unknown", "since": "unknown"}


# -- for readers of other layouts in the same service (claims/porter_v0.py) -----------------


def container_client(options, container):
    """A client of ``container`` with this backend's connection options, timeouts and retries."""
    return _service_client(options).get_container_client(container)


def service_errors():
    """The SDK's exception classes (none when the SDK is missing)."""
    return _sdk_errors()


def error_reason(exc):
    """One line from an SDK error, a SAS signature in it masked."""
    return _reason(exc)
