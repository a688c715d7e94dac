"""The porter_v0 claim store: Porter v0.38's claims, results and outputs, read only, as Claims 1.0 records.

Porter v0 kept CNAB claims in the draft schema ``1.0.0-DRAFT+b5ed2f3`` (``schema.json``:
``{"claims": "cnab-claim-1.0.0-DRAFT+b5ed2f3"}``), in one of two layouts:

- its home directory (``path``, default ``$PORTER_HOME``, else ``~/.porter``; cnab-go's file store)::

    installations/<installation>                    an empty marker file
    claims/<installation>/<claimId>.json
    results/<claimId>/<resultId>.json
    outputs/<resultId>/<resultId>-<output>          the output's bytes
    schema.json

- a blob container of its ``azure.blob`` storage plugin (``container``, default ``porter``, reached with the
  azure_blob backend's connection options). Blob names are ``path.Join(itemType, name)`` (the plugin's
  sources): ``claims/<claimId>``, ``results/<resultId>``, ``outputs/<resultId>-<output>``,
  ``installations/<installation>``, ``schema``; the grouping lives in blob index tags, which this reader does
  not need: a claim names its installation, a result its claim, and an output blob starts with its result id.

Records are mapped to what the other stores hold (``claim_record``, ``result_record``): the draft's fields
carry over, the claim's ``custom["cnab.runtime"]`` gets the bundle digest, ``modifies`` (from the bundle's
action) and the names of its sensitive parameters, whose values (Porter kept them in the claim) move out of
the shareable record; result statuses are the spec's (``cancelled`` reads as ``canceled``); output values are
checked against their recorded ``contentDigest`` and one that does not match is left out with a warning,
as is one whose bytes are missing. ``io.cnab.outputs.invocationImageLogs`` (the logs, as cnab-go records
them) stays an output of its result. The fingerprints that decide idempotency are keyed by the destination
store, so ``transfer.copy_installations`` adds them.

The store never writes, locks or deletes: every such call is a ``ReadOnlyStoreError``.
"""

import contextlib
import hashlib
import os

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers, parameter_sources
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle, parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import (
    RUNTIME_KEY,
    Installation,
    normal_status,
)
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import ClaimStore
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ActionError,
    ClaimStoreError,
    ReadOnlyStoreError,
)

DEFAULT_CONTAINER = "porter"  # the azure.blob plugin's container name (fixed in the plugin)
CLAIM_SCHEMA = "cnab-claim-1.0.0-DRAFT+b5ed2f3"
CLAIMS_SCHEMA_VERSIONS = ("1.0.0-DRAFT+b5ed2f3", "1.0.0")
LOGS_OUTPUT = "io.cnab.outputs.invocationImageLogs"
STATUSES = ("canceled", "failed", "succeeded", "pending", "running", "unknown")
PORTER_CUSTOM = "sh.porter.v0.custom"  # where a record's non-object ``custom`` is kept
_DOWNLOAD_THREADS = 8


def default_home():
    return os.environ.get("PORTER_HOME") or os.path.join(os.path.expanduser("~"), ".porter")


def _identifier(value, what, where):
    """``value`` when it may become a path, blob name or key part (``identifiers``' rule for its kind);
    else a refusal naming the record."""
    if what == "installation name":
        problem = None if identifiers.is_installation_name(value) else (
            "installation name %s is not letters, digits, '.', '_' and '-' starting with a letter or digit"
            % identifiers.shown(value))
    elif what == "output name":
        problem = identifiers.output_name_problem(value)
    else:  # claim and result ids, revisions: ULIDs
        problem = identifiers.id_problem(value)
        problem = problem and problem.replace("its id", "its %s" % what, 1)
    if problem:
        raise _refuse(where, problem)
    return value


def _checked(reader, *args):
    try:
        return reader(*args)
    except model.MalformedRecord as exc:
        raise ClaimStoreError("%s." % exc) from exc


def _refuse(where, problem):
    return ClaimStoreError("%s cannot be read: %s." % (where, problem))


