"""Fixtures for the test registries that scripts/start-registries.sh runs (CNCF distribution 2.8):

    open   127.0.0.1:5100  anonymous pull and push
    basic  127.0.0.1:5101  htpasswd
    token  127.0.0.1:5102  bearer tokens from a local token server on 127.0.0.1:5103

Import the fixtures into a test module (``from registries import registries, repo_name``).
"""

import os
import re
import socket
import subprocess
import uuid

import pytest
from support import REPO

USERNAME = "cnab"
PASSWORD = "cnab-test-password"
AUTH = dict(username=USERNAME, password=PASSWORD)


class Registry:
    def __init__(self, name, port, auth=None):
        self.name = name
        self.host = "127.0.0.1:%d" % port
        self.auth = auth
        # Where scripts/start-registries.sh keeps the registry's storage: this tree's build/, unless the
        # registries answering were started from another checkout (CNAB_REGISTRY_ROOT names its build/registries).
        root = os.environ.get("CNAB_REGISTRY_ROOT") or os.path.join(REPO, "build", "registries")
        self.storage = os.path.join(root, name, "data", "docker", "registry", "v2")

    def blob_path(self, digest):
        hexdigest = digest.split(":", 1)[1]
        return os.path.join(self.storage, "blobs", "sha256", hexdigest[:2], hexdigest, "data")

    def ref(self, repository, tag=None):
        return "%s/%s%s" % (self.host, repository, ":" + tag if tag else "")


class Registries:
    def __init__(self):
        self.open = Registry("open", 5100)
        self.basic = Registry("basic", 5101, AUTH)
        self.token = Registry("token", 5102, AUTH)


@pytest.fixture(scope="session")
def registries():
    subprocess.run([os.path.join(REPO, "scripts", "start-registries.sh")], check=True, capture_output=True)
    return Registries()


@pytest.fixture
def repo_name(request):
    """A repository name no other test (or earlier run) uses."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    return "t/%s-%s" % (name, uuid.uuid4().hex[:8])


def unused_port():
    """A loopback port nothing listens on (for a registry that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def push_random_image(registry, repository, size=4096, tag="v1"):
    """Push a one-layer OCI image of random bytes to an open registry with plain HTTP requests
    (independent of the collection); returns its digest-pinned reference. Random content keeps a
    test that tampers with registry storage from touching blobs that other tests share."""
    import hashlib
    import json

    import requests

    def digest(data):
        return "sha256:" + hashlib.sha256(data).hexdigest()

    url = "http://%s/v2/%s" % (registry.host, repository)
    layer = os.urandom(size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
                         "config": {}}).encode()
    for blob in (layer, config):
        location = requests.post(url + "/blobs/uploads/", timeout=30).headers["Location"]
        requests.put(location, params={"digest": digest(blob)}, data=blob, timeout=30).raise_for_status()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": size}],
    }).encode()
    requests.put(url + "/manifests/" + tag, data=manifest, timeout=30,
                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()
    return "%s/%s@%s" % (registry.host, repository, digest(manifest)), digest(layer)


def outside_address():
    """This machine's first non-loopback IPv4 address (registries there are not reached over plain
    HTTP by default), or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    return next((address for address in out if address.count(".") == 3 and not address.startswith("127.")), None)


def self_signed_ca_and_server(directory, address):
    """A CA certificate and a server certificate for ``address`` signed by it (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cnab test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]), ca_name,
                         server_key.public_key(), ca_key, False, [x509.IPAddress(ipaddress.ip_address(address))])
    paths = {name: os.path.join(directory, name + ".pem") for name in ("ca", "cert", "key")}
    with open(paths["ca"], "wb") as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as handle:
        handle.write(server.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as handle:
        handle.write(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return paths


class PrivateRegistry:
    """A docker-registry of a test's own on ``address``:<free port> (optionally TLS); stopped on exit."""

    def __init__(self, directory, address, tls=None):
        import time

        self.host = "%s:%d" % (address, unused_port())
        config = os.path.join(directory, "config.yml")
        tls_yaml = "  tls:\n    certificate: %s\n    key: %s\n" % (tls["cert"], tls["key"]) if tls else ""
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"
                         "  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n%s"
                         % (os.path.join(directory, "data"), self.host, tls_yaml))
        self.process = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((address, int(self.host.rsplit(":", 1)[1]))) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError("the private registry on %s did not start" % self.host)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
