"""Talking to a Kubernetes API server: what the kubernetes claim store and the kubernetes driver share.

Connection settings are those kubernetes.core users know (``host`` + ``api_key``, else a
``kubeconfig`` file + ``context``, else the pod's service account, else ``~/.kube/config``;
then ``ca_cert`` and ``validate_certs``), loaded into a ``Configuration`` of the official SDK
that is private to the caller, never the SDK's default one.

Requests go through the SDK's REST client as plain JSON: its typed API classes import hundreds
of models (about a second per module run) for nothing here. The SDK is imported only when a
``Connection`` is made: this file ships in every module payload.

A ``Connection`` is made for one user (its ``subject``, "the kubernetes claim store" or "the
kubernetes driver") and one namespace. Its verbs handle the answers that are not failures once:
``get`` gives None for a missing object (404), ``create`` and ``replace`` give None when another
client created or changed the object first (409), ``delete`` gives False for a missing one, and
``list`` pages through a collection. Every sentence it raises begins with its subject, so no
caller rewrites another's message.

``prepare_namespace`` is what the setup modules share (cnab_claim_store, cnab_driver_setup):
a namespace with a ServiceAccount, a Role of exact rules and their RoleBinding.
"""

import contextlib
import json
import os
import re
from urllib.parse import quote, urlencode

TIMEOUT = (5, 20)  # (connect, read) seconds of every request: a dead API server fails fast
PAGE = 250  # items per list request
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")  # DNS-1123
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "cnab.runtime"
RBAC = "rbac.authorization.k8s.io"


def is_object_name(name):
    """Whether ``name`` is a valid name of a namespaced object (a DNS-1123 subdomain)."""
    return isinstance(name, str) and len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name) is not None


def check_object_name(name, what, error):
    """``name``, or ``error`` (a CnabError class) saying why it is not a valid Kubernetes name."""
    if not is_object_name(name):
        raise error("%s %r is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.', "
                    "starting and ending with a letter or digit." % (what, name))
    return name


def api_reason(exc):
    """``<message> (HTTP <code> <reason>)`` from the API's Status object."""
    if not exc.status:  # the SDK reports TLS failures as an ApiException of status 0
        return " ".join(str(exc.reason or "no answer").split())
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        status = {}
    status = status if isinstance(status, dict) else {}
    message = str(status.get("message") or "").rstrip(".") or "the API server gave no message"
    return "%s (HTTP %s %s)" % (message, exc.status, status.get("reason") or exc.reason)


def transport_reason(exc, host):
    """``cannot reach the API server at <host> (Connection refused)``, from urllib3's nested errors."""
    root = exc.reason if isinstance(getattr(exc, "reason", None), BaseException) else exc  # MaxRetryError
    depth = 0
    while depth < 8:  # down to the socket's error: raised "from" it, or passed as the last argument
        inner = root.__cause__ or (root.args[-1] if root.args and isinstance(root.args[-1], BaseException) else None)
        if inner is None:
            break
        root, depth = inner, depth + 1
    if isinstance(root, OSError) and root.strerror:
        detail = root.strerror
    else:  # urllib3 prefixes its messages with the pool: "HTTPConnectionPool(...): Read timed out."
        detail = re.sub(r"^\w*Connection\w*\(.*?\): ", "", str(root)) or type(root).__name__
    return "cannot reach the API server at %s (%s)" % (host, detail.rstrip("."))


def is_transport_error(exc):
    """OSError or urllib3's errors (whose classes load with the SDK, not with this file)."""
    return isinstance(exc, OSError) or type(exc).__module__.partition(".")[0] == "urllib3"


