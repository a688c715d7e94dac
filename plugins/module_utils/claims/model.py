"""CNAB Claims 1.0 records (claim, result, output metadata) and what they imply.

Claims and results are plain dicts shaped as the spec's JSON documents, so a store
writes them as they are. ``Installation`` is a read-only view over one
installation's claims and results; its status is derived, never stored.
"""

import datetime
import json

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import MAX_JSON_DEPTH, nested_deeper_than

CLAIMS_VERSION = "CNAB-Claims-1.0.0"
RUNTIME_KEY = "cnab.runtime"  # our key inside the spec's ``custom`` objects

STATUS_PENDING = "pending"
STATUS_RUNNING = "running"
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"
STATUS_CANCELED = "canceled"
STATUS_UNKNOWN = "unknown"
IN_PROGRESS = (STATUS_PENDING, STATUS_RUNNING)
_ALIASES = {"cancelled": STATUS_CANCELED, "success": STATUS_SUCCEEDED, "failure": STATUS_FAILED}


def new_ulid():
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

    # python-ulid; 30 ms to import, so only when a record is written
    ulid = require_library("ulid", "python-ulid", "writing a claim")

    return str(ulid.ULID())


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def new_claim(installation, action, bundle, parameters, revision, runtime_custom):
    """A claim for one action. ``parameters`` must hold no sensitive value."""
    claim = {
        "schemaVersion": "1.0.0",
        "id": new_ulid(),
        "installation": installation,
        "revision": revision,
        "created": now(),
        "action": action,
        "bundle": bundle.document,
        "parameters": parameters,
        "custom": {RUNTIME_KEY: runtime_custom},
    }
    if bundle.reference:
        claim["bundleReference"] = bundle.reference
    return claim


def new_result(claim, status, message=None, outputs=None):
    result = {"id": new_ulid(), "claimId": claim["id"], "created": now(), "status": status}
    if message:
        result["message"] = message
    if outputs:
        result["outputs"] = outputs
    return result


def runtime_custom(claim):
    return (claim.get("custom") or {}).get(RUNTIME_KEY) or {}


# A claim holds its bundle (at most MAX_JSON_DEPTH levels deep) one level down; 10 levels of margin.
MAX_RECORD_DEPTH = MAX_JSON_DEPTH + 10
_BUNDLE_OBJECTS = ("parameters", "credentials", "outputs", "definitions", "actions", "custom", "images")
_BUNDLE_OBJECT_MAPS = ("parameters", "credentials", "outputs", "actions", "images")
# The keys of our ``custom`` object that the runtime reads, and the JSON type each must have.
_RUNTIME_FIELDS = {
    "bundleDigest": str, "indexDigest": str, "parametersFingerprint": str, "credentialsFingerprint": str,
    "driver": str, "bundleSource": str, "modifies": bool, "sensitiveParameters": list,
    "relocationMapping": dict, "invocationImage": dict, "signature": dict,
}
_JSON_TYPE = {str: "a string", bool: "a boolean", list: "a list", dict: "a JSON object"}


class MalformedRecord(ValueError):
    """A record read from a claim store that the runtime will not use; the message names it."""

    def __init__(self, label, problem):
        # A label may hold a name read from the store: no control character reaches the message.
        printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in label[:200])
        ValueError.__init__(self, "%s is refused: %s" % (printable, problem))


def load_record(data, label):
    """The JSON document a store holds under ``label``; invalid or absurdly nested JSON is refused."""
    try:
        document = json.loads(data)
    except RecursionError:
        raise MalformedRecord(label, "it is nested too deeply") from None
    except ValueError as exc:
        raise MalformedRecord(label, "it is not valid JSON (%s)" % exc) from exc
    if nested_deeper_than(document, MAX_RECORD_DEPTH):
        raise MalformedRecord(label, "it is nested more than %d levels deep" % MAX_RECORD_DEPTH)
    return document


def _type_problem(document, key, kind, required=False):
    value = document.get(key)
    if value is None:
        return "its %s is missing" % key if required else None
    if not isinstance(value, kind) or (kind is str and required and not value):
        return "its %s is not %s" % (key, ("a non-empty string" if kind is str and required else _JSON_TYPE[kind]))
    return None


