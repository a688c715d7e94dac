"""A small Docker token-auth server for the test registries (distribution's ``auth.token``).

    python3 registry-token-server.py init  DIR           write DIR/key.pem and DIR/cert.pem (self-signed)
    python3 registry-token-server.py serve DIR HOST:PORT serve GET/POST /token

Users come from DIR/users.json ({"name": "password"}); DIR/identity.json ({"identity token": "name"})
lists identity (refresh) tokens accepted by the OAuth2 form (POST, grant_type=refresh_token). An authenticated user gets every action it
asks for (pull, push, delete) on any repository; an anonymous request gets a token without access,
which the registry refuses, as real token services do. Wrong credentials get HTTP 401.
Tokens are RS256 JWTs carrying the signing certificate in ``x5c``; the registry trusts it through
``auth.token.rootcertbundle``. Test infrastructure only.
"""

import base64
import datetime
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ISSUER = "cnab-test-token-server"
SERVICE = "cnab-test-registry"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def init(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    if os.path.exists(os.path.join(directory, "cert.pem")):
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(directory, "key.pem"), "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with open(os.path.join(directory, "cert.pem"), "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))


def serve(directory, address):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    with open(os.path.join(directory, "key.pem"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    with open(os.path.join(directory, "cert.pem"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    with open(os.path.join(directory, "users.json"), encoding="utf-8") as handle:
        users = json.load(handle)
    identities = {}
    if os.path.exists(os.path.join(directory, "identity.json")):
        with open(os.path.join(directory, "identity.json"), encoding="utf-8") as handle:
            identities = json.load(handle)

    def token_for(subject, scopes):
        access = []
        if subject:
            for scope in scopes:
                parts = scope.split(":")
                if len(parts) >= 3:
                    access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                                   "actions": [a for a in parts[-1].split(",") if a]})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        claims = {"iss": ISSUER, "sub": subject or "", "aud": SERVICE, "iat": now, "nbf": now - 10,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "access": access}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _user(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None, True
            try:
                name, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None, False
            return name, users.get(name) == password

        def _answer(self, params):
            name, valid = self._user()
            if not valid:
                return self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            scopes = []
            for key, value in params:
                if key == "scope":
                    scopes.extend(value.split())
            token = token_for(name, scopes)
            self._reply(200, {"token": token, "access_token": token, "expires_in": 300})

        def do_GET(self):
            self._answer(parse_qsl(urlsplit(self.path).query))

        def do_POST(self):
            # The OAuth2 form: password and refresh-token (identity token) grants.
            length = int(self.headers.get("Content-Length") or 0)
            params = parse_qsl(self.rfile.read(length).decode())
            form = dict(params)
            if form.get("grant_type") == "password" and users.get(form.get("username")) == form.get("password"):
                name = form["username"]
            elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") in identities:
                name = identities[form["refresh_token"]]
            else:
                return self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            scopes = [s for k, v in params if k == "scope" for s in v.split()]
            token = token_for(name, scopes)
            self._reply(200, {"token": token, "access_token": token, "expires_in": 300})

    host, port = address.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "init":
        init(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
