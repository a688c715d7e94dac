"""The emulator's in-memory API objects: namespaces, Secrets, Leases, and the ServiceAccounts,
Roles and RoleBindings that ``cnab.runtime.cnab_claim_store`` creates for the store.

Everything the HTTP layer does goes through ``Cluster``, under one lock, so each
request is atomic as it is in the API server (etcd transactions). Objects are plain
JSON dicts; callers always get copies. Errors are ``ApiError`` carrying the Status
object the real API server returns (reason, code, message, details).
"""

import base64
import binascii
import copy
import datetime
import json
import re
import threading
import uuid

from . import validation
from .selectors import SelectorError, fields_match, labels_match, parse_field_selector, parse_label_selector


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            status["details"] = self.details
        return status


def bad_request(message):
    return ApiError(400, "BadRequest", message)


class Resource:
    """One resource type: its names, scope, and how a request body becomes a stored object."""

    def __init__(self, group, version, plural, kind, namespaced, prepare, causes, fields=(),
                 create_on_update=False, unconditional_update=True):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.prepare = prepare
        self.causes = causes
        self.fields = ("metadata.name", "metadata.namespace") + tuple(fields)
        # The registry strategy's AllowCreateOnUpdate and AllowUnconditionalUpdate.
        self.create_on_update = create_on_update
        self.unconditional_update = unconditional_update

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """``secrets``, ``leases.coordination.k8s.io``: how Status messages name the resource."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def details(self, name, **extra):
        details = {"name": name, "kind": self.plural}
        if self.group:
            details["group"] = self.group
        details.update(extra)
        return details

    def not_found(self, name):
        return ApiError(404, "NotFound", '%s "%s" not found' % (self.qualified, name), self.details(name))

    def already_exists(self, name):
        return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (self.qualified, name), self.details(name))

    def conflict(self, name, why):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (self.qualified, name, why),
                        self.details(name))

    def invalid(self, name, causes, kind=None):
        """422 Invalid; ``kind`` is what the server names the object by (the Kind, or the resource)."""
        kind = kind or self.kind
        texts = ["%s: %s" % cause for cause in causes]
        summary = texts[0] if len(texts) == 1 else "[%s]" % ", ".join(texts)
        details = {"name": name, "kind": kind,
                   "causes": [{"reason": _cause_reason(message), "message": message, "field": field}
                              for field, message in causes]}
        if self.group:
            details["group"] = self.group
        qualified = "%s.%s" % (kind, self.group) if self.group else kind
        return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qualified, name, summary), details)


def _cause_reason(message):
    for prefix, reason in (("Required value", "FieldValueRequired"), ("Too long", "FieldValueTooLong"),
                           ("Forbidden", "FieldValueForbidden"), ("Invalid value", "FieldValueInvalid"),
                           ("Unsupported value", "FieldValueNotSupported")):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# metav1.MicroTime decodes with Go's RFC3339Micro layout, which wants exactly six fraction digits:
# "2006-01-02T15:04:05.000000Z07:00". A whole-second time ("...:05+00:00") is a 400 on a real server.
_MICRO_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})(Z|[+-]\d\d:\d\d)")


def micro_time(value, kind):
    """A MicroTime as the server stores and returns it (UTC, ``Z``), or the server's 400."""
    match = _MICRO_TIME.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise bad_request('%s in version "v1" cannot be handled as a %s: parsing time "%s" as '
                          '"2006-01-02T15:04:05.000000Z07:00": cannot parse it as RFC3339Micro' % (kind, kind, value))
    whole, fraction, zone = match.groups()
    moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    offset = datetime.timedelta(0) if zone == "Z" else datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    moment = moment.replace(tzinfo=datetime.timezone(-offset if zone.startswith("-") else offset),
                            microsecond=int(fraction))
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expect(value, kind, field):
    if value is not None and not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise bad_request("json: cannot unmarshal %s into Go struct field %s of type %s"
                          % (type(value).__name__, field, {str: "string", int: "int32", dict: "map", bool: "bool"}[kind]))
    return value