def _modifies(bundle, action):
    """(modifies, declared): from the bundle's action; an action it does not declare modifies nothing."""
    try:
        return bundle.action(action).modifies, True
    except ActionError:
        return False, False


def claim_record(document, installation, claim_id, where):
    """(Claims 1.0 claim without fingerprints, sensitive parameters, warnings) from a Porter v0 claim."""
    if not isinstance(document, dict):
        raise _refuse(where, "it is not a JSON object")
    version = document.get("schemaVersion")
    if version not in CLAIMS_SCHEMA_VERSIONS:
        raise _refuse(where, "its schemaVersion %r is not one Porter v0 wrote (%s)" % (version, ", ".join(CLAIMS_SCHEMA_VERSIONS)))
    for key in ("id", "installation", "revision", "action", "created"):
        if not isinstance(document.get(key), str):
            raise _refuse(where, "its %s is not a string" % key)
    if document["id"] != claim_id:
        raise _refuse(where, "its id %r is not the %r its name says" % (document["id"], claim_id))
    if document["installation"] != installation:
        raise _refuse(where, "it names installation %r instead of %r" % (document["installation"], installation))
    _identifier(document["revision"], "revision", where)
    if not isinstance(document.get("bundle"), dict):
        raise _refuse(where, "its bundle is not a JSON object")
    parameters = document.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise _refuse(where, "its parameters are not a JSON object")
    bundle = Bundle(document["bundle"])
    undeclared = sorted(set(parameters) - set(bundle.parameters))
    if undeclared:
        raise _refuse(where, "it records parameter %s, which its bundle does not declare" % identifiers.shown(undeclared[0]))
    public, sensitive, sourced = {}, {}, {}
    fed_by_outputs = parameter_sources.sourced_parameter_names(bundle)
    for name, value in parameters.items():
        if bundle.is_sensitive_parameter(name):
            sensitive[name] = value
        elif name in fed_by_outputs:
            # Porter recorded the value its source gave; this runtime records a sourced parameter only
            # when the user gives it, and resolves it afresh for every run. Kept apart, for the history.
            sourced[name] = value
        else:
            public[name] = value
    modifies, declared = _modifies(bundle, document["action"])
    warnings = [] if declared else [
        '%s: action "%s" is not declared by its bundle, so it is copied as an action that modifies nothing.'
        % (where, document["action"])]
    original = document.get("custom")
    custom = {k: v for k, v in original.items() if k != RUNTIME_KEY} if isinstance(original, dict) else {}
    if original is not None and not isinstance(original, dict):
        custom[PORTER_CUSTOM] = original
    custom[RUNTIME_KEY] = {"bundleDigest": bundle.digest, "modifies": modifies,
                           "sensitiveParameters": sorted(sensitive), "importedFrom": "porter_v0"}
    if sourced:
        custom[RUNTIME_KEY]["porterSourcedParameters"] = sourced
    claim = {
        "schemaVersion": "1.0.0",
        "id": claim_id,
        "installation": installation,
        "revision": document["revision"],
        "created": document["created"],
        "action": document["action"],
        "bundle": document["bundle"],
        "parameters": public,
        "custom": custom,
    }
    if isinstance(document.get("bundleReference"), str) and document["bundleReference"]:
        claim["bundleReference"] = document["bundleReference"]
    return claim, sensitive, warnings


