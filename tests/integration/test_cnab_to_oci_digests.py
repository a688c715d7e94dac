"""A real push writes cnab-to-oci's bytes, and reads back from the registry in that form; bundles
pushed in this collection's previous form still pull, install and verify; registries that refuse a
form get cnab-to-oci's fallbacks (a refusing registry is emulated by a proxy in front of the open
registry on 127.0.0.1:5100 that answers 400 MANIFEST_INVALID to the forms it is told to refuse)."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import registries as registry_fixtures
import requests
from registries import push_random_image
from support import HELLO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json, load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ManifestRefused
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution, layout

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
CNAB_CONFIG = "application/vnd.cnab.config.v1+json"

registries = registry_fixtures.registries  # pytest fixtures, re-exported
repo_name = registry_fixtures.repo_name


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fetch(host, repository, ref):
    """``(raw bytes, Content-Type)`` of a manifest, read with plain HTTP (no code of the collection)."""
    response = requests.get("http://%s/v2/%s/manifests/%s" % (host, repository, ref), headers={"Accept": ACCEPT},
                            timeout=30)
    response.raise_for_status()
    return response.content, response.headers["Content-Type"]


@pytest.fixture
def bundle(registries, repo_name):
    """The hello bundle with its invocation image and a component image in a registry (images of this
    test's own, which no other test re-tags meanwhile): ``(document, canonical bytes)``."""
    invocation_ref, _layer = push_random_image(registries.open, repo_name + "-invocation")
    component_ref, _layer = push_random_image(registries.open, repo_name + "-component")
    document = load_bundle(HELLO).document
    document["invocationImages"] = [{"image": invocation_ref, "imageType": "oci"}]
    document["images"] = {"web": {"image": component_ref, "imageType": "oci", "description": "<web & co>"}}
    document["keywords"] = ["a&b"]
    return document, canonical_json(document)


def expected_bytes(host, repository, document, bundle_bytes, mapping, config_form=layout.CONFIG_CNAB,
                   index_form="oci-index"):
    """The index and config manifest built locally from what the registry holds for the images."""
    placed = []
    for _role, _name, image in layout.bundle_images(document):
        digest = mapping[image["image"]].rsplit("@", 1)[1]
        raw, content_type = fetch(host, repository, digest)
        placed.append((content_type, digest, len(raw)))
    return layout.build_index(document, bundle_bytes, placed, config_form, index_form)


def test_a_push_reads_back_in_cnab_to_oci_form(registries, repo_name, bundle, tmp_path):
    document, bundle_bytes = bundle
    host, reference = registries.open.host, registries.open.ref(repo_name, "v1")
    planned = distribution.push_bundle(document, reference, check_mode=True)
    pushed = distribution.push_bundle(document, reference)
    again = distribution.push_bundle(document, reference)
    planned_again = distribution.push_bundle(document, reference, check_mode=True)
    assert [planned.changed, pushed.changed, again.changed, planned_again.changed] == [True, True, False, False]
    assert again.index_digest == planned_again.index_digest == pushed.index_digest

    index_raw, content_type = fetch(host, repo_name, "v1")
    assert content_type == OCI_INDEX and sha(index_raw) == pushed.index_digest
    expected_index, expected_config = expected_bytes(host, repo_name, document, bundle_bytes, pushed.relocation_mapping)
    assert index_raw == expected_index  # the digest of the pushed index is the locally built one's
    index = json.loads(index_raw)
    assert list(index) == ["schemaVersion", "manifests", "annotations"]  # no mediaType, no artifactType
    # Go escapes & inside the keywords JSON, and again the backslash of that escape in the index.
    assert index["annotations"]["io.cnab.keywords"] == '["a\\u0026b"]' and b'a\\\\u0026b' in index_raw
    config_entry = index["manifests"][0]
    assert config_entry["mediaType"] == OCI_MANIFEST and config_entry["annotations"] == {"io.cnab.manifest.type": "config"}

    config_raw, config_type = fetch(host, repo_name, config_entry["digest"])
    assert config_raw == expected_config and config_type == OCI_MANIFEST
    config = json.loads(config_raw)
    assert list(config) == ["schemaVersion", "config", "layers"] and config["layers"] is None
    assert b'"layers":null' in config_raw
    assert config["config"] == {"mediaType": CNAB_CONFIG, "digest": sha(bundle_bytes), "size": len(bundle_bytes)}
    blob = requests.get("http://%s/v2/%s/blobs/%s" % (host, repo_name, sha(bundle_bytes)), timeout=30).content
    assert blob == bundle_bytes

    pulled = distribution.pull_bundle(reference)
    assert pulled.index_digest == pushed.index_digest and pulled.relocation_mapping == pushed.relocation_mapping

    # The signature is over that digest, the one cnab-to-oci gives the same bundle.
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference
    from ansible_collections.cnab.runtime.plugins.module_utils.signing import keyfiles, keys, signer, transport

    pair = keyfiles.ensure_key_pair(str(tmp_path / "cosign.key"), key_format="pkcs8")
    client = RegistryClient({}, host)
    signed = signer.sign_index(keys.load_private_key(pair["private_key"]), client, parse_reference(reference),
                               pushed.index_digest, pushed.bundle_digest)
    assert signed["tag"] == "sha256-%s.sig" % sha(expected_index).split(":", 1)[1]
    verdict = transport.verify_in_registry(client, repo_name, sha(expected_index), [keys.load_public_key(pair["public_key"])])
    assert verdict.verified, verdict.reason


# ------------------------------------------------------------------------------- previous form
def previous_form(document, bundle_bytes, index):
    """The bytes cnab_bundle pushed before it matched cnab-to-oci (``index`` gives the image
    descriptors): a top-level mediaType and artifactType on the index, ``mediaType`` and ``"layers": []``
    on the config manifest."""
    config = layout.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": layout.descriptor(CNAB_CONFIG, sha(bundle_bytes), len(bundle_bytes)),
                           "layers": []})
    manifests = [layout.descriptor(OCI_MANIFEST, sha(config), len(config), {"io.cnab.manifest.type": "config"})]
    manifests += index["manifests"][1:]
    index_raw = layout.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": layout.CNAB_ARTIFACT,
                              "manifests": manifests, "annotations": index["annotations"]})
    return index_raw, config


