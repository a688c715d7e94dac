"""A read-only registry (distribution-spec GET/HEAD) serving whatever manifests and blobs a test
puts in it, on a loopback port of its own.

Real registries check a manifest's JSON when it is pushed (and refuse deep nesting, strings where
descriptors belong, descriptors without digests), so the hostile shapes a man in the middle, a
compromised registry or a registry with other rules can serve are served from here. The
collection's own RegistryClient talks to it over plain HTTP, as to any loopback registry.
"""

import http.server
import threading

from thick_archives import sha


class HostileRegistry:
    def __init__(self):
        self.manifests = {}   # (repository, tag or digest) -> (bytes, media type)
        self.blobs = {}       # digest -> bytes
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body):
                path = self.path.split("?", 1)[0]
                found = None
                if path == "/v2/":
                    found = (b"{}", "application/json", None)
                elif "/manifests/" in path:
                    repository, ref = path[len("/v2/"):].split("/manifests/", 1)
                    if (repository, ref) in registry.manifests:
                        raw, media_type = registry.manifests[(repository, ref)]
                        found = (raw, media_type, sha(raw))
                elif "/blobs/" in path:
                    digest = path.rsplit("/", 1)[1]
                    if digest in registry.blobs:
                        found = (registry.blobs[digest], "application/octet-stream", digest)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                raw, media_type, digest = found
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(raw)))
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.end_headers()
                if body:
                    self.wfile.write(raw)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def put_manifest(self, repository, raw, media_type, tag=None):
        self.manifests[(repository, sha(raw))] = (raw, media_type)
        if tag:
            self.manifests[(repository, tag)] = (raw, media_type)
        return sha(raw)

    def put_blob(self, raw):
        self.blobs[sha(raw)] = raw
        return sha(raw)