def result_record(document, result_id, installation, claims, where):
    """(Claims 1.0 result, {output: recorded digest}) from a Porter v0 result; ``claims``: the
    installation's, by id."""
    if not isinstance(document, dict):
        raise _refuse(where, "it is not a JSON object")
    for key in ("id", "claimId", "created", "status"):
        if not isinstance(document.get(key), str):
            raise _refuse(where, "its %s is not a string" % key)
    if document["id"] != result_id:
        raise _refuse(where, "its id %r is not the %r its name says" % (document["id"], result_id))
    claim = claims.get(document["claimId"])
    if claim is None:
        raise _refuse(where, "it names claim %r, which is not a claim of installation %s"
                      % (document["claimId"], installation))
    status = normal_status(document["status"])
    if status not in STATUSES:
        raise _refuse(where, "its status %r is not a CNAB result status" % document["status"])
    result = {"id": result_id, "claimId": claim["id"], "created": document["created"], "status": status}
    if isinstance(document.get("message"), str) and document["message"]:
        result["message"] = document["message"]
    if document.get("custom") is not None:
        # Readers of this runtime's records take custom to be an object; another value is kept inside one.
        original = document["custom"]
        result["custom"] = dict(original) if isinstance(original, dict) else {PORTER_CUSTOM: original}
    outputs = document.get("outputs") or {}
    if not isinstance(outputs, dict) or not all(isinstance(m, dict) for m in outputs.values()):
        raise _refuse(where, "its outputs are not an object of output metadata")
    bundle = Bundle(claim["bundle"])
    metadata, digests = {}, {}
    for name, meta in sorted(outputs.items()):
        _identifier(name, "output name", where)
        meta = dict(meta)
        digests[name] = meta.get("contentDigest")
        if bundle.is_sensitive_output(name):
            # As for outputs this runtime records: no digest of a secret in the shareable record.
            meta.pop("contentDigest", None)
        metadata[name] = meta
    if metadata:
        result["outputs"] = metadata
    return result, digests


def digest_problem(data, digest):
    """None when ``data`` matches the recorded ``digest`` (or none was recorded), else why not."""
    if not digest:
        return None
    algorithm, _unused, expected = str(digest).partition(":")
    if algorithm != "sha256":
        return "its content digest %s uses an algorithm this reader cannot check" % digest
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        return "its bytes have digest sha256:%s, not the recorded %s" % (actual, digest)
    return None


def _json(data, where):
    # The one bounded reader of outside JSON (depth and size), with its sentences.
    return parse_json(data, where, error=ClaimStoreError)


