"""Talking to a Kubernetes API server: what the kubernetes claim store and the kubernetes driver share.

Connection settings are those kubernetes.core users know (``host`` + ``api_key``, else a
``kubeconfig`` file + ``context``, else the pod's service account, else ``~/.kube/config``;
then ``ca_cert`` and ``validate_certs``), loaded into a ``Configuration`` of the official SDK
that is private to the caller, never the SDK's default one.

Requests go through the SDK's REST client as plain JSON: its typed API classes import hundreds
of models (about a second per module run) for nothing here. The SDK is imported only when a
``Connection`` is made: this file ships in every module payload.
"""

import json
import os
import re
from urllib.parse import urlencode

TIMEOUT = (5, 20)  # (connect, read) seconds of every request: a dead API server fails fast


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
    """The SDK's configuration and REST client for one API server.

    ``error`` is the CnabError class raised for configuration problems, ``subject`` how
    sentences name the user ("the kubernetes claim store") and ``prefix`` where its options
    live ("claim_store.").
    """

    def __init__(self, options, error, subject, prefix):
        from ansible_collections.cnab.runtime.plugins.module_utils.errors import require_library

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