class Connection:
    """The SDK's configuration and REST client for one API server, used in one namespace.

    ``error`` is the CnabError class of every sentence it raises, ``subject`` how they name the
    user ("the kubernetes claim store") and ``prefix`` where its options live ("claim_store.").
    ``namespace`` is ``options['namespace']``, default ``cnab``. ``missing_namespace``, when given, makes
    the error a create answered with 404 raises, from the namespace: the API server answers a create so
    only when the namespace is missing.
    """

    def __init__(self, options, error, subject, prefix, missing_namespace=None):
        from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

        self.error, self.subject, self._missing_namespace = error, subject, missing_namespace
        self.namespace = options.get("namespace") or "cnab"
        client = require_library("kubernetes.client", "kubernetes", subject, error)
        config = require_library("kubernetes.config", "kubernetes", subject, error)
        self.api_exception = client.ApiException
        self.configuration = configuration(client, config, options, error, subject, prefix)
        self.host = self.configuration.host
        api_client = client.ApiClient(self.configuration)  # private: never the SDK's default client
        self._rest = api_client.rest_client
        self._headers = {"Accept": "application/json", "Content-Type": "application/json",
                         "User-Agent": "cnab.runtime %s" % api_client.user_agent}

    def call(self, method, path, query=None, body=None, raw=False, timeout=TIMEOUT, content_type=None):
        """One API request; the answer's JSON (its bytes when ``raw``). Non-2xx answers raise the SDK's ApiException."""
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        for auth in self.configuration.auth_settings().values():  # refreshes exec/OIDC tokens as needed
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        url = self.host + path + ("?" + urlencode(query) if query else "")
        response = self._rest.request(method, url, headers=headers, body=body, _request_timeout=timeout)
        data = response.data if getattr(response, "data", None) is not None else response.read()
        if not 200 <= response.status <= 299:  # older SDKs raise this in their REST client already
            raise self.api_exception(http_resp=response)
        return data if raw else json.loads(data.decode("utf-8"))

    # -- paths and verbs ----------------------------------------------------------------------

    def path(self, api_version, plural, name=None, namespaced=True):
        """``/api/v1/namespaces/<namespace>/secrets[/<name>]``; ``/apis/<group>/<version>/...`` for other
        groups (``api_version`` as in an object's ``apiVersion``); without the namespace when not ``namespaced``."""
        path = "/api/v1" if api_version == "v1" else "/apis/" + api_version
        if namespaced:
            path += "/namespaces/" + quote(self.namespace, safe="")
        path += "/" + plural
        return path + "/" + quote(name, safe="") if name else path

    def _answer(self, method, path, query=None, body=None, none_for=()):
        """``call``, answering None instead of raising for the HTTP statuses in ``none_for``."""
        try:
            return self.call(method, path, query, body)
        except self.api_exception as exc:
            if exc.status in none_for:
                return None
            raise

    def get(self, collection, name, query=None):
        """The object ``name`` of ``collection`` (a path), or None when there is none (404)."""
        return self._answer("GET", "%s/%s" % (collection, quote(name, safe="")), query, none_for=(404,))

    def create(self, collection, body, query=None):
        """The object created from ``body``, or None when one of that name exists (409)."""
        try:
            return self._answer("POST", collection, query, body, none_for=(409,))
        except self.api_exception as exc:
            if exc.status == 404 and self._missing_namespace is not None:
                raise self._missing_namespace(self.namespace) from exc
            raise

    def replace(self, collection, body):
        """The object replaced by ``body`` (conditional on its ``metadata.resourceVersion`` when it has one),
        or None when it changed since it was read (409)."""
        path = "%s/%s" % (collection, quote(body["metadata"]["name"], safe=""))
        return self._answer("PUT", path, body=body, none_for=(409,))

    def delete(self, collection, name, body=None):
        """True when the object was deleted, False when there was none (404)."""
        path = "%s/%s" % (collection, quote(name, safe=""))
        return self._answer("DELETE", path, body=body, none_for=(404,)) is not None

    def list(self, collection, selector=None):
        """Every item of ``collection``, matching the label ``selector`` when given, a page at a time."""
        query = {"labelSelector": selector, "limit": PAGE} if selector else {"limit": PAGE}
        while True:
            page = self.call("GET", collection, query)
            yield from page.get("items") or []
            query["continue"] = (page.get("metadata") or {}).get("continue")
            if not query["continue"]:
                return

    # -- sentences ----------------------------------------------------------------------------

    def sentence(self, text):
        """``error("<subject> <text>.")``: every sentence of this connection names its user."""
        return self.error("%s %s." % (self.subject, text))

    def reason(self, exc, stated=(), malformed=False):
        """Why a request failed, as a phrase: the API's answer or why the server could not be reached;
        else the message of an exception of the ``stated`` classes; else, when ``malformed``, what a
        ``ValueError``, ``TypeError`` or ``KeyError`` says of a stored object (its JSON, base64, a field
        missing); None when ``exc`` is none of these."""
        if isinstance(exc, self.api_exception):
            return api_reason(exc)
        if is_transport_error(exc):  # before ValueError: some of urllib3's errors are ValueErrors
            return transport_reason(exc, self.host)
        if stated and isinstance(exc, stated):
            return str(exc)
        if malformed and isinstance(exc, (ValueError, TypeError, KeyError)):
            return "a stored object is malformed (%s: %s)" % (type(exc).__name__, exc)
        return None

    @contextlib.contextmanager
    def errors(self, text, stated=(), malformed=False):
        """API and transport errors raised inside become ``sentence("<text>: <reason>")``, and so do those that
        ``stated`` and ``malformed`` name (see ``reason``); others pass."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - sorted here: urllib3's classes load with the SDK, not this file
            reason = self.reason(exc, stated, malformed)
            if reason is None:
                raise
            raise self.sentence("%s: %s" % (text, reason)) from exc


def configuration(client, config, options, error, subject, prefix):
    """host (+ api_key), else the kubeconfig option (+ context), else the pod's service account, else
    ~/.kube/config; then ca_cert and validate_certs. A Configuration of its own, never the SDK's default."""
    result = client.Configuration()
    result.retries = 1
    if options.get("host"):
        result.host = options["host"]
        if options.get("api_key"):
            result.api_key = {"authorization": "Bearer " + options["api_key"]}
    elif options.get("kubeconfig"):
        _load_kubeconfig(config, result, options["kubeconfig"], options.get("context"), error, subject)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=result)
        except Exception as exc:  # noqa: BLE001 - whatever the SDK's loader raises is one sentence
            raise error("%s could not use the pod's service account: %s." % (subject, str(exc).rstrip("."))) from exc
    elif os.path.exists(os.path.expanduser("~/.kube/config")):
        _load_kubeconfig(config, result, os.path.expanduser("~/.kube/config"), options.get("context"), error, subject)
    else:
        raise error(
            "%s has no cluster to talk to: set %skubeconfig (K8S_AUTH_KUBECONFIG or KUBECONFIG), or %shost and "
            "api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY), or run it in a pod with a service account."
            % (subject, prefix, prefix)
        )
    result.host = result.host.rstrip("/")
    if options.get("ca_cert"):
        result.ssl_ca_cert = options["ca_cert"]
    if options.get("validate_certs") is not None:
        result.verify_ssl = bool(options["validate_certs"])
    return result


