"""A client for one OCI registry (distribution-spec v2 API), on a ``requests`` session set up as
``oras.provider.Registry`` sets up its own (every cookie refused).

The credentials of a Docker config file (``auths``, ``credHelpers``, ``credsStore``) are read here, as
Docker reads them. oras-py supplies the parsing of a bearer challenge, imported only when a registry
asks for a token, because ``oras.provider`` imports ``jsonschema``
and costs more to import than most registry operations take (docs/benchmarks.md). Its request flow
falls short for bundles, so this module drives the session itself:
- it caches one bearer token per Registry and re-sends it on a 401, so a push after a pull-scoped
  HEAD is refused (oras-py issue #187): tokens here are cached per repository+action scope;
- it reads whole blobs into memory on upload and never verifies downloads: bodies here stream and
  every download is hashed while it is read;
- ``upload_manifest`` cannot PUT an index and re-serialises manifests: manifests here are raw bytes;
- its retry decorator sleeps up to two minutes on a refused connection: retries here are bounded by
  the ``retries`` option with short back-offs, and every request carries the ``timeout``.
"""

import base64
import ipaddress
import json
import os
import threading
import time
from urllib.parse import urlencode, urljoin

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleError,
    ContentDigestMismatch,
    ManifestRefused,
    RegistryAuthError,
    RegistryError,
    require_library,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import (
    ACCEPT,
    CHUNK,
    MAX_MANIFEST_SIZE,
    VerifyingReader,
    check_digest,
    media_type_of,
    sha256_digest,
)

DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_RETRY_STATUS = (429, 500, 502, 503, 504)
# What registries answer to a manifest whose media type or shape they do not take (distribution's
# MANIFEST_INVALID, 415 Unsupported Media Type, 422 on some hosted registries).
_FORM_REFUSED = (400, 415, 422)

DEFAULT_OPTIONS = dict(username=None, password=None, token=None, docker_config=None, ca_cert=None,
                       insecure=False, timeout=60, retries=3)


