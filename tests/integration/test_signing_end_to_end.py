"""Signing and verification end to end, through Ansible, against private registries (distribution 2.8
on 127.0.0.1:5120-5122, which these tests may stop) and the real Docker engine.

Sign on push; verify on install, on inspect, on copy to a second registry and there; archive, stop
the first registry, install from the archive and publish it into another registry, verify there;
tamper with the index, an image manifest, a layer and the .sig manifest and see each refused;
policy: unsigned refused when required (module_defaults), used with a warning when not (environment);
a signature by another key refused. A refused bundle starts no container and records no claim.
"""

import base64
import hashlib
import json
import os
import types
import uuid

import pytest
import requests
from install_sources import PrivateRegistry, claims_of, four_steps
from registries import push_random_image
from support import HELLO, containers

from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import push_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference
from ansible_collections.cnab.runtime.plugins.module_utils.signing import keyfiles, keys, signer

PASSPHRASE = "h6-e2e-passphrase-5d1c"
ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def regs(tmp_path_factory):
    root = tmp_path_factory.mktemp("h6-registries")
    first, second = PrivateRegistry(5120, root).start(), PrivateRegistry(5121, root).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """The team's key (cosign format, with a passphrase) and another team's key."""
    root = tmp_path_factory.mktemp("h6-keys")
    ours = keyfiles.ensure_key_pair(str(root / "cosign.key"), passphrase=PASSPHRASE)
    theirs = keyfiles.ensure_key_pair(str(root / "other.key"), key_format="pkcs8")
    return ours, theirs


def document(name):
    with open(os.path.join(HELLO, "bundle.json"), encoding="utf-8") as handle:
        doc = json.load(handle)
    doc["name"] = name  # its own bundle.json, config manifest and index: tampering touches no other test
    return doc


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def push(registry, repository, doc, pair=None, tag="v1"):
    """Push with the runtime's push, and sign with ``pair``'s key (the library path the module uses)."""
    reference = "%s/%s:%s" % (registry.address, repository, tag)
    pushed = push_bundle(doc, reference)
    if pair is not None:
        private = keys.load_private_key(pair["private_key"], PASSPHRASE)
        signer.sign_index(private, RegistryClient({}, registry.address), parse_reference(reference),
                          pushed.index_digest, pushed.bundle_digest)
    return reference, pushed


def verify(pair, required=True):
    return {"keys": [pair["public_key"]], "required": required}


def blob_file(registry, digest):
    hexdigest = digest.split(":", 1)[1]
    return os.path.join(registry.root, "data", "docker", "registry", "v2", "blobs", "sha256", hexdigest[:2],
                        hexdigest, "data")


class Tampered:
    """Change one byte of a blob in the registry's storage, and put it back afterwards. In a manifest
    the byte is a hex digit of the last digest it names, so the JSON stays valid and the registry still
    serves it (a broken manifest it would refuse to serve at all)."""

    def __init__(self, registry, digest):
        self.path = blob_file(registry, digest)

    def __enter__(self):
        with open(self.path, "rb") as handle:
            self.original = handle.read()
        found = self.original.rfind(b'"sha256:')
        at = found + len(b'"sha256:') if found >= 0 else len(self.original) // 2
        changed = (b"e" if self.original[at:at + 1] == b"f" else b"f") if found >= 0 \
            else bytes([self.original[at] ^ 0x20])
        with open(self.path, "wb") as handle:
            handle.write(self.original[:at] + changed + self.original[at + 1:])
        return self

    def __exit__(self, *exc):
        with open(self.path, "wb") as handle:
            handle.write(self.original)