def _decoded_data(body):
    decoded = {}
    for key, value in (_expect(body.get("data"), dict, "Secret.data") or {}).items():
        try:
            decoded[key] = base64.b64decode(_expect(value, str, "Secret.data") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data "
                              "at data[%s] (%s)" % (key, exc)) from exc
    for key, value in (_expect(body.get("stringData"), dict, "Secret.stringData") or {}).items():
        decoded[key] = _expect(value, str, "Secret.stringData").encode("utf-8")  # stringData wins, as on a server
    return decoded


def _prepare_secret(body):
    decoded = _decoded_data(body)
    secret = {"data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(decoded.items())},
              "type": _expect(body.get("type"), str, "Secret.type") or "Opaque"}
    if _expect(body.get("immutable"), bool, "Secret.immutable") is not None:
        secret["immutable"] = body["immutable"]
    return secret, decoded


def _secret_causes(secret, decoded, old):
    causes = validation.secret_causes(secret, decoded)
    if old is not None:
        if secret["type"] != old["type"]:
            causes.append(("type", 'Invalid value: "%s": field is immutable' % secret["type"]))
        if old.get("immutable"):
            if secret.get("data") != old.get("data"):
                causes.append(("data", "Forbidden: field is immutable when `immutable` is set"))
            if not secret.get("immutable"):
                causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))
    return causes


_LEASE_FIELDS = {"holderIdentity": str, "leaseDurationSeconds": int, "leaseTransitions": int,
                 "strategy": str, "preferredHolder": str}


def _prepare_lease(body):
    given = _expect(body.get("spec"), dict, "Lease.spec") or {}
    spec = {}
    for field, kind in _LEASE_FIELDS.items():
        if given.get(field) is not None:
            spec[field] = _expect(given[field], kind, "LeaseSpec.spec." + field)
    for field in ("acquireTime", "renewTime"):
        if given.get(field) is not None:
            spec[field] = micro_time(given[field], "Lease")
    return {"spec": spec}, None


def _lease_causes(lease, extra, old):
    return validation.lease_causes(lease)