def _bundle_problem(bundle):
    if not isinstance(bundle, dict):
        return "its bundle is missing" if bundle is None else "its bundle is not a JSON object"
    for key in ("name", "version", "schemaVersion"):
        if _type_problem(bundle, key, str):
            return "its bundle's %s is not a string" % key
    for key in _BUNDLE_OBJECTS:
        if _type_problem(bundle, key, dict):
            return "its bundle's %s is not a JSON object" % key
    for key in _BUNDLE_OBJECT_MAPS:
        for entry, value in (bundle.get(key) or {}).items():
            if not isinstance(value, dict):
                return "its bundle's %s entry %s is not a JSON object" % (key, identifiers.shown(entry))
    for entry, definition in (bundle.get("definitions") or {}).items():
        declared = definition.get("type") if isinstance(definition, dict) else None
        if declared is not None and not (isinstance(declared, str) or (
                isinstance(declared, list) and all(isinstance(t, str) for t in declared))):
            return ("its bundle's definition %s has a type that is neither a string nor a list of strings"
                    % identifiers.shown(entry))
    images = bundle.get("invocationImages")
    if images is not None and not (isinstance(images, list) and all(isinstance(i, dict) for i in images)):
        return "its bundle's invocationImages is not a list of JSON objects"
    return None


def _runtime_problem(claim):
    custom = claim.get("custom")
    if custom is None:
        return None
    if not isinstance(custom, dict):
        return "its custom is not a JSON object"
    ours = custom.get(RUNTIME_KEY)
    if ours is None:
        return None
    if not isinstance(ours, dict):
        return "its custom %r is not a JSON object" % RUNTIME_KEY
    for key, kind in _RUNTIME_FIELDS.items():
        if _type_problem(ours, key, kind):
            return "its custom %r field %s is not %s" % (RUNTIME_KEY, key, _JSON_TYPE[kind])
    if not all(isinstance(n, str) for n in ours.get("sensitiveParameters") or []):
        return "its custom %r field sensitiveParameters is not a list of strings" % RUNTIME_KEY
    if not all(isinstance(v, str) for v in (ours.get("relocationMapping") or {}).values()):
        return "its custom %r field relocationMapping does not map strings to strings" % RUNTIME_KEY
    return None


def claim_problem(claim, installation):
    """Why a stored claim of ``installation`` cannot be used, or None when it can."""
    if not isinstance(claim, dict):
        return "it is not a JSON object"
    problem = identifiers.id_problem(claim.get("id"))
    if problem:
        return problem
    if claim.get("installation") != installation:
        return "it names installation %s, not %r, the installation it is stored under" % (
            identifiers.shown(claim.get("installation")), installation)
    problem = (_type_problem(claim, "action", str, required=True) or _type_problem(claim, "revision", str, required=True)
               or _bundle_problem(claim.get("bundle")) or _type_problem(claim, "parameters", dict)
               or _runtime_problem(claim))
    if problem:
        return problem
    for key in ("created", "bundleReference", "schemaVersion"):
        problem = _type_problem(claim, key, str)
        if problem:
            return problem
    return None


def result_problem(result):
    """Why a stored result cannot be used, or None when it can."""
    if not isinstance(result, dict):
        return "it is not a JSON object"
    problem = identifiers.id_problem(result.get("id"))
    if problem:
        return problem
    if not identifiers.is_record_id(result.get("claimId")):
        return "its claimId is not a ULID"
    for key, kind, required in (("status", str, True), ("created", str, False), ("message", str, False),
                                ("outputs", dict, False)):
        problem = _type_problem(result, key, kind, required)
        if problem:
            return problem
    for name, metadata in (result.get("outputs") or {}).items():
        problem = identifiers.output_name_problem(name)
        if problem:
            return "its " + problem
        if not isinstance(metadata, dict):
            return "its output %r is not described by a JSON object" % name
    return None


