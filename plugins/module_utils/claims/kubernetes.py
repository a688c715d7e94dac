"""The kubernetes claim store: records as Secrets, the lock as a coordination.k8s.io/v1 Lease.

Everything lives in one namespace (``claim_store.namespace``, default ``cnab``), which
must exist: the store never creates namespaces. One object per record, and one index
per installation::

    Secret cnab-index-<installation>          index.json            cnab.io/record=index
    Secret cnab-claim-<claimId>               claim.json            cnab.io/record=claim
    Secret cnab-parameters-<claimId>          parameters.json       cnab.io/record=sensitive-parameters
    Secret cnab-outputs-<resultId>            <output>: value       cnab.io/record=outputs
    Secret cnab-sensitive-outputs-<resultId>  <output>: value       cnab.io/record=sensitive-outputs
    Secret cnab-result-<resultId>             result.json           cnab.io/record=result
    Secret cnab-fingerprint-key               key                   cnab.io/record=fingerprint-key
    Lease  cnab-lock-<installation>           holderIdentity: JSON of the holder's host, pid and since

Ids are ULIDs, lowercased; a name that would not be a DNS-1123 name is hashed. Record
Secrets are labelled ``app.kubernetes.io/managed-by=cnab.runtime``, ``cnab.io/record``
and ``cnab.io/installation``: the installation's name when it is a valid label value
(63 characters, no trailing ``.``, ``_`` or ``-``), else ``h-<sha256 prefix>``; the
real name is always in the ``cnab.io/installation`` annotation, so one installation's
objects can be found with a label selector (``kubectl get secrets -l ...``).

Reading an installation never lists: an API server evaluates a label selector by
scanning every Secret of the namespace, so a list costs more the more installations
the store holds. The index Secret names the installation's claims and results; a read
is one GET of the index and one GET per record (in parallel), whatever the store's size.
A record is written first (create-only), then committed by adding its id to the index,
an update conditional on the index's ``resourceVersion`` (409: read it again and retry):
the protocol of ``claims/indexed.py``, which this store gives its primitives.
A record whose commit never happened (the API server went away in between) is invisible
to reads; writing it again adopts it when its content is the same.

Sensitive values have Secrets of their own, so that claims, results and plain outputs
can be exported (``-l 'cnab.io/record in (claim,result,outputs)'``) without them.
Plain outputs are not in the result's Secret either, so that reading an installation's
history does not carry every output value.

Records are immutable: created once, never updated, and marked ``immutable``; only the
index changes. Outputs are created before their result, so a visible result always has
its outputs. A record larger than one Secret allows (1 MiB of data) is refused, not split;
so is a record that would grow the index past it (about 35,000 claims and results).

Requests go through k8s_api.Connection (shared with the kubernetes driver): the official SDK's configuration (kubeconfig, in-cluster service
account, exec and token auth, TLS) and its REST client, as plain JSON: the SDK's typed
API classes import hundreds of models (about a second per module run) for nothing here.
The SDK is imported only when a store is opened: this file ships in every module payload.
"""

import base64
import datetime
import hashlib
import json
import os
import re

from ansible_collections.cnab.runtime.plugins.module_utils.claims import indexed, model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import (
    check_installation_name,
    is_installation_name,
    lock_holder_identity,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError
from ansible_collections.cnab.runtime.plugins.module_utils.k8s_api import (
    DNS_SUBDOMAIN,
    MANAGED_BY,
    MANAGER,
    Connection,
    api_reason,
)

INSTALLATION = "cnab.io/installation"  # label (label-safe form) and annotation (the real name)
RECORD = "cnab.io/record"
CLAIM_ID = "cnab.io/claim"
RESULT_ID = "cnab.io/result"
FINGERPRINT_KEY = "cnab-fingerprint-key"
INDEX_KEY = "index.json"

MAX_SECRET_DATA = 1024 * 1024  # the API server's limit: the sum of a Secret's decoded values
READERS = 8  # parallel GETs of one installation's records

_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def _hashed(name):
    return "h-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def label_value(name):
    """The ``cnab.io/installation`` label of an installation: its name when that is a valid label value."""
    return name if _LABEL_VALUE.fullmatch(name) else _hashed(name)


def _object_name(prefix, suffix):
    """``<prefix>-<suffix>`` when that is a DNS-1123 name, else ``<prefix>-h-<hash of suffix>``."""
    name = "%s-%s" % (prefix, suffix)
    return name if len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name) else "%s-%s" % (prefix, _hashed(suffix))


