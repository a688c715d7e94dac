"""The emulator's HTTP side: Kubernetes API paths, JSON in and out, Status errors.

``Emulator`` serves one ``Cluster`` over HTTP/1.1 (keep-alive, as API clients expect)
from a ``ThreadingHTTPServer``. Tests can read ``requests`` (every request seen), set
``fault`` (a callable that can drop or fail chosen requests) and ``stop()`` it to
see what a client does when the API server goes away; a new ``Emulator`` given the
same ``cluster`` and port brings the "same" API server back.
"""

import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .cluster import (
    LEASES,
    NAMESPACES,
    RBAC_GROUP,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    ApiError,
    Cluster,
    bad_request,
)
from .workloads import JOBS, PODS, control_plane, delete_job

MAX_BODY = 3 * 1024 * 1024  # the API server's request body limit
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-cnab-emulator", "gitCommit": "emulator",
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
           "compiler": "gc", "platform": "linux/amd64"}

_NAMESPACED = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
                         r"(?:/(?P<name>[^/]+))?$")
_CLUSTER = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
_BY_PATH = {(r.group, r.plural): r
            for r in (NAMESPACES, SECRETS, LEASES, SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS, JOBS, PODS)}
_POD_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")


def resource_of(plural):
    """The Resource of a plural (``pods``, ``secrets``, ...), for the garbage collector."""
    return next(r for r in _BY_PATH.values() if r.plural == plural)


def _resource_list(group_version, resources):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": ["create", "delete", "get", "list", "patch", "update"]}
                          for r in resources]}


def _group(name):
    return {"name": name, "versions": [{"groupVersion": name + "/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": name + "/v1", "version": "v1"}}


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1",
              "groups": [_group("coordination.k8s.io"), _group(RBAC_GROUP), _group("batch")]},
    "/apis/coordination.k8s.io": dict(_group("coordination.k8s.io"), kind="APIGroup", apiVersion="v1"),
    "/apis/" + RBAC_GROUP: dict(_group(RBAC_GROUP), kind="APIGroup", apiVersion="v1"),
    "/api/v1": _resource_list("v1", (NAMESPACES, SECRETS, SERVICE_ACCOUNTS, PODS)),
    "/apis/coordination.k8s.io/v1": _resource_list("coordination.k8s.io/v1", (LEASES,)),
    "/apis/%s/v1" % RBAC_GROUP: _resource_list(RBAC_GROUP + "/v1", (ROLES, ROLE_BINDINGS)),
    "/apis/batch": dict(_group("batch"), kind="APIGroup", apiVersion="v1"),
    "/apis/batch/v1": _resource_list("batch/v1", (JOBS,)),
    "/version": VERSION,
}
_OPEN_PATHS = ("/version", "/healthz", "/livez", "/readyz")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, emulator):
        self.emulator = emulator
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small answer per request: no 40 ms delayed-ACK stalls
    server_version = "cnab-k8s-emulator"

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format, *args):
        if self.server.emulator.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method):
        emulator = self.server.emulator
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        entry = {"method": method, "path": url.path, "query": query}
        emulator.log(entry)
        if emulator.fault is not None:
            action = emulator.fault(method, url.path, query)
            if action == "drop":  # the connection dies before any answer: a crash or a network cut
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(action, ApiError):
                self._reply(action.code, action.status(), entry)
                return
        try:
            if length > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge", "the request is too large", None)
            self._authorize(url.path)
            code, body = self._route(method, url.path, query, raw)
        except ApiError as exc:
            code, body = exc.code, exc.status()
        self._reply(code, body, entry)

    def _authorize(self, path):
        token = self.server.emulator.token
        if token and path not in _OPEN_PATHS and self.headers.get("Authorization") != "Bearer " + token:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _reply(self, code, body, entry):
        entry["status"] = code
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(body, bytes) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method, path, query, raw):
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, b"ok"
        if path in DISCOVERY:
            if method != "GET":
                raise _not_allowed()
            return 200, DISCOVERY[path]
        log = _POD_LOG.match(path)
        if log:
            if method != "GET":
                raise _not_allowed()
            return 200, control_plane(self.server.emulator.cluster).log(log.group("ns"), log.group("name"), query)
        match = _NAMESPACED.match(path)
        namespace = match.group("ns") if match else None
        match = match or _CLUSTER.match(path)
        resource = _BY_PATH.get((match.group("group") or "", match.group("plural"))) if match else None
        name = match.group("name") if match else None
        if (resource is None or namespace is not None and not resource.namespaced
                or namespace is None and resource.namespaced and name is not None):
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
        dry_run = query.get("dryRun") == "All"
        cluster = self.server.emulator.cluster
        if name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    raise bad_request("the Kubernetes API emulator does not implement watch")
                limit = query.get("limit") or "0"
                if not limit.isdigit():
                    raise bad_request("limit: Invalid value: %s: must be a non-negative integer" % limit)
                listed = cluster.list(resource, namespace, query.get("labelSelector", ""),
                                      query.get("fieldSelector", ""), int(limit), query.get("continue"))
                return 200, listed
            if method == "POST" and (namespace is not None or not resource.namespaced):
                created = cluster.create(resource, namespace, _json(raw, resource), dry_run)
                if resource in (JOBS, PODS) and not dry_run:
                    control_plane(cluster)
                return 201, created
            raise _not_allowed()
        if method == "GET":
            return 200, cluster.get(resource, namespace, name)
        if method == "PUT":
            obj, created = cluster.replace(resource, namespace, name, _json(raw, resource), dry_run)
            return 201 if created else 200, obj
        if method == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types include: "
                               "application/merge-patch+json, application/strategic-merge-patch+json")
            return 200, cluster.patch(resource, namespace, name, _json(raw, resource), dry_run)
        if method == "DELETE":
            options = _json(raw, resource) if raw else None
            if resource is JOBS:
                return 200, delete_job(cluster, namespace, name, options, dry_run)
            return 200, cluster.delete(resource, namespace, name, options, dry_run)
        raise _not_allowed()


def _json(raw, resource):
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError as exc:
        raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; "
                          "json parse error: %s" % (resource.kind, exc)) from exc


def _not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


class Emulator:
    """One emulated API server. ``start()`` returns its URL; ``stop()`` closes every connection."""

    def __init__(self, host="127.0.0.1", port=0, cluster=None, token=None, certfile=None, keyfile=None,
                 verbose=False):
        self.cluster = cluster or Cluster()
        self.token = token
        self.verbose = verbose
        self.fault = None
        self.requests = []
        self._requests_lock = threading.Lock()
        self._server = _Server((host, port), self)
        self.scheme = "http"
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.host, self.port = self._server.server_address[:2]
        self._thread = None

    @property
    def url(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    def log(self, entry):
        with self._requests_lock:
            self.requests.append(entry)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="k8s-emulator",
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self):
        """Stop answering: the port refuses connections and open keep-alive connections are cut."""
        if self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._server.connections_lock:
            connections = list(self._server.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join()
        self._thread = None


def start_emulator(host="127.0.0.1", port=0, **options):
    """Start an emulator in a daemon thread; returns ``(url, stop)``. ``stop.emulator`` is the ``Emulator``."""
    emulator = Emulator(host, port, **options)
    url = emulator.start()

    def stop():
        emulator.stop()

    stop.emulator = emulator
    return url, stop