def _prepare_namespace(body):
    return {"spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, None


def _namespace_causes(namespace, extra, old):
    return validation.namespace_causes(namespace)


# -- ServiceAccounts (v1) and RBAC (rbac.authorization.k8s.io/v1) ----------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"
_RULE_FIELDS = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")


def _expect_list(value, field, element=str):
    """A JSON array (of ``element``), as Go's decoder takes a slice; None when absent."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("json: cannot unmarshal %s into Go struct field %s of type []%s"
                          % (type(value).__name__, field, "string" if element is str else "struct"))
    for item in value:
        if not isinstance(item, element) or isinstance(item, bool):
            raise bad_request("json: cannot unmarshal %s into Go struct field %s of type %s"
                              % (type(item).__name__, field, "string" if element is str else "struct"))
    return value


def _strings_of(given, fields, kind):
    """The string fields of a small struct (a subject, a roleRef, an object reference), empty ones left out."""
    given = _expect(given, dict, kind) or {}
    return {field: _expect(given[field], str, "%s.%s" % (kind, field)) for field in fields if given.get(field)}


def _rbac_name_errors(name):
    """ValidateRBACName (path.IsValidPathSegmentName): Roles and RoleBindings take any path segment."""
    if name in (".", ".."):
        return ["may not be '%s'" % name]
    return ["may not contain '%s'" % bad for bad in ("/", "%") if bad in name]


def _unsupported(value, supported):
    return 'Unsupported value: "%s": supported values: %s' % (value, ", ".join('"%s"' % s for s in supported))


def _policy_rule_causes(rule, path, namespaced):
    """ValidatePolicyRule."""
    causes = []
    if not rule.get("verbs"):
        causes.append((path + ".verbs", "Required value: verbs must contain at least one value"))
    if rule.get("nonResourceURLs"):
        urls = json.dumps(rule["nonResourceURLs"])
        if namespaced:
            causes.append((path + ".nonResourceURLs",
                           "Invalid value: %s: namespaced rules cannot apply to non-resource URLs" % urls))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append((path + ".nonResourceURLs",
                           "Invalid value: %s: rules cannot apply to both regular resources and non-resource URLs"
                           % urls))
        return causes
    if not rule.get("apiGroups"):
        causes.append((path + ".apiGroups", "Required value: resource rules must supply at least one api group"))
    if not rule.get("resources"):
        causes.append((path + ".resources", "Required value: resource rules must supply at least one resource"))
    return causes


def _role_ref_causes(role_ref):
    causes = []
    if role_ref["apiGroup"] != RBAC_GROUP:
        causes.append(("roleRef.apiGroup", _unsupported(role_ref["apiGroup"], [RBAC_GROUP])))
    if role_ref["kind"] not in ("Role", "ClusterRole"):
        causes.append(("roleRef.kind", _unsupported(role_ref["kind"], ["Role", "ClusterRole"])))
    if not role_ref["name"]:
        causes.append(("roleRef.name", "Required value"))
    for text in _rbac_name_errors(role_ref["name"]) if role_ref["name"] else ():
        causes.append(("roleRef.name", validation.invalid(role_ref["name"], text)))
    return causes


def _subject_causes(subject, path):
    """ValidateRoleBindingSubject of a RoleBinding (namespaced: a ServiceAccount's namespace may be left out)."""
    causes = []
    name, kind, group = subject.get("name", ""), subject.get("kind", ""), subject.get("apiGroup", "")
    if not name:
        causes.append((path + ".name", "Required value"))
    if kind == "ServiceAccount":
        for text in validation.subdomain_errors(name) if name else ():
            causes.append((path + ".name", validation.invalid(name, text)))
        if group:
            causes.append((path + ".apiGroup", _unsupported(group, [""])))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append((path + ".apiGroup", _unsupported(group, [RBAC_GROUP])))
    else:
        causes.append((path + ".kind", _unsupported(kind, ["ServiceAccount", "User", "Group"])))
    return causes


def _prepare_service_account(body):
    account = {}
    for field in ("secrets", "imagePullSecrets"):
        references = [_strings_of(ref, ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                                        "fieldPath") if field == "secrets" else ("name",), "ServiceAccount." + field)
                      for ref in _expect_list(body.get(field), "ServiceAccount." + field, dict) or []]
        if references:
            account[field] = references
    if body.get("automountServiceAccountToken") is not None:
        account["automountServiceAccountToken"] = _expect(body["automountServiceAccountToken"], bool,
                                                          "ServiceAccount.automountServiceAccountToken")
    return account, None


def _service_account_causes(account, extra, old):
    return validation.object_meta_causes(account["metadata"], validation.subdomain_errors)


def _prepare_role(body):
    rules = []
    for given in _expect_list(body.get("rules"), "Role.rules", dict) or []:
        rule = {}
        for field in _RULE_FIELDS:
            values = _expect_list(given.get(field), "PolicyRule." + field)
            if values:  # Go omits empty slices (omitempty)
                rule[field] = list(values)
        rules.append(rule)
    return {"rules": rules or None}, None  # Role.rules has no omitempty: an empty Role answers "rules": null


def _role_causes(role, extra, old):
    causes = validation.object_meta_causes(role["metadata"], _rbac_name_errors)
    for index, rule in enumerate(role.get("rules") or []):
        causes.extend(_policy_rule_causes(rule, "rules[%d]" % index, namespaced=True))
    return causes


def _prepare_role_binding(body):
    subjects = []
    for given in _expect_list(body.get("subjects"), "RoleBinding.subjects", dict) or []:
        subject = _strings_of(given, ("kind", "apiGroup", "name", "namespace"), "Subject")
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP  # SetDefaults_Subject
        subjects.append(subject)
    role_ref = _strings_of(body.get("roleRef"), ("apiGroup", "kind", "name"), "RoleRef")
    role_ref.setdefault("apiGroup", RBAC_GROUP)  # SetDefaults_RoleBinding
    binding = {"roleRef": {"apiGroup": role_ref["apiGroup"], "kind": role_ref.get("kind", ""),
                           "name": role_ref.get("name", "")}}
    if subjects:
        binding["subjects"] = subjects
    return binding, None


def _role_binding_causes(binding, extra, old):
    causes = validation.object_meta_causes(binding["metadata"], _rbac_name_errors)
    causes.extend(_role_ref_causes(binding["roleRef"]))
    for index, subject in enumerate(binding.get("subjects") or []):
        causes.extend(_subject_causes(subject, "subjects[%d]" % index))
    if old is not None and old["roleRef"] != binding["roleRef"]:
        causes.append(("roleRef", "Invalid value: %s: cannot change roleRef"
                       % json.dumps(binding["roleRef"], sort_keys=True)))
    return causes


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False, _prepare_namespace, _namespace_causes,
                      fields=("status.phase",))