def test_a_bundle_in_the_previous_form_pulls_installs_verifies_and_a_push_moves_it_once(
        ansible, registries, repo_name, tmp_path):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference
    from ansible_collections.cnab.runtime.plugins.module_utils.signing import keyfiles, keys, signer

    document = load_bundle(HELLO).document
    document["name"] = "previous-form"  # its own bundle.json and index
    bundle_bytes = canonical_json(document)
    host = registries.open.host
    current = distribution.push_bundle(document, registries.open.ref(repo_name, "current"))
    index_raw, config_raw = previous_form(document, bundle_bytes, json.loads(fetch(host, repo_name, "current")[0]))
    assert sha(index_raw) != current.index_digest
    url = "http://%s/v2/%s/manifests/" % (host, repo_name)
    requests.put(url + sha(config_raw), data=config_raw, headers={"Content-Type": OCI_MANIFEST},
                 timeout=30).raise_for_status()
    requests.put(url + "old", data=index_raw, headers={"Content-Type": OCI_INDEX}, timeout=30).raise_for_status()
    old_reference = registries.open.ref(repo_name, "old")

    pulled = distribution.pull_bundle(old_reference)
    assert pulled.index_digest == sha(index_raw) and pulled.bundle_bytes == bundle_bytes
    assert pulled.relocation_mapping == current.relocation_mapping
    copied = distribution.copy_bundle(old_reference, registries.open.ref(repo_name + "-copy", "old"))
    assert copied.index_digest == sha(index_raw)  # a copy keeps the bytes, so signatures stay valid

    pair = keyfiles.ensure_key_pair(str(tmp_path / "cosign.key"), key_format="pkcs8")
    signer.sign_index(keys.load_private_key(pair["private_key"]), RegistryClient({}, host),
                      parse_reference(old_reference), sha(index_raw), sha(bundle_bytes))
    verify = {"keys": [pair["public_key"]], "required": True}
    installation = "previous-form-" + repo_name.rsplit("-", 1)[1]
    installed, output = ansible.adhoc("cnab_install", {"installation": installation, "bundle": old_reference,
                                                       "verify": verify})
    assert installed.get("changed") and installed["result"]["status"] == "succeeded", output
    info, output = ansible.adhoc("cnab_claim_info", {"installation": installation})
    signature = info["installation"]["bundle"]["signature"]
    assert signature["verified"] and signature["indexDigest"] == sha(index_raw), output
    removed, output = ansible.adhoc("cnab_uninstall", {"installation": installation, "verify": verify})
    assert removed["result"]["status"] == "succeeded", output

    # Pushing the same bundle again writes cnab-to-oci's form: the tag moves once, then stays.
    moved = distribution.push_bundle(document, old_reference)
    assert moved.changed and moved.stats.tag_before == sha(index_raw) and moved.index_digest == current.index_digest
    stays = distribution.push_bundle(document, old_reference)
    assert not stays.changed and stays.index_digest == current.index_digest