def _load_kubeconfig(config, result, path, context, error, subject):
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=result,
                                persist_config=False)
    except Exception as exc:  # noqa: BLE001 - missing file, bad YAML, unknown context...: one sentence
        raise error("%s could not load kubeconfig %s%s: %s."
                    % (subject, path, " (context %s)" % context if context else "",
                       str(exc).strip().rstrip(".") or type(exc).__name__)) from exc


# -- preparing a namespace: what cnab_claim_store and cnab_driver_setup share ----------------------

_RULE_FIELDS = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
_ATTEMPTS = 3  # reads and writes of one object, when another client changes it in between (409)


def metadata(name):
    return {"name": name, "labels": {MANAGED_BY: MANAGER}}


def _normal_rules(rules):
    """Rules as a comparable value: the order of rules and of each list's items does not matter."""
    normal = []
    for rule in rules or ():
        rule = rule or {}
        normal.append(tuple((field, tuple(sorted(rule.get(field) or ()))) for field in _RULE_FIELDS))
    return sorted(normal)


def rules_equal(rules, wanted):
    return _normal_rules(rules) == _normal_rules(wanted)


def namespace_exists(api):
    """True or False; None when this client may not read namespaces (then creates will tell)."""
    try:
        return api.get(api.path("v1", "namespaces", namespaced=False), api.namespace) is not None
    except api.api_exception as exc:
        if exc.status == 403:
            return None
        raise