def is_loopback(registry):
    """True for ``localhost``/``127.x``/``::1`` registries, reached over plain HTTP as Docker does."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 or registry.startswith("[") else registry
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_object(response):
    """A registry's or token service's JSON answer as an object, {} when it is not one (no larger
    than a manifest, depth-bounded: bundle.parse_json)."""
    try:
        body = parse_json(response.content, "The registry's answer", max_size=MAX_MANIFEST_SIZE)
    except BundleError:
        return {}
    return body if isinstance(body, dict) else {}


class _Body:
    """A request body that streams from a file object or an iterator of chunks with a known length.

    Its ``__len__`` makes requests send Content-Length instead of chunked transfer encoding."""

    def __init__(self, source, size):
        self._source = source
        self._size = size

    def __len__(self):
        return self._size

    def __iter__(self):
        read = getattr(self._source, "read", None)
        if read is None:
            for chunk in self._source:
                if chunk:
                    yield chunk
            return
        while True:
            chunk = read(CHUNK)
            if not chunk:
                return
            yield chunk


def config_credentials(auths, helpers, store, name):
    """base64 ``user:password`` that a Docker config's ``auths``, ``credHelpers`` and ``credsStore`` hold for
    the registry ``name``: its inline ``auth``, else what its credential helper answers, else what the
    credential store answers; None when none of them has any."""
    entry = auths.get(name)
    if entry is not None and entry.get("auth"):
        return entry["auth"]
    for helper in (helpers.get(name), store):
        if helper:
            credentials = _ask_credential_helper(helper, name)
            if credentials is not None:
                return credentials
    return None


def _ask_credential_helper(helper, name):
    """``docker-credential-<helper> get`` of ``name`` (Docker's credential-helper protocol) as base64
    ``user:password``; None when the program is missing or fails, and the lookup goes on."""
    import subprocess

    try:
        answer = subprocess.run(["docker-credential-%s" % helper, "get"], input=name.encode(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None
    payload = json.loads(answer.stdout)
    return base64.b64encode(("%s:%s" % (payload["Username"], payload["Secret"])).encode("utf-8")).decode("utf-8")


class RegistryClient:
    """Blobs and manifests of one registry (``registry`` is ``host[:port]``; ``docker.io`` is Docker Hub)."""

    def __init__(self, registry_options, registry):
        options = dict(DEFAULT_OPTIONS)
        options.update({key: value for key, value in (registry_options or {}).items() if value is not None})
        self.options = options
        self.registry = registry
        self.host = DOCKER_HUB_API if registry in ("docker.io", "index.docker.io") else registry
        self.timeout = float(options["timeout"] or 60)
        self.retries = max(0, int(options["retries"] if options["retries"] is not None else 3))
        loopback = is_loopback(self.host)
        self.plain_http = loopback or bool(options["insecure"])
        self._scheme = "http" if loopback else "https"
        self._scheme_known = loopback
        if options["insecure"] and not loopback:
            verify = False
        else:
            verify = options["ca_cert"] or True
        self._verify = verify
        self._lock = threading.Lock()
        self._tokens = {}        # scope string -> bearer token
        self._challenge = None   # ("basic", None) or ("bearer", {realm, service})
        self._session = self._new_session()

    # ------------------------------------------------------------------ setup
    def _new_session(self):
        from http.cookiejar import DefaultCookiePolicy

        requests = require_library("requests", "requests", "reaching an OCI registry", RegistryError)
        session = requests.Session()
        # As oras-py's Registry: no cookies (some registries, Harbor among them, take one as the sign
        # of a browser and start asking for CSRF tokens), and no warning per unverified request.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        if not self._verify:
            requests.packages.urllib3.disable_warnings()
        # Bundles move blobs in parallel: a connection pool per worker thread.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "cnab.runtime"
        return session

    def _basic_credentials(self):
        """base64 ``user:password`` from the options, else from the Docker config; None when anonymous."""
        if self.options["username"] is not None or self.options["password"] is not None:
            user, password = self.options["username"] or "", self.options["password"] or ""
            return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        if not hasattr(self, "_config_credentials"):
            self._config_credentials = self._docker_config_credentials()
        return self._config_credentials

    def _docker_config_credentials(self):
        directory = self.options["docker_config"] or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
        path = os.path.join(directory, "config.json")
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                config = json.load(handle)
        except (OSError, ValueError) as exc:
            raise RegistryAuthError("The Docker config file %s cannot be read (%s)." % (path, exc)) from None
        # As Docker: inline ``auth``, else the entry's ``credHelpers`` program, else ``credsStore``; this file
        # only, not also ~/.docker.
        auths = dict(config.get("auths") or {})
        helpers, store = dict(config.get("credHelpers") or {}), config.get("credsStore")
        names = [self.registry, self.host]
        if self.host == DOCKER_HUB_API:
            names = [DOCKER_HUB_CONFIG_KEY, "docker.io", "index.docker.io"]
        names += ["https://" + name for name in names if "://" not in name]
        for name in names:
            credentials = config_credentials(auths, helpers, store, name)
            if credentials:
                return credentials
            entry = auths.get(name) or {}
            if entry.get("identitytoken") and not self.options["token"]:
                self.options["token"] = entry["identitytoken"]
        return None

    # --------------------------------------------------------------- requests
    def url(self, path):
        return "%s://%s/v2/%s" % (self._scheme, self.host, path)

    def _scope(self, repo, push=False, extra=()):
        scopes = ["repository:%s:%s" % (repo, "pull,push" if push else "pull")] if repo else []
        scopes += ["repository:%s:pull" % other for other in extra]
        return " ".join(scopes)

    def _auth_header(self, scope):
        if self._challenge is None:
            if self.options["token"] and not self._basic_credentials():
                return {"Authorization": "Bearer %s" % self.options["token"]}
            return {}
        kind, _params = self._challenge
        if kind == "basic":
            credentials = self._basic_credentials()
            return {"Authorization": "Basic %s" % credentials} if credentials else {}
        with self._lock:
            token = self._tokens.get(scope)
        return {"Authorization": "Bearer %s" % token} if token else {}

    def _learn(self, response, scope, sent):
        """Handle a 401 challenge to a request that carried the ``sent`` Authorization header (or
        None): remember the scheme, fetch a token for ``scope``. False when nothing new can be tried."""
        header = response.headers.get("Www-Authenticate", "")
        kind = header.split(" ", 1)[0].lower()
        if kind == "basic":
            self._challenge = ("basic", None)
            credentials = self._basic_credentials()
            return credentials is not None and sent != "Basic %s" % credentials
        if kind != "bearer":
            return False
        auth_utils = require_library("oras.auth.utils", "oras", "reaching an OCI registry", RegistryError)
        parsed = auth_utils.parse_auth_header(header)
        self._challenge = ("bearer", {"realm": parsed.realm, "service": parsed.service})
        with self._lock:
            cached = self._tokens.get(scope)
        if cached and sent != "Bearer %s" % cached:
            return True  # another thread fetched the token meanwhile
        wanted = set(scope.split()) | set((parsed.scope or "").split())
        token = self._fetch_token(parsed.realm, parsed.service, sorted(wanted))
        with self._lock:
            self._tokens[scope] = token
        return sent != "Bearer %s" % token

    def _fetch_token(self, realm, service, scopes):
        if not realm:
            raise RegistryAuthError("The registry %s asks for a bearer token but names no token service." % self.registry)
        params = [("service", service)] if service else []
        params += [("scope", scope) for scope in scopes]
        headers = {"Accept": "application/json"}
        credentials = self._basic_credentials()
        session = self._session
        try:
            if self.options["token"] and not credentials:
                # An identity token (docker login's refresh token) is exchanged with the OAuth2 flow.
                data = dict(params, grant_type="refresh_token", refresh_token=self.options["token"],
                            client_id="cnab.runtime")
                response = session.post(realm, data=data, headers=headers, timeout=self.timeout, verify=self._verify)
                if response.status_code == 404 or response.status_code == 405:
                    response = session.get(realm, params=params, timeout=self.timeout, verify=self._verify,
                                           headers=dict(headers, Authorization="Bearer %s" % self.options["token"]))
            else:
                if credentials:
                    headers["Authorization"] = "Basic %s" % credentials
                response = session.get(realm, params=params, headers=headers, timeout=self.timeout, verify=self._verify)
        except Exception as exc:  # requests' exceptions; the import is lazy
            raise RegistryError("The token service of registry %s cannot be reached (%s)." % (self.registry, type(exc).__name__)) from None
        if response.status_code in (401, 403):
            raise RegistryAuthError("The registry %s refused the credentials given for %s; check username and password."
                                    % (self.registry, " ".join(scopes)))
        if response.status_code != 200:
            raise RegistryError("The token service of registry %s answered HTTP %s." % (self.registry, response.status_code))
        body = _json_object(response)
        token = body.get("token") or body.get("access_token")
        if not token or not isinstance(token, str):
            raise RegistryAuthError("The token service of registry %s returned no token." % self.registry)
        return token

    def _detect_scheme(self):
        """With ``insecure`` on a non-loopback registry: HTTPS without verification, else plain HTTP."""
        if self._scheme_known:
            return
        import requests

        try:
            self._session.get("https://%s/v2/" % self.host, timeout=self.timeout, verify=self._verify)
        except requests.exceptions.SSLError:
            if not self.options["insecure"]:
                raise RegistryError("The registry %s does not answer over TLS with a trusted certificate; set ca_cert "
                                    "to its CA bundle, or insecure: true for plain HTTP." % self.registry) from None
            self._scheme = "http"
        except requests.exceptions.ConnectionError:
            if self.options["insecure"]:
                self._scheme = "http"
        self._scheme_known = True

    def request(self, method, path, repo, push=False, mount_from=(), headers=None, body=None, size=None,
                stream=False, expect=(200,), url=None, retries=None):
        """One registry request with authentication, timeouts and bounded retries.

        ``body`` is bytes, a zero-argument callable returning a file object or an iterator of chunks
        (called again for each attempt, so a retried upload re-reads its source), or such a stream
        itself (sent once, never retried)."""
        import requests

        self._detect_scheme()
        scope = self._scope(repo, push, mount_from)
        target = url or self.url(path)
        attempt, auth_tries = 0, 0
        limit = self.retries if retries is None else retries
        if not (body is None or callable(body) or isinstance(body, (bytes, bytearray))):
            limit, auth_tries = 0, 2  # a stream is read once: no second attempt
        while True:
            data = body() if callable(body) else body
            if data is not None and not isinstance(data, (bytes, bytearray)):
                data = _Body(data, size)
            sent = dict(headers or {})
            sent.update(self._auth_header(scope))
            try:
                response = self._session.request(method, target, data=data, headers=sent, stream=stream,
                                                 timeout=self.timeout, verify=self._verify,
                                                 allow_redirects=method in ("GET", "HEAD"))
            except requests.exceptions.SSLError:
                raise RegistryError("The TLS connection to registry %s failed; set ca_cert to its CA bundle "
                                    "(or insecure: true)." % self.registry) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if isinstance(exc.__context__, ContentDigestMismatch):
                    raise exc.__context__ from None
                if attempt < limit:
                    attempt += 1
                    time.sleep(min(0.25 * 2 ** attempt, 4))
                    continue
                raise RegistryError("The registry %s cannot be reached (%s after %d attempts)."
                                    % (self.registry, type(exc).__name__, attempt + 1)) from None
            if response.status_code == 401 and auth_tries < 2:
                response.close()
                auth_tries += 1
                if self._learn(response, scope, sent.get("Authorization")):
                    continue
            if response.status_code in (401, 403):
                response.close()
                raise RegistryAuthError("The registry %s refused access to %s (HTTP %s); check registry_auth."
                                        % (self.registry, scope or "the API", response.status_code))
            if response.status_code in _RETRY_STATUS and attempt < limit:
                response.close()
                attempt += 1
                time.sleep(min(0.25 * 2 ** attempt, 4))
                continue
            if response.status_code not in expect:
                return self._unexpected(response, method, target, expect)
            return response

    def _unexpected(self, response, method, target, expect, error=RegistryError):
        if 404 in expect:
            return response
        try:
            errors = _json_object(response).get("errors")
            errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
            detail = "; ".join("%s %s" % (e.get("code", ""), e.get("message", "")) for e in errors)[:500]
        finally:
            response.close()
        answer = "HTTP %s%s" % (response.status_code, (" (%s)" % detail.strip()) if detail.strip() else "")
        failure = error("The registry %s answered %s to %s %s." % (self.registry, answer, method, target.split("?")[0]))
        failure.answer = answer
        raise failure

    # ------------------------------------------------------------------ blobs
    def head_blob(self, repo, digest):
        """The blob's size when ``repo`` holds ``digest``, else None."""
        response = self.request("HEAD", "%s/blobs/%s" % (repo, check_digest(digest)), repo, expect=(200, 404))
        response.close()
        if response.status_code == 404:
            return None
        return int(response.headers.get("Content-Length") or 0)

    def open_blob(self, repo, digest, size=None):
        """A file-like stream of the blob, verified against ``digest`` (and ``size``) while it is read."""
        response = self.request("GET", "%s/blobs/%s" % (repo, check_digest(digest)), repo, stream=True, expect=(200, 404))
        if response.status_code == 404:
            response.close()
            raise RegistryError("The blob %s is missing from %s/%s." % (digest, self.registry, repo))
        return VerifyingReader(response.iter_content(CHUNK), digest, size, what="blob", close=response.close)

    def mount_blob(self, repo, digest, from_repo):
        """Cross-repository mount; True when the registry mounted the blob."""
        query = urlencode({"mount": check_digest(digest), "from": from_repo})
        response = self.request("POST", "%s/blobs/uploads/?%s" % (repo, query), repo, push=True,
                                mount_from=(from_repo,), expect=(201, 202))
        response.close()
        if response.status_code == 201:
            return True
        self._cancel_upload(repo, response)
        return False

    def _cancel_upload(self, repo, response):
        location = response.headers.get("Location")
        if location:
            try:
                self.request("DELETE", None, repo, push=True, url=self._absolute(location), expect=(204, 404)).close()
            except RegistryError:
                pass  # an abandoned upload session expires on its own

    def _absolute(self, location):
        return urljoin("%s://%s/" % (self._scheme, self.host), location)

    def push_blob(self, repo, digest, size, stream):
        """Monolithic streamed upload (POST then PUT). ``stream`` is bytes, a file object, an iterator
        of chunks, or a zero-argument callable returning one of those (re-opened on retry).
        The registry checks the digest; a mismatch fails and leaves nothing behind."""
        check_digest(digest)
        started = self.request("POST", "%s/blobs/uploads/" % repo, repo, push=True, expect=(202,))
        started.close()
        location = started.headers.get("Location")
        if not location:
            raise RegistryError("The registry %s started an upload without a Location." % self.registry)
        target = self._absolute(location)
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        body = stream  # bytes or a callable are sent again on a retry; a stream is sent once
        try:
            response = self.request("PUT", None, repo, push=True, url=target, body=body, size=size,
                                    headers={"Content-Type": "application/octet-stream"}, expect=(201, 400))
        except ContentDigestMismatch:
            self._cancel_upload(repo, started)
            raise
        response.close()
        if response.status_code == 400:
            raise ContentDigestMismatch("The registry %s refused blob %s: its content does not match the digest."
                                        % (self.registry, digest))
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise ContentDigestMismatch("The registry %s stored blob %s as %s." % (self.registry, digest, stored))
        return digest

    def push_blob_stream(self, repo, size, chunks):
        """Upload ``size`` bytes whose digest is not known in advance (POST, one streamed PATCH,
        then PUT with the digest computed on the way); returns the digest."""
        import hashlib

        hasher = hashlib.sha256()

        def hashed():
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk

        started = self.request("POST", "%s/blobs/uploads/" % repo, repo, push=True, expect=(202,))
        started.close()
        if not started.headers.get("Location"):
            raise RegistryError("The registry %s started an upload without a Location." % self.registry)
        patched = self.request("PATCH", None, repo, push=True, url=self._absolute(started.headers["Location"]),
                               body=hashed(), size=size, headers={"Content-Type": "application/octet-stream"},
                               expect=(202, 204))
        patched.close()
        digest = "sha256:" + hasher.hexdigest()
        target = self._absolute(patched.headers.get("Location") or started.headers["Location"])
        target += ("&" if "?" in target else "?") + urlencode({"digest": digest})
        self.request("PUT", None, repo, push=True, url=target, body=b"", expect=(201,)).close()
        return digest

    # -------------------------------------------------------------- manifests
    def head_manifest(self, repo, ref):
        """``(digest, media_type, size)`` of the manifest ``ref`` (tag or digest), or None when absent."""
        response = self.request("HEAD", "%s/manifests/%s" % (repo, ref), repo, headers={"Accept": ACCEPT},
                                expect=(200, 404))
        response.close()
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            # Registries may omit the header on HEAD; the GET hashes the bytes.
            raw, media_type, digest = self.get_manifest(repo, ref)
            return digest, media_type, len(raw)
        return digest, response.headers.get("Content-Type", "").split(";")[0], int(response.headers.get("Content-Length") or 0)

    def get_manifest(self, repo, ref):
        """``(raw_bytes, media_type, digest)``; the digest is computed from the bytes and must equal
        ``ref`` when ``ref`` is a digest."""
        response = self.request("GET", "%s/manifests/%s" % (repo, ref), repo, headers={"Accept": ACCEPT},
                                stream=True, expect=(200, 404))
        with response:
            if response.status_code == 404:
                raise RegistryError("The manifest %s is missing from %s/%s." % (ref, self.registry, repo))
            raw = b""
            for chunk in response.iter_content(64 * 1024):
                raw += chunk
                if len(raw) > MAX_MANIFEST_SIZE:
                    raise RegistryError("The manifest %s in %s/%s is larger than 4 MiB." % (ref, self.registry, repo))
            content_type = response.headers.get("Content-Type")
        digest = sha256_digest(raw)
        if ref.startswith("sha256:") and digest != ref:
            raise ContentDigestMismatch("The manifest %s in %s/%s does not match its digest; it was altered."
                                        % (ref, self.registry, repo))
        return raw, media_type_of(raw, content_type), digest

    def list_tags(self, repo, page_size=1000):
        """Every tag of ``repo`` (distribution's tags API, following its ``Link`` pages); [] when
        the repository does not exist."""
        tags, path = [], "%s/tags/list?%s" % (repo, urlencode({"n": page_size}))
        url = None
        while True:
            response = self.request("GET", path, repo, url=url, expect=(200, 404))
            with response:
                if response.status_code == 404:
                    return tags
                try:
                    page = response.json()
                except ValueError:
                    raise RegistryError("The registry %s answered the tags of %s with something that is not"
                                        " JSON." % (self.registry, repo)) from None
                following = response.links.get("next", {}).get("url")
            found = page.get("tags") if isinstance(page, dict) else None
            tags.extend(t for t in (found or []) if isinstance(t, str))
            if not following:
                return tags
            url = urljoin(self.url(path), following)

    def put_manifest(self, repo, ref, raw_bytes, media_type):
        """PUT the manifest bytes unchanged under ``ref`` (tag or digest); returns their digest."""
        digest = sha256_digest(raw_bytes)
        if ref.startswith("sha256:") and ref != digest:
            raise ContentDigestMismatch("The manifest to store as %s has digest %s." % (ref, digest))
        path = "%s/manifests/%s" % (repo, ref)
        response = self.request("PUT", path, repo, push=True, body=bytes(raw_bytes),
                                headers={"Content-Type": media_type}, expect=(201,) + _FORM_REFUSED)
        if response.status_code in _FORM_REFUSED:
            self._unexpected(response, "PUT", self.url(path), (201,), ManifestRefused)
        response.close()
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise ContentDigestMismatch("The registry %s stored manifest %s as %s." % (self.registry, digest, stored))
        return digest