def independent_check(registry, repository, index_digest, public_key_path):
    """Read the signature as cosign would, with plain HTTP and ``cryptography`` only."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    base = "http://%s/v2/%s" % (registry.address, repository)
    tag = "sha256-%s.sig" % index_digest.split(":", 1)[1]
    response = requests.get("%s/manifests/%s" % (base, tag), headers={"Accept": ACCEPT}, timeout=30)
    response.raise_for_status()
    manifest = response.json()
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert response.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = requests.get("%s/blobs/%s" % (base, layer["digest"]), timeout=30).content
    assert sha(payload) == layer["digest"]
    document_ = json.loads(payload)
    assert document_["critical"]["image"]["docker-manifest-digest"] == index_digest
    assert document_["critical"]["type"] == "cosign container image signature"
    assert document_["critical"]["identity"]["docker-reference"] == "%s/%s" % (registry.address, repository)
    with open(public_key_path, "rb") as handle:
        public = serialization.load_pem_public_key(handle.read())
    public.verify(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload,
                  ec.ECDSA(hashes.SHA256()))


def test_sign_on_push_in_four_steps_then_verify_on_install(ansible, regs, pairs, tmp_path):
    first, _second = regs
    ours, theirs = pairs
    source = tmp_path / "bundle"
    source.mkdir()
    (source / "bundle.json").write_text(json.dumps(document(unique("signed"))))
    repository = unique("h6/signed")
    args = {"src": str(source), "dest": "%s/%s:v1" % (first.address, repository),
            "sign": {"key": ours["private_key"], "passphrase": PASSPHRASE}}
    changed, results = four_steps(ansible, "cnab_bundle", args)
    assert changed == [True, True, False, False]
    assert [r["signature"]["added"] for r in results] == [True, True, False, False]
    assert results[1]["signature"]["fingerprint"] == ours["fingerprint"]
    independent_check(first, repository, results[1]["digest"], ours["public_key"])

    reference = "%s/%s:v1" % (first.address, repository)
    args = {"installation": "h6-signed", "bundle": reference, "verify": verify(ours)}
    installed, output = ansible.adhoc("cnab_install", args)
    assert installed["changed"] and installed["result"]["status"] == "succeeded", output
    info, _output = ansible.adhoc("cnab_claim_info", {"installation": "h6-signed"})
    signature = info["installation"]["bundle"]["signature"]
    assert signature["verified"] and signature["keyFingerprint"] == ours["fingerprint"]
    assert signature["indexDigest"] == results[1]["digest"]

    args = {"installation": "h6-wrong-key", "bundle": reference, "verify": verify(theirs)}
    refused, output = ansible.adhoc("cnab_install", args)
    assert refused["failed"]
    assert refused["msg"].startswith('Bundle "%s" 0.1.0 from %s/%s@%s was refused: none of its 1 signature verifies'
                                     % (json.loads((source / "bundle.json").read_text())["name"], first.address,
                                        repository, results[1]["digest"])), refused["msg"]
    assert containers("h6-wrong-key") == [] and claims_of(ansible.home, "h6-wrong-key") == []
    assert PASSPHRASE not in output

    # Uninstall reuses the recorded bundle and its recorded verification (same digest, key still trusted).
    removed, output = ansible.adhoc("cnab_uninstall", {"installation": "h6-signed", "verify": verify(ours)})
    assert removed["result"]["status"] == "succeeded", output
    assert removed["claim"]["bundle"]["signature"]["keyFingerprint"] == ours["fingerprint"]


def test_unsigned_is_refused_by_module_defaults_and_used_with_a_warning_from_the_environment(
        ansible, regs, pairs, tmp_path):
    first, _second = regs
    ours, _theirs = pairs
    reference, _pushed = push(first, unique("h6/unsigned"), document(unique("unsigned")))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/cnab.runtime.cnab": {"verify": verify(ours)}},
        "tasks": [{"cnab.runtime.cnab_install": {"installation": "h6-unsigned-required", "bundle": reference}}],
    }]))
    run = ansible.playbook(str(playbook))
    assert run.returncode != 0 and "was refused: it has no signature." in run.stdout, run.stdout
    assert containers("h6-unsigned-required") == [] and claims_of(ansible.home, "h6-unsigned-required") == []
    pulled, output = ansible.adhoc("cnab_bundle", {"src": reference, "dest": str(tmp_path / "pulled"),
                                                   "verify": verify(ours)})
    assert pulled["failed"] and pulled["msg"].endswith("was refused: it has no signature."), output
    assert not (tmp_path / "pulled").exists()

    ansible.env["CNAB_VERIFY_KEYS"] = ours["public_key"]  # required defaults to false
    result, output = ansible.adhoc("cnab_install", {"installation": "h6-unsigned-allowed", "bundle": reference})
    assert result["changed"] and result["result"]["status"] == "succeeded", output
    assert "is not verified (it has no signature); it is used because verify.required is false" in output
    signature = result["claim"]["bundle"]["signature"]
    assert signature["verified"] is False and signature["status"] == "unsigned"


def test_copy_carries_the_signature_to_a_second_registry_where_it_verifies(ansible, regs, pairs):
    first, second = regs
    ours, _theirs = pairs
    source, pushed = push(first, unique("h6/copy-src"), document(unique("copied")), ours)
    destination = "%s/%s:v1" % (second.address, unique("h6/copy-dest"))
    args = {"src": source, "dest": destination, "verify": verify(ours)}
    copied, output = ansible.adhoc("cnab_bundle", args)
    assert copied["changed"] and copied["verification"]["verified"], output
    assert copied["digest"] == pushed.index_digest
    again, output = ansible.adhoc("cnab_bundle", args)
    assert not again["changed"], output
    there, output = ansible.adhoc("cnab_bundle", {"src": destination, "verify": verify(ours)})
    assert there["verification"]["verified"] and there["verification"]["keyFingerprint"] == ours["fingerprint"], output


def test_archive_then_install_and_publish_with_the_first_registry_stopped(ansible, regs, pairs, tmp_path):
    _first, second = regs
    ours, _theirs = pairs
    origin = PrivateRegistry(5122, tmp_path).start()
    try:
        source, pushed = push(origin, unique("h6/archived"), document(unique("archived")), ours)
        archive = str(tmp_path / "bundle.tgz")
        written, output = ansible.adhoc("cnab_bundle", {"src": source, "dest": archive, "verify": verify(ours)})
        assert written["changed"] and written["verification"]["verified"], output
    finally:
        origin.stop()
    # Air-gapped side: no way back to the origin registry.
    args = {"installation": "h6-from-archive", "bundle": archive, "verify": verify(ours)}
    installed, output = ansible.adhoc("cnab_install", args)
    assert installed["result"]["status"] == "succeeded", output
    assert installed["claim"]["bundle"]["signature"]["keyFingerprint"] == ours["fingerprint"]
    destination = "%s/%s:v1" % (second.address, unique("h6/published"))
    published, output = ansible.adhoc("cnab_bundle", {"src": archive, "dest": destination, "verify": verify(ours)})
    assert published["changed"] and published["digest"] == pushed.index_digest, output
    there, output = ansible.adhoc("cnab_bundle", {"src": destination, "verify": verify(ours)})
    assert there["verification"]["verified"], output


def test_tampering_with_each_link_of_the_chain_is_refused(ansible, regs, pairs):
    first, second = regs
    ours, _theirs = pairs
    repository = unique("h6/tampered")
    # Content no other test shares (push_random_image wants the registry as ``.host``).
    component, layer = push_random_image(types.SimpleNamespace(host=first.address), repository + "-data")
    doc = document(unique("tampered"))
    doc["images"] = {"data": {"image": component, "imageType": "oci"}}
    reference, pushed = push(first, repository, doc, ours)
    decoy, decoy_pushed = push(first, repository, document(unique("decoy")), ours, tag="decoy")
    client = RegistryClient({}, first.address)
    index = json.loads(client.get_manifest(repository, pushed.index_digest)[0])
    image_manifest = index["manifests"][2]["digest"]  # the component image
    sig_tag = "sha256-%s.sig" % pushed.index_digest.split(":", 1)[1]
    sig_raw = client.get_manifest(repository, sig_tag)[0]
    payload_digest = json.loads(sig_raw)["layers"][0]["digest"]

    def refused(args, expected, module="cnab_bundle"):
        result, output = ansible.adhoc(module, args)
        assert result.get("failed") and expected in result["msg"], output
        return result["msg"]

    inspect = {"src": reference, "verify": verify(ours)}
    assert ansible.adhoc("cnab_bundle", inspect)[0]["verification"]["verified"]  # untouched, it verifies
    with Tampered(first, pushed.index_digest):
        refused({"installation": "h6-tampered-index", "bundle": reference, "verify": verify(ours)},
                "does not match its digest", "cnab_install")
        assert containers("h6-tampered-index") == []
    with Tampered(first, image_manifest):
        refused(inspect, "does not match its digest")
    with Tampered(first, layer):
        copy = {"src": reference, "dest": "%s/%s:v1" % (second.address, unique("h6/tampered-copy")),
                "verify": verify(ours)}
        refused(copy, "does not match its digest")
    with Tampered(first, payload_digest):
        refused(inspect, "was refused: its signature manifest is unusable")
    # A valid signature of another bundle, replayed under this bundle's .sig tag.
    decoy_sig = client.get_manifest(repository, "sha256-%s.sig" % decoy_pushed.index_digest.split(":", 1)[1])[0]
    client.put_manifest(repository, sig_tag, decoy_sig, "application/vnd.oci.image.manifest.v1+json")
    refused(inspect, "was refused: its signature by key %s (%s) is for the index %s"
            % (ours["public_key"], ours["fingerprint"], decoy_pushed.index_digest))
    client.put_manifest(repository, sig_tag, sig_raw, "application/vnd.oci.image.manifest.v1+json")
    assert ansible.adhoc("cnab_bundle", inspect)[0]["verification"]["verified"]