def account_objects(api, account, rules):
    """(kind, collection, body) of the ServiceAccount ``account``, its Role of ``rules`` and their RoleBinding."""
    subject = {"kind": "ServiceAccount", "name": account, "namespace": api.namespace}
    return [
        ("ServiceAccount", api.path("v1", "serviceaccounts"),
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(account)}),
        ("Role", api.path(RBAC + "/v1", "roles"),
         {"apiVersion": RBAC + "/v1", "kind": "Role", "metadata": metadata(account),
          "rules": [dict(rule) for rule in rules]}),
        ("RoleBinding", api.path(RBAC + "/v1", "rolebindings"),
         {"apiVersion": RBAC + "/v1", "kind": "RoleBinding", "metadata": metadata(account),
          "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": account}, "subjects": [subject]}),
    ]


def _binds(binding, namespace, account):
    """Whether a RoleBinding's subjects include the ServiceAccount (a subject without a namespace
    names one of the binding's namespace)."""
    return any(subject.get("kind") == "ServiceAccount" and subject.get("name") == account
               and subject.get("namespace") in (None, "", namespace)
               for subject in binding.get("subjects") or ())


def _fix(api, kind, current, wanted):
    """The object to write over ``current`` (which keeps its resourceVersion), or None when it is as needed."""
    account = wanted["metadata"]["name"]
    if kind == "Role":
        if rules_equal(current.get("rules"), wanted["rules"]):
            return None
        return dict(current, rules=wanted["rules"])
    if kind == "RoleBinding":
        role_ref = current.get("roleRef") or {}
        if (role_ref.get("apiGroup"), role_ref.get("kind"), role_ref.get("name")) != (RBAC, "Role", account):
            raise api.sentence(
                "in namespace %s cannot be prepared: RoleBinding %s binds %s %s, not Role %s, and a RoleBinding's "
                "roleRef cannot change; delete it or choose another service_account"
                % (api.namespace, account, role_ref.get("kind") or "(no kind)", role_ref.get("name") or "(no name)",
                   account))
        if _binds(current, api.namespace, account):
            return None
        return dict(current, subjects=list(current.get("subjects") or []) + wanted["subjects"])
    return None  # a ServiceAccount that exists is left as it is


def _ensure(api, kind, collection, wanted, check_mode, report):
    name = wanted["metadata"]["name"]
    for unused in range(_ATTEMPTS):
        current = api.get(collection, name)
        if current is None:
            if check_mode or api.create(collection, wanted) is not None:
                report["created"].append("%s/%s" % (kind, name))
                return
            continue  # 409: another client created it meanwhile; compare with theirs
        fixed = _fix(api, kind, current, wanted)
        if fixed is None:
            return
        if check_mode or api.replace(collection, fixed) is not None:
            report["updated"].append("%s/%s" % (kind, name))
            return
        # 409: it changed since it was read; read it again
    raise api.sentence("in namespace %s cannot be prepared: %s %s kept changing while it was being written; run again"
                       % (api.namespace, kind, name))


def prepare_namespace(api, account, rules, create_namespace, check_mode, errors):
    """The namespace of ``api`` (created when missing and ``create_namespace``), the ServiceAccount ``account``,
    its Role of exactly ``rules`` and their RoleBinding; nothing already as needed is touched, check mode only
    reads. ``errors`` gives the context of each step, from what it does ("read namespace cnab"), that turns its
    failures into the caller's sentence (``api.errors`` with the caller's wording).

    Returns the report ``{"created": [...], "updated": [...]}`` of ``kind/name`` and whether the namespace
    is (or in check mode would be) new, so that the caller knows there is nothing to read in it."""
    report = {"created": [], "updated": []}
    with errors("read namespace %s" % api.namespace):
        exists = namespace_exists(api)
    if exists is False:
        if not create_namespace:
            raise api.sentence("cannot be prepared in namespace %s: it does not exist and create_namespace is false; "
                               "create it, or set create_namespace to true" % api.namespace)
        created = True
        if not check_mode:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(api.namespace)}
            with errors("create namespace %s" % api.namespace):
                # None (409): created meanwhile
                created = api.create(api.path("v1", "namespaces", namespaced=False), body) is not None
        if created:
            report["created"].append("Namespace/%s" % api.namespace)
    for kind, collection, wanted in account_objects(api, account, rules):
        if check_mode and exists is False:
            report["created"].append("%s/%s" % (kind, account))  # nothing to read in a namespace to be
            continue
        with errors("prepare %s %s" % (kind, account)):
            _ensure(api, kind, collection, wanted, check_mode, report)
    return report, exists is False