class _Files:
    """Porter's home directory (cnab-go's file store)."""

    def __init__(self, root):
        self.root = root
        self.where = "the porter_v0 claim store at %s" % root

    def _read(self, *parts):
        path = os.path.join(self.root, *parts)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ClaimStoreError("%s could not read %s: %s." % (self.where, path, exc.strerror)) from exc

    def _list(self, *parts):
        try:
            return sorted(os.listdir(os.path.join(self.root, *parts)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise ClaimStoreError("%s could not list %s: %s." % (self.where, "/".join(parts), exc.strerror)) from exc

    def check_present(self):
        if not os.path.isdir(self.root):
            raise ClaimStoreError("%s does not exist (set claim_store.path, or PORTER_HOME, to Porter's home)." % self.where)

    def schema(self):
        return self._read("schema.json"), os.path.join(self.root, "schema.json")

    def installation_names(self):
        directories = {n for n in self._list("claims") if os.path.isdir(os.path.join(self.root, "claims", n))}
        return set(self._list("installations")) | directories

    def _documents(self, directory):
        found = []
        for entry in self._list(*directory):
            if entry.endswith(".json"):
                where = "%s (%s)" % (self.where, "/".join(directory + (entry,)))
                found.append((where, entry[:-len(".json")], _json(self._read(*directory + (entry,)), where)))
        return found

    def claims(self, installation):
        return self._documents(("claims", installation))

    def results(self, claim_id):
        return self._documents(("results", claim_id))

    def output(self, result_id, name):
        return self._read("outputs", result_id, "%s-%s" % (result_id, name))


@contextlib.contextmanager
def _translated(azure_blob, where, doing):
    """The Azure SDK's and transport errors as one ClaimStoreError sentence."""
    handled = azure_blob.service_errors() + (OSError,)
    try:
        yield
    except ClaimStoreError:
        raise
    except handled as exc:
        raise ClaimStoreError("%s could not %s: %s." % (where, doing, azure_blob.error_reason(exc))) from exc


class _Blobs:
    """A container of Porter's azure.blob plugin; read whole once (blob names carry no installation)."""

    def __init__(self, options, container):
        from ansible_collections.cnab.runtime.plugins.module_utils.claims import azure_blob

        self._azure = azure_blob
        self.where = "the porter_v0 claim store at container %s" % container
        with self._errors("connect"):
            self._container = azure_blob.container_client(options, container)
            self.where = "the porter_v0 claim store at %s/%s" % (self._container.account_name, container)
        self._snapshot = None

    def _errors(self, doing):
        return _translated(self._azure, self.where, doing)

    def _download(self, blob_name):
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._container.download_blob(blob_name).readall()
        except ResourceNotFoundError:
            return None

    def _read_all(self):
        if self._snapshot is not None:
            return self._snapshot
        from concurrent.futures import ThreadPoolExecutor

        with self._errors("read its blobs"):
            names = [b.name for b in self._container.list_blobs()]
            records = [n for n in names if n.startswith(("claims/", "results/"))] + (["schema"] if "schema" in names else [])
            with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
                contents = dict(zip(records, pool.map(self._download, records)))
        snapshot = {"claims": {}, "results": {}, "installations": set(), "schema": contents.get("schema")}
        for name in names:
            kind, _unused, rest = name.partition("/")
            where = "%s (blob %s)" % (self.where, name)
            if kind == "installations" and rest:
                snapshot["installations"].add(rest)
            elif kind in ("claims", "results") and contents.get(name) is not None:
                # A claim is filed under its installation, a result under its claim.
                document = _json(contents[name], where)
                field = "installation" if kind == "claims" else "claimId"
                owner = document.get(field) if isinstance(document, dict) else None
                if not isinstance(owner, str):
                    raise _refuse(where, "its %s is not a string" % field)
                snapshot[kind].setdefault(owner, []).append((where, rest, document))
        self._snapshot = snapshot
        return snapshot

    def check_present(self):
        with self._errors("read its container"):
            present = self._container.exists()
        if not present:
            raise ClaimStoreError("%s does not exist (set claim_store.container to the plugin's container)." % self.where)

    def schema(self):
        return self._read_all()["schema"], "%s (blob schema)" % self.where

    def installation_names(self):
        snapshot = self._read_all()
        return snapshot["installations"] | set(snapshot["claims"])

    def claims(self, installation):
        return list(self._read_all()["claims"].get(installation, []))

    def results(self, claim_id):
        return list(self._read_all()["results"].get(claim_id, []))

    def output(self, result_id, name):
        with self._errors("read output %s of result %s" % (name, result_id)):
            return self._download("outputs/%s-%s" % (result_id, name))


class PorterV0Store(ClaimStore):
    """Porter v0's claims as an ``Installation`` per name; every write is refused."""

    def __init__(self, options):
        options = dict(options or {})
        if options.get("path") or not (options.get("connection_string") or options.get("account_url")):
            self._layout = _Files(os.path.abspath(os.path.expanduser(options.get("path") or default_home())))
        else:
            self._layout = _Blobs(options, options.get("container") or DEFAULT_CONTAINER)
        self.where = self._layout.where
        self.warnings = []
        self._checked = False
        self._installations = {}
        self._sensitive = {}  # (installation, claim id) -> sensitive parameter values
        self._digests = {}  # result id -> {output: recorded digest}

    def _warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    def _check(self):
        """Once: the store is there and holds claims of the schema this reader knows."""
        if self._checked:
            return
        self._layout.check_present()
        data, where = self._layout.schema()
        if data is not None:
            schema = _json(data, where)
            claims = schema.get("claims") if isinstance(schema, dict) else None
            if claims != CLAIM_SCHEMA:
                raise _refuse(where, "it names claims schema %r; this reader knows Porter v0.38's %s" % (claims, CLAIM_SCHEMA))
        self._checked = True

    def installation_names(self):
        self._check()
        return sorted(_identifier(n, "installation name", self.where) for n in self._layout.installation_names())

    def installation(self, name):
        self._check()
        _identifier(name, "installation name", self.where)
        if name not in self._installations:
            self._installations[name] = self._read_installation(name)
        return self._installations[name]

    def _read_installation(self, name):
        claims = {}
        for where, claim_id, document in self._layout.claims(name):
            _identifier(claim_id, "claim id", where)
            claim, sensitive, warnings = claim_record(document, name, claim_id, where)
            _checked(model.read_claim, claim, name, where, claim_id)  # the shape every store's reader checks
            for warning in warnings:
                self._warn(warning)
            claims[claim_id] = claim
            self._sensitive[(name, claim_id)] = sensitive
        results = {}
        for claim_id in sorted(claims):
            for where, result_id, document in self._layout.results(claim_id):
                _identifier(result_id, "result id", where)
                result, digests = result_record(document, result_id, name, claims, where)
                _checked(model.read_result, result, where, result_id)
                if result["claimId"] != claim_id:
                    self._warn("%s: the result is stored with claim %s but names claim %s, which is kept as its "
                               "claim." % (where, claim_id, result["claimId"]))
                if result_id in results:
                    raise _refuse(where, "result %s is stored twice" % result_id)
                results[result_id] = result
                self._digests[result_id] = digests
        for result in results.values():
            self._mark_outputs_holding_secrets(name, result, claims[result["claimId"]])
        return Installation(name, list(claims.values()), list(results.values()))

    def _mark_outputs_holding_secrets(self, installation, result, claim):
        """As a run does: an output the bundle does not declare sensitive but whose value holds a sensitive
        parameter of its claim (Porter stored it in clear) is recorded as sensitive, without its digest."""
        secrets = self._sensitive.get((installation, claim["id"])) or {}
        if not secrets or not result.get("outputs"):
            return
        bundle = Bundle(claim["bundle"])
        declared = {n for n in result["outputs"] if bundle.is_sensitive_output(n)}
        plain = {n: self._layout.output(result["id"], n) for n in result["outputs"] if n not in declared}
        plain = {n: data for n, data in plain.items() if data is not None}
        masker = v.Masker([v.to_text(value) for value in secrets.values()])
        holding = v.outputs_holding_secrets(plain, result["outputs"], declared, masker)
        if not holding:
            return
        custom = dict(result.get("custom") or {})
        custom[RUNTIME_KEY] = dict(custom.get(RUNTIME_KEY) or {}, sensitiveOutputs=sorted(declared | holding))
        result["custom"] = custom
        for name in sorted(holding):
            self._warn("result %s of installation %s: %s." % (result["id"], installation, v.secret_output_warning(name)))

    def sensitive_parameters(self, installation, claim_id):
        self.installation(installation)
        return dict(self._sensitive.get((installation, claim_id)) or {})

    def output_values(self, installation, result_id):
        self.installation(installation)
        values = {}
        for name, digest in sorted(self._digests.get(result_id, {}).items()):
            data = self._layout.output(result_id, name)
            where = 'output "%s" of result %s (installation %s)' % (name, result_id, installation)
            if data is None:
                self._warn("%s is recorded but its value is missing from %s: it is not copied." % (where, self.where))
                continue
            problem = digest_problem(data, digest)
            if problem:
                self._warn("%s is not copied: %s." % (where, problem))
                continue
            values[name] = data
        return values

    # -- never: this store is read only ---------------------------------------------------------

    def _read_only(self, doing):
        return ReadOnlyStoreError("%s is read-only: it cannot %s (Porter v0 claims are only read, to be copied "
                                  "with cnab_claim_copy or looked at with cnab_claim_info)." % (self.where, doing))

    def lock(self, name, timeout):
        raise self._read_only("lock installation %s" % name)

    def lock_holder(self, name):
        return None

    def break_lock(self, name):
        raise self._read_only("break the lock of installation %s" % name)

    def write_claim(self, installation, claim, sensitive_parameters):
        raise self._read_only("record a claim of installation %s" % installation)

    def write_result(self, installation, result, outputs, sensitive_outputs):
        raise self._read_only("record a result of installation %s" % installation)

    def fingerprint_key(self, create=True):
        if create:
            raise self._read_only("hold a fingerprint key")
        return None