def lease_seconds(options):
    """``options['lease_seconds']`` (default 30), refused below 1."""
    seconds = int(30 if options.get("lease_seconds") is None else options["lease_seconds"])
    if seconds < 1:
        raise ClaimStoreError("claim_store.lease_seconds must be at least 1 (it is %d)." % seconds)
    return seconds


def missing_namespace(namespace):
    return ClaimStoreError(
        "the kubernetes claim store cannot work in namespace %s: namespace %s does not exist; create it "
        "(roles/cnab_claims does) or set claim_store.namespace (CNAB_CLAIM_NAMESPACE) to an existing one."
        % (namespace, namespace)
    )


def store_errors(api, doing):
    """The kubernetes claim store's sentence for what failed while it tried ``doing`` over ``api`` (its
    ``Connection``): API and transport errors, Refused and malformed records; others (its own sentences) pass.
    The store and its preparing (claims/setup.py) both say so."""
    return api.errors("in namespace %s could not %s" % (api.namespace, doing),
                      stated=(indexed.Refused, model.MalformedRecord), malformed=True)


def lease_name(installation):
    return _object_name("cnab-lock", installation)


def record_name(kind, record_id):
    return _object_name("cnab-" + kind, str(record_id).lower())


def index_name(installation):
    return _object_name("cnab-index", installation)


def _entries(index):
    """The claim and result ids an index Secret names (none when there is no index); every id is
    checked before it becomes part of a Secret's name."""
    if index is None:
        return {"claims": [], "results": []}
    label = "Secret %s" % index["metadata"]["name"]
    document = model.load_record(_decode(_data(index, label)[INDEX_KEY]), label)
    if not isinstance(document, dict):
        raise model.MalformedRecord(label, "its index is not a JSON object")
    return indexed.record_ids(document, label)


def _data(secret, label):
    """A stored Secret's ``data``: an object of keys to base64 strings."""
    data = secret.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise model.MalformedRecord(label, "its data is not an object of base64 strings")
    return data


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _micro_time(moment):
    """A metav1.MicroTime: the API server parses exactly six fraction digits."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text):
    match = _TIME.match(text or "")
    if not match:
        return None
    whole, fraction, zone = match.groups()
    moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    offset = datetime.timedelta(0)
    if zone and zone != "Z":
        offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    return moment.replace(microsecond=int(((fraction or "") + "000000")[:6]), tzinfo=datetime.timezone(offset))


def _encode(value):
    return base64.b64encode(value).decode("ascii")


def _decode(value):
    return base64.b64decode(value or "")


def _dump(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _same_content(existing, secret):
    """True when ``existing`` is the Secret ``secret`` would create (same data, same installation)."""
    if existing is None:
        return False
    annotations = existing["metadata"].get("annotations") or {}
    return (annotations.get(INSTALLATION) == secret["metadata"]["annotations"].get(INSTALLATION)
            and (existing.get("data") or {}) == secret["data"])


def _exists(secret):
    return indexed.Refused("Secret %s already exists; records are never overwritten" % secret["metadata"]["name"])


def _holder_identity():
    """The holder's host, pid and since, plus a token: two stores of one process never look alike."""
    return json.dumps(dict(lock_holder_identity(), token=os.urandom(8).hex()), sort_keys=True)


def _holder(identity):
    """The holder a Lease's holderIdentity names: our JSON (without its token), or another tool's string."""
    try:
        holder = json.loads(identity)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):
        return {"host": identity, "pid": "?", "since": "?"}
    holder.pop("token", None)
    return holder