def read_claim(claim, installation, label, record_id=None):
    """``claim`` as read from ``label``, checked for shape; ``record_id`` is the id its location names."""
    problem = claim_problem(claim, installation)
    if problem is None and record_id is not None and claim["id"] != record_id:
        problem = "it holds claim %s, not the claim %s its location names" % (claim["id"], record_id)
    if problem:
        raise MalformedRecord(label, problem)
    return claim


def read_result(result, label, record_id=None):
    problem = result_problem(result)
    if problem is None and record_id is not None and result["id"] != record_id:
        problem = "it holds result %s, not the result %s its location names" % (result["id"], record_id)
    if problem:
        raise MalformedRecord(label, problem)
    return result


def read_sensitive_parameters(document, label):
    """A claim's stored sensitive parameters: an object of parameter names to values."""
    if not isinstance(document, dict):
        raise MalformedRecord(label, "it is not a JSON object of parameter values")
    return document


def check_record_id(value, label):
    """An id that is about to become part of a path or key: a ULID, or a refusal naming ``label``."""
    problem = identifiers.id_problem(value)
    if problem:
        raise MalformedRecord(label, problem)
    return value


def check_output_name(name, label):
    problem = identifiers.output_name_problem(name)
    if problem:
        raise MalformedRecord(label, "its " + problem)
    return name


def normal_status(status):
    return _ALIASES.get(status, status)


def _id_of(record):
    return record.get("id") if isinstance(record, dict) else None


class Installation:
    """One installation's history: claims in ULID order, each with its results."""

    def __init__(self, name, claims, results):
        """``claims`` and ``results`` are records as checked by ``read_claim`` and ``read_result``."""
        for claim in claims:
            read_claim(claim, name, "claim %s of installation %s" % (identifiers.shown(_id_of(claim)), name))
        for result in results:
            read_result(result, "result %s of installation %s" % (identifiers.shown(_id_of(result)), name))
        self.name = name
        self.claims = sorted(claims, key=lambda c: c["id"])
        self.results = {}
        for result in sorted(results, key=lambda r: r["id"]):
            self.results.setdefault(result["claimId"], []).append(result)

    @property
    def snapshot(self):
        """Ids of the newest claim and result: equal snapshots mean nothing was recorded in between."""
        newest_result = max((r["id"] for rs in self.results.values() for r in rs), default="")
        return (self.claims[-1]["id"] if self.claims else "", newest_result)

    @property
    def exists(self):
        return bool(self.claims)

    def last_result(self, claim):
        results = self.results.get(claim["id"])
        return results[-1] if results else None

    def status_of(self, claim):
        result = self.last_result(claim)
        return normal_status(result["status"]) if result else STATUS_UNKNOWN

    def modifying_claims(self):
        return [c for c in self.claims if runtime_custom(c).get("modifies", True)]

    @property
    def last_modifying(self):
        claims = self.modifying_claims()
        return claims[-1] if claims else None

    @property
    def last_successful_modifying(self):
        for claim in reversed(self.modifying_claims()):
            if self.status_of(claim) == STATUS_SUCCEEDED:
                return claim
        return None

    @property
    def installed(self):
        """True when a modifying action succeeded and no uninstall succeeded after it."""
        claim = self.last_successful_modifying
        return claim is not None and claim["action"] != "uninstall"

    @property
    def in_progress_claim(self):
        last = self.claims[-1] if self.claims else None
        if last is not None and self.status_of(last) in IN_PROGRESS:
            return last
        return None

    @property
    def current_revision(self):
        claim = self.last_modifying
        return claim["revision"] if claim else None

    @property
    def status(self):
        """installed, uninstalled, failed, running or unknown."""
        claim = self.last_modifying
        if claim is None:
            return STATUS_UNKNOWN
        status = self.status_of(claim)
        if status in IN_PROGRESS:
            return STATUS_RUNNING
        if status == STATUS_SUCCEEDED:
            return "uninstalled" if claim["action"] == "uninstall" else "installed"
        if status in (STATUS_FAILED, STATUS_CANCELED):
            return STATUS_FAILED
        return STATUS_UNKNOWN