SECRETS = Resource("", "v1", "secrets", "Secret", True, _prepare_secret, _secret_causes, fields=("type",))
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True, _prepare_lease, _lease_causes,
                  create_on_update=True, unconditional_update=False)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", True, _prepare_service_account,
                            _service_account_causes)
# The RBAC registry strategies allow create-on-update (for bootstrap reconciliation) and unconditional updates.
ROLES = Resource(RBAC_GROUP, "v1", "roles", "Role", True, _prepare_role, _role_causes, create_on_update=True)
ROLE_BINDINGS = Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", True, _prepare_role_binding,
                         _role_binding_causes, create_on_update=True)
RESOURCES = (NAMESPACES, SECRETS, LEASES, SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS)


def _field_values(obj):
    meta = obj["metadata"]
    return {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", ""),
            "type": obj.get("type"), "status.phase": (obj.get("status") or {}).get("phase")}


def _continue_token(resource_version, key):
    return base64.urlsafe_b64encode(json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version,
                                                "start": list(key)}).encode("utf-8")).decode("ascii")


def _continue_key(token):
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        return tuple(decoded["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request("continue key is not valid: %s" % exc) from exc


class Cluster:
    """All objects of the emulated cluster, keyed by (plural, namespace, name)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._objects = {}
        self._resource_version = 1000

    def _next_version(self):
        self._resource_version += 1
        return str(self._resource_version)

    def create_namespace(self, name):
        """Create a namespace unless it exists (test set-up)."""
        try:
            return self.create(NAMESPACES, None, {"metadata": {"name": name}})
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            return self.get(NAMESPACES, None, name)

    def namespace_exists(self, namespace):
        with self._lock:
            return ("namespaces", "", namespace) in self._objects

    def _metadata(self, resource, namespace, body, url_name=None):
        if not isinstance(body, dict):
            raise bad_request("the object provided is unrecognized (must be of type %s)" % resource.kind)
        for field, expected in (("kind", resource.kind), ("apiVersion", resource.api_version)):
            if body.get(field) not in (None, "", expected):
                raise bad_request("the %s in the data (%s) does not match the expected %s (%s)"
                                  % ("API version" if field == "apiVersion" else "kind", body[field],
                                     "API version" if field == "apiVersion" else "kind", expected))
        meta = _expect(body.get("metadata"), dict, "metadata") or {}
        if resource.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if url_name is not None and meta.get("name") != url_name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name") or "", url_name))
        kept = {key: copy.deepcopy(meta[key]) for key in ("name", "labels", "annotations", "ownerReferences")
                if meta.get(key) not in (None, {}, [])}
        if resource.namespaced:
            kept["namespace"] = namespace
        return kept, meta

    def _build(self, resource, meta, body, old=None):
        content, extra = resource.prepare(body)
        obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}
        obj.update(content)
        causes = resource.causes(obj, extra, old)
        if causes:
            raise resource.invalid(meta.get("name", ""), causes)
        return obj

    def create(self, resource, namespace, body, dry_run=False):
        meta, given = self._metadata(resource, namespace, body)
        with self._lock:
            if not meta.get("name") and given.get("generateName"):
                meta["name"] = given["generateName"] + uuid.uuid4().hex[:5]
            obj = self._build(resource, meta, body)
            if resource.namespaced and not self.namespace_exists(namespace):
                raise NAMESPACES.not_found(namespace)
            key = (resource.plural, namespace if resource.namespaced else "", meta["name"])
            if key in self._objects:
                raise resource.already_exists(meta["name"])
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(),
                        resourceVersion=str(self._resource_version + 1))
            if not dry_run:
                self._next_version()
                self._objects[key] = obj
            return copy.deepcopy(obj)

    def get(self, resource, namespace, name):
        with self._lock:
            obj = self._objects.get((resource.plural, namespace if resource.namespaced else "", name))
            if obj is None:
                raise resource.not_found(name)
            return copy.deepcopy(obj)

    def replace(self, resource, namespace, name, body, dry_run=False):
        """Update (PUT): ``(object, created)``. A Lease that does not exist is created, as on a server."""
        meta, given = self._metadata(resource, namespace, body, url_name=name)
        with self._lock:
            key = (resource.plural, namespace if resource.namespaced else "", name)
            old = self._objects.get(key)
            if old is None:
                if not resource.create_on_update:
                    raise resource.not_found(name)
                return self.create(resource, namespace, body, dry_run), True  # any resourceVersion is ignored
            wanted = given.get("resourceVersion")
            if not wanted and not resource.unconditional_update:
                raise resource.invalid(name, [("metadata.resourceVersion",
                                               "Invalid value: 0x0: must be specified for an update")],
                                       kind=resource.plural)
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise resource.conflict(name, "the object has been modified; please apply your changes to the "
                                              "latest version and try again")
            for field in ("uid", "creationTimestamp", "resourceVersion"):
                meta[field] = old["metadata"][field]
            obj = self._build(resource, meta, body, old)
            if obj == old:
                return copy.deepcopy(old), False  # a no-op update keeps its resourceVersion
            meta["resourceVersion"] = str(self._resource_version + 1)
            if not dry_run:
                self._next_version()
                self._objects[key] = obj
            return copy.deepcopy(obj), False

    def patch(self, resource, namespace, name, patch, dry_run=False):
        """JSON merge patch (RFC 7386); a ``resourceVersion`` in the patch is a precondition."""
        with self._lock:
            current = self.get(resource, namespace, name)
            if not isinstance(patch, dict):
                raise bad_request("a merge patch must be a JSON object")
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            merged = _merge_patch(current, patch)
            merged.setdefault("metadata", {})["resourceVersion"] = wanted or current["metadata"]["resourceVersion"]
            merged["metadata"]["name"] = name
            return self.replace(resource, namespace, name, merged, dry_run)[0]

    def delete(self, resource, namespace, name, options=None, dry_run=False):
        preconditions = (options or {}).get("preconditions") or {}
        with self._lock:
            key = (resource.plural, namespace if resource.namespaced else "", name)
            obj = self._objects.get(key)
            if obj is None:
                raise resource.not_found(name)
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(field)
                if wanted and wanted != obj["metadata"][field]:
                    raise resource.conflict(name, "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                                            % (label, wanted, label, obj["metadata"][field]))
            if not dry_run:
                del self._objects[key]
                if resource is NAMESPACES:  # immediate; a real cluster goes through Terminating first
                    for other in [k for k in self._objects if k[1] == name and k[0] != "namespaces"]:
                        del self._objects[other]
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": resource.details(name, uid=obj["metadata"]["uid"])}

    def list(self, resource, namespace=None, label_selector="", field_selector="", limit=None, continue_token=None):
        """Items in key order; ``namespace`` None lists every namespace."""
        try:
            requirements = parse_label_selector(label_selector)
            terms = parse_field_selector(field_selector, resource.fields)
        except SelectorError as exc:
            raise bad_request(str(exc)) from exc
        start = _continue_key(continue_token) if continue_token else None
        with self._lock:
            keys = sorted(k for k in self._objects if k[0] == resource.plural
                          and (namespace is None or not resource.namespaced or k[1] == namespace))
            if start is not None:
                keys = [k for k in keys if k[1:] > start]
            matched = [k for k in keys if labels_match(requirements, self._objects[k]["metadata"].get("labels"))
                       and fields_match(terms, _field_values(self._objects[k]))]
            meta = {"resourceVersion": str(self._resource_version)}
            if limit and len(matched) > limit:
                matched, rest = matched[:limit], matched[limit:]
                meta["continue"] = _continue_token(self._resource_version, matched[-1][1:])
                if not requirements and not terms:
                    meta["remainingItemCount"] = len(rest)
            items = [copy.deepcopy(self._objects[k]) for k in matched]
        for item in items:  # list items carry no kind/apiVersion, as on a real server
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return {"kind": resource.kind + "List", "apiVersion": resource.api_version, "metadata": meta, "items": items}


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result