class KubernetesStore(indexed.IndexedStore):
    LOCK_PAUSES = (0.05, 1.0)

    def __init__(self, options):
        super().__init__()
        options = dict(options or {})
        self.namespace = options.get("namespace") or "cnab"
        self.lease_seconds = lease_seconds(options)
        self._connection = Connection(options, ClaimStoreError, "the kubernetes claim store", "claim_store.",
                                      missing_namespace=missing_namespace)  # a create answered 404
        self._api_exception = self._connection.api_exception
        self.host = self._connection.host
        self._base = {
            "secrets": self._connection.path("v1", "secrets"),
            "leases": self._connection.path("coordination.k8s.io/v1", "leases"),
        }
        self._namespace_checked = False

    # -- requests: k8s_api.Connection's verbs, on the store's two collections -----------------

    def _get(self, resource, name):
        """The object as the API's JSON, or None when there is none (404)."""
        return self._connection.get(self._base[resource], name)

    def _create(self, resource, body):
        """Create ``body``; None when an object of that name exists (409). A create answers 404 only for a
        missing namespace: that sentence."""
        return self._connection.create(self._base[resource], body)

    def _replace(self, resource, body):
        """Replace, conditional on ``metadata.resourceVersion``; None when it changed meanwhile (409)."""
        return self._connection.replace(self._base[resource], body)

    def _list_secrets(self, selector):
        return self._connection.list(self._base["secrets"], selector)

    def _errors(self, doing):
        """API, transport and record errors become one ClaimStoreError sentence."""
        return store_errors(self._connection, doing)

    def _missing_namespace(self):
        return missing_namespace(self.namespace)

    def _ensure_namespace(self):
        """Once per store, inside ``_errors``: a missing namespace is that sentence, not an empty store."""
        if self._namespace_checked:
            return
        try:
            self._connection.call("GET", self._connection.path("v1", "namespaces", self.namespace, namespaced=False))
        except self._api_exception as exc:
            if exc.status == 404:
                raise self._missing_namespace() from exc
            if exc.status != 403:  # 403: may use its Secrets without reading namespaces; a create will tell
                raise
        self._namespace_checked = True

    _ready_to_read = _ready_to_write = _ensure_namespace

    # -- records: the primitives of IndexedStore ----------------------------------------------

    def _secret(self, name, labels, annotations, data, immutable=True):
        size = sum(len(value) for value in data.values())
        if size > MAX_SECRET_DATA:
            # Splitting a record over several Secrets would make writing it non-atomic: refuse it.
            raise indexed.Refused("%s would hold %.2f MiB, too large for one Kubernetes Secret (at most 1 MiB)"
                                  % (name, size / 1048576.0))
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "immutable": immutable,
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "data": {key: _encode(value) for key, value in sorted(data.items())},
        }

    def _record(self, installation, kind, record_id, record, data, ids):
        """The Secret of one record: labelled for selection, annotated with the installation's real name."""
        labels = {MANAGED_BY: MANAGER, INSTALLATION: label_value(installation), RECORD: record}
        return self._secret(record_name(kind, record_id), labels, dict(ids, **{INSTALLATION: installation}), data)

    def _create_once(self, secret):
        try:
            return self._create("secrets", secret) is not None
        except self._api_exception as exc:
            if exc.status == 422 and "Too long" in (exc.body or ""):
                raise indexed.Refused("%s is too large for one Kubernetes Secret: %s"
                                      % (secret["metadata"]["name"], api_reason(exc))) from exc
            raise

    def _stored_as(self, secret):
        return _same_content(self._get("secrets", secret["metadata"]["name"]), secret)

    def _already_written(self, secret):
        return _exists(secret)

    def _create_all(self, secrets):
        """The parts of a record, each create-only too."""
        for secret in secrets:
            self._create_record(secret)

    def _read_index(self, installation):
        index = self._get("secrets", index_name(installation))
        if index is not None and (index["metadata"].get("annotations") or {}).get(INSTALLATION) != installation:
            raise indexed.Refused("Secret %s belongs to another installation" % index_name(installation))
        return index, _entries(index)

    def _store_index(self, installation, index, entries):
        labels = {MANAGED_BY: MANAGER, INSTALLATION: label_value(installation), RECORD: "index"}
        body = self._secret(index_name(installation), labels, {INSTALLATION: installation},
                            {INDEX_KEY: _dump(entries)}, immutable=False)
        try:
            if index is None:
                return self._create("secrets", body)
            body["metadata"]["resourceVersion"] = index["metadata"]["resourceVersion"]
            return self._replace("secrets", body)
        except self._api_exception as exc:
            if exc.status != 404:  # 404: the index was deleted meanwhile
                raise
            return None

    def _index_label(self, installation):
        return "Secret %s" % index_name(installation)

    def _own_secret(self, installation, name):
        secret = self._get("secrets", name)
        if secret is None or (secret["metadata"].get("annotations") or {}).get(INSTALLATION) != installation:
            return None
        return secret

    def _read_all(self, names):
        """name -> Secret (None when missing); several GETs at once, as each is one round trip."""
        if len(names) < 3:
            return {name: self._get("secrets", name) for name in names}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(READERS, len(names))) as pool:
            return dict(zip(names, pool.map(lambda name: self._get("secrets", name), names)))

    # -- the store's API --------------------------------------------------------------------

    def _read_records(self, installation, wanted):
        names = [record_name(kind, record_id) for record_id, kind in wanted]
        secrets = self._read_all(names)
        for secret_name, (unused, kind) in zip(names, wanted):
            secret = secrets[secret_name]
            label = "Secret %s" % secret_name
            if secret is None or (secret["metadata"].get("annotations") or {}).get(INSTALLATION) != installation:
                yield label, None  # deleted by hand, or a hashed name shared with another installation
                continue
            key = kind + ".json"
            data = _data(secret, label)
            if key not in data:
                raise model.MalformedRecord(label, "it holds no %s" % key)
            yield label, model.load_record(_decode(data[key]), label)

    def installation_names(self):
        selector = "%s=%s,%s=index" % (MANAGED_BY, MANAGER, RECORD)
        with self._errors("list installations"):
            self._ensure_namespace()
            names = {(item["metadata"].get("annotations") or {}).get(INSTALLATION)
                     for item in self._list_secrets(selector)}
        return sorted(name for name in names if is_installation_name(name))

    def _claim_record(self, installation, claim_id, claim, sensitive_parameters):
        self._ensure_namespace()
        ids = {CLAIM_ID: claim_id}
        parts = []
        if sensitive_parameters:
            parts.append(self._record(installation, "parameters", claim_id, "sensitive-parameters",
                                      {"parameters.json": _dump(sensitive_parameters)}, ids))
        record = self._record(installation, "claim", claim_id, "claim", {"claim.json": _dump(claim)}, ids)
        return record, lambda: self._create_all(parts)

    def _result_record(self, installation, result_id, result, outputs, sensitive_outputs):
        self._ensure_namespace()
        ids = {CLAIM_ID: result["claimId"], RESULT_ID: result_id}
        plain, sensitive = {}, {}
        for output, value in outputs.items():
            model.check_output_name(output, "output %s of result %s" % (output, result_id))
            (sensitive if output in sensitive_outputs else plain)[output] = value
        parts = []
        if plain:
            parts.append(self._record(installation, "outputs", result_id, "outputs", plain, ids))
        if sensitive:
            parts.append(self._record(installation, "sensitive-outputs", result_id, "sensitive-outputs", sensitive, ids))
        record = self._record(installation, "result", result_id, "result", {"result.json": _dump(result)}, ids)
        return record, lambda: self._create_all(parts), None

    def sensitive_parameters(self, installation, claim_id):
        check_installation_name(installation)
        with self._errors("read the sensitive parameters of installation %s" % installation):
            model.check_record_id(claim_id, "a claim of installation %s" % installation)
            self._ensure_namespace()
            secret = self._own_secret(installation, record_name("parameters", claim_id))
            if secret is None:
                return {}
            label = "Secret %s" % secret["metadata"]["name"]
            data = _data(secret, label)
            if "parameters.json" not in data:
                raise model.MalformedRecord(label, "it holds no parameters.json")
            return model.read_sensitive_parameters(model.load_record(_decode(data["parameters.json"]), label), label)

    def output_values(self, installation, result_id):
        check_installation_name(installation)
        values = {}
        with self._errors("read the outputs of installation %s" % installation):
            model.check_record_id(result_id, "a result of installation %s" % installation)
            self._ensure_namespace()
            for kind in ("outputs", "sensitive-outputs"):
                secret = self._own_secret(installation, record_name(kind, result_id))
                if secret is None:
                    continue
                label = "Secret %s" % secret["metadata"]["name"]
                for output, value in _data(secret, label).items():
                    values[model.check_output_name(output, label)] = _decode(value)
        return values

    def fingerprint_key(self, create=True):
        with self._errors("read its fingerprint key"):
            self._ensure_namespace()
            secret = self._get("secrets", FINGERPRINT_KEY)
            if secret is None and not create:
                return None
            if secret is None:
                labels = {MANAGED_BY: MANAGER, RECORD: "fingerprint-key"}
                # None (409): another run created it first; everyone uses the one stored.
                secret = self._create("secrets", self._secret(FINGERPRINT_KEY, labels, {}, {"key": os.urandom(32)}))
                secret = secret or self._get("secrets", FINGERPRINT_KEY)
            key = _decode(((secret or {}).get("data") or {}).get("key"))
            if len(key) < 32:
                raise indexed.Refused("Secret %s holds no key of at least 32 bytes" % FINGERPRINT_KEY)
            return key

    # -- the lock: the primitives of IndexedStore ---------------------------------------------

    def _lease(self, installation, spec, resource_version=None):
        metadata = {"name": lease_name(installation),
                    "labels": {MANAGED_BY: MANAGER, INSTALLATION: label_value(installation), RECORD: "lock"},
                    "annotations": {INSTALLATION: installation}}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    def _holder_of(self, lease):
        """Who holds a Lease: None when it has no holder or the holder let its lease expire."""
        spec = (lease or {}).get("spec") or {}
        if not spec.get("holderIdentity"):
            return None
        renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
        duration = spec.get("leaseDurationSeconds") or self.lease_seconds
        if renewed is None or renewed + datetime.timedelta(seconds=duration) < _now():
            return None
        return _holder(spec["holderIdentity"])

    def _try_lock(self, installation):
        holder = _holder_identity()
        current = self._get("leases", lease_name(installation))
        now = _micro_time(_now())
        spec = {"holderIdentity": holder, "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        if current is None:
            stored = self._create("leases", self._lease(installation, spec))
        else:
            owner = self._holder_of(current)
            if owner is not None:
                return None, owner
            # Free or expired: take it over, conditional on the version read (409: another run was faster).
            previous = current.get("spec") or {}
            transitions = previous.get("leaseTransitions") or 0
            spec["leaseTransitions"] = transitions + 1 if previous.get("holderIdentity") else transitions
            stored = self._replace("leases", self._lease(installation, spec, current["metadata"]["resourceVersion"]))
        return (indexed.Held(installation, stored, holder), None) if stored else (None, None)

    def _renew_lease(self, held):
        """Move renewTime on, conditional on this holder's last write."""
        for attempt in (1, 2):
            spec = dict(held.lease.get("spec") or {}, renewTime=_micro_time(_now()))
            stored = self._replace("leases", self._lease(held.installation, spec,
                                                         held.lease["metadata"]["resourceVersion"]))
            if stored is not None:
                held.lease = stored
                return
            current = self._get("leases", lease_name(held.installation))
            if attempt == 1 and current and (current.get("spec") or {}).get("holderIdentity") == held.holder:
                held.lease = current  # our earlier renewal went through but its answer was lost
                continue
            raise indexed.LockLost(self._holder_of(current))

    def _free(self, installation, lease):
        """Replace ``lease`` by one without a holder; None when it changed meanwhile (409)."""
        spec = {"leaseDurationSeconds": self.lease_seconds,
                "leaseTransitions": (lease.get("spec") or {}).get("leaseTransitions") or 0}
        return self._replace("leases", self._lease(installation, spec, lease["metadata"]["resourceVersion"]))

    def _release_lease(self, held):
        self._free(held.installation, held.lease)

    def lock_holder(self, name):
        check_installation_name(name)
        with self._errors("read the lock of installation %s" % name):
            self._ensure_namespace()
            return self._holder_of(self._get("leases", lease_name(name)))

    def break_lock(self, name):
        """Clear the Lease's holder (conditional on the version read); returns who held it, if anyone did.

        The Lease is cleared rather than deleted: a holder that is still alive then finds it changed
        (409) and knows it lost the lock, where an update of a deleted Lease would quietly create it
        again (Leases allow create-on-update)."""
        check_installation_name(name)
        with self._errors("break the lock of installation %s" % name):
            self._ensure_namespace()
            for attempt in range(5):
                lease = self._get("leases", lease_name(name))
                if lease is None or not (lease.get("spec") or {}).get("holderIdentity"):
                    return None
                owner = self._holder_of(lease)
                if self._free(name, lease) is not None:
                    return owner
            raise indexed.Refused("its Lease %s kept changing while it was being cleared" % lease_name(name))
