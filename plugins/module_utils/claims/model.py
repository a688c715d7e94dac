"""CNAB Claims 1.0 records (claim, result, output metadata) and what they imply.

Claims and results are plain dicts shaped as the spec's JSON documents, so a store
writes them as they are. ``Installation`` is a read-only view over one
installation's claims and results; its status is derived, never stored.
"""

import datetime

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


def normal_status(status):
    return _ALIASES.get(status, status)


class Installation:
    """One installation's history: claims in ULID order, each with its results."""

    def __init__(self, name, claims, results):
        for record, keys in [(c, ("id", "action", "revision")) for c in claims] + [(r, ("id", "claimId", "status")) for r in results]:
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in keys):
                raise ValueError("a record lacks one of %s" % ", ".join(keys))
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