# --------------------------------------------------------------------------- refusing registry
class RefusingProxy:
    """A plain-HTTP proxy on a free loopback port in front of ``upstream`` that refuses, with 400
    MANIFEST_INVALID, every manifest PUT whose Content-Type or config media type is in ``refused``,
    and with ``NO_LAYERS`` in ``refused`` every manifest without layers (as registries that take
    images only do)."""

    def __init__(self, upstream, refused):
        self.upstream, self.refused, self.refusals = upstream, set(refused), []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT" and "/manifests/" in self.path and proxy.refuses(self.headers, body):
                    proxy.refusals.append(self.headers.get("Content-Type"))
                    return self._answer(400, {"Content-Type": "application/json"}, json.dumps({"errors": [
                        {"code": "MANIFEST_INVALID", "message": "manifest invalid", "detail": "form refused"}]}).encode())
                headers = {key: value for key, value in self.headers.items()
                           if key.lower() not in ("content-length", "connection", "transfer-encoding")}
                response = requests.request(self.command, "http://%s%s" % (proxy.upstream, self.path), data=body or None,
                                            headers=headers, allow_redirects=False, timeout=60)
                kept = {key: value for key, value in response.headers.items()
                        if key.lower() not in ("content-length", "connection", "transfer-encoding", "content-encoding")}
                if self.command == "HEAD":
                    kept["Content-Length"] = response.headers.get("Content-Length", "0")
                return self._answer(response.status_code, kept, response.content)

            def _answer(self, status, headers, content):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def refuses(self, headers, body):
        if headers.get("Content-Type") in self.refused:
            return True
        try:
            config = json.loads(body).get("config") or {}
        except (ValueError, AttributeError):
            return False
        if not isinstance(config, dict) or not config:
            return False  # not an image manifest (an index)
        return config.get("mediaType") in self.refused or (NO_LAYERS in self.refused and not json.loads(body).get("layers"))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


NO_LAYERS = "manifests without layers"
FALLBACKS = {
    # what the registry refuses -> (config form, index form) cnab-to-oci ends up writing
    "cnab-config": ({CNAB_CONFIG}, layout.CONFIG_OCI, "oci-index"),
    "no-layers": ({NO_LAYERS}, layout.CONFIG_DOCKER, "oci-index"),
    "oci-index": ({OCI_INDEX}, layout.CONFIG_CNAB, "docker-manifest-list"),
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_a_refusing_registry_gets_cnab_to_oci_fallbacks_in_four_steps(registries, repo_name, bundle, case, tmp_path):
    document, bundle_bytes = bundle
    refused, config_form, index_form = FALLBACKS[case]
    with RefusingProxy(registries.open.host, refused) as proxy:
        reference = "%s/%s:v1" % (proxy.host, repo_name)
        runs = [distribution.push_bundle(document, reference, check_mode=check) for check in (True, False, False, True)]
        assert [run.changed for run in runs] == [True, True, False, False]
        assert proxy.refusals  # the first form was tried and refused
        pushed = runs[1]
        assert runs[2].index_digest == runs[3].index_digest == pushed.index_digest
    mapping = {image: relocated.replace(proxy.host, registries.open.host)
               for image, relocated in pushed.relocation_mapping.items()}
    expected_index, expected_config = expected_bytes(registries.open.host, repo_name, document, bundle_bytes, mapping,
                                                     config_form, index_form)
    index_raw, content_type = fetch(registries.open.host, repo_name, "v1")
    assert index_raw == expected_index and sha(index_raw) == pushed.index_digest
    assert content_type == (DOCKER_LIST if index_form == "docker-manifest-list" else OCI_INDEX)
    config_entry = json.loads(index_raw)["manifests"][0]
    config_raw, config_type = fetch(registries.open.host, repo_name, config_entry["digest"])
    assert config_raw == expected_config and config_type == config_entry["mediaType"]
    if config_form == layout.CONFIG_DOCKER:
        assert config_type == DOCKER_MANIFEST and json.loads(config_raw)["layers"] == [json.loads(config_raw)["config"]]
    pulled = distribution.pull_bundle(registries.open.ref(repo_name, "v1"))
    assert pulled.bundle_bytes == bundle_bytes and pulled.relocation_mapping == mapping
    # A thick archive of the fallback form publishes byte for byte (its config manifest under its own media type).
    tgz = str(tmp_path / "bundle.tgz")
    written = archive.write_archive(pulled.reference, tgz)
    published = archive.publish_archive(tgz, registries.open.ref(repo_name + "-published", "v1"))
    assert written.index_digest == published.index_digest == pushed.index_digest
    assert fetch(registries.open.host, repo_name + "-published", config_entry["digest"]) == (config_raw, config_type)


def test_a_registry_refusing_every_config_form_fails_in_one_sentence_and_moves_no_tag(registries, repo_name, bundle):
    document, _bundle_bytes = bundle
    with RefusingProxy(registries.open.host, {NO_LAYERS, DOCKER_MANIFEST}) as proxy:
        with pytest.raises(ManifestRefused) as failure:
            distribution.push_bundle(document, "%s/%s:v1" % (proxy.host, repo_name))
        assert len(proxy.refusals) == 3
    message = str(failure.value)
    assert message.startswith("The registry %s refused the bundle's config manifest in every form cnab-to-oci writes"
                              % proxy.host), message
    assert message.endswith("(the last answer was HTTP 400 (MANIFEST_INVALID manifest invalid)).")
    response = requests.head("http://%s/v2/%s/manifests/v1" % (registries.open.host, repo_name),
                             headers={"Accept": ACCEPT}, timeout=30)
    assert response.status_code == 404
