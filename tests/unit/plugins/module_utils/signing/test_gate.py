"""The verify policy applied to bundle sources (signing/gate.py, sources.apply_policy)."""

import socket

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import sources
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryError, SignatureError
from ansible_collections.cnab.runtime.plugins.module_utils.signing import gate, keyfiles

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return keyfiles.ensure_key_pair(str(tmp_path_factory.mktemp("keys") / "k.key"), key_format="pkcs8")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_keys_and_not_required_checks_nothing():
    source = sources.BundleSource("file", Bundle({"name": "x"}, "/b/bundle.json"))
    assert sources.apply_policy(source, {"keys": [], "required": False}) is source
    assert source.signature is None and source.claim_custom() == {}


def test_a_local_file_is_refused_when_required_and_recorded_unverified_when_not(pair):
    source = sources.BundleSource("file", Bundle({"name": "hello", "version": "0.1.0"}, "/b/bundle.json"))
    with pytest.raises(SignatureError, match=r'^Bundle "hello" 0.1.0 from /b/bundle.json was refused: a local '
                                             r"bundle.json carries no signature"):
        sources.apply_policy(source, {"keys": [pair["public_key"]], "required": True})
    sources.apply_policy(source, {"keys": [pair["public_key"]], "required": False})
    assert source.claim_custom()["signature"]["status"] == "unsigned"
    assert source.warnings and "it is used because verify.required is false" in source.warnings[0]


def test_a_recorded_verification_is_reused_only_for_the_same_digest_and_a_trusted_key(pair):
    policy = gate.policy_of({"keys": [pair["public_key"]]})
    record = {"verified": True, "status": "verified", "keyFingerprint": pair["fingerprint"], "indexDigest": DIGEST}
    assert gate.reused(policy, record, DIGEST).record == record
    assert gate.reused(policy, record, "sha256:" + "cd" * 32) is None
    assert gate.reused(policy, dict(record, keyFingerprint="sha256:" + "0" * 64), DIGEST) is None
    assert gate.reused(policy, dict(record, verified=False), DIGEST) is None


def test_a_recorded_claim_spares_the_registry(pair):
    # The registry does not answer: only the recorded verification can make this pass.
    reference = "127.0.0.1:%d/x/y:v1@%s" % (free_port(), DIGEST)
    source = sources.BundleSource("registry", Bundle({"name": "y"}, reference), DIGEST,
                                  registry_options={"retries": 0, "timeout": 2})
    claim = {"custom": {"cnab.runtime": {"signature": {"verified": True, "keyFingerprint": pair["fingerprint"],
                                                       "indexDigest": DIGEST}}}}
    sources.apply_policy(source, {"keys": [pair["public_key"]], "required": True}, claim)
    assert source.signature["verified"] and source.warnings == []


def test_an_unreachable_registry_fails_when_required_and_warns_when_not(pair):
    reference = "127.0.0.1:%d/x/y:v1@%s" % (free_port(), DIGEST)

    def source():
        return sources.BundleSource("registry", Bundle({"name": "y"}, reference), DIGEST,
                                    registry_options={"retries": 0, "timeout": 2})

    with pytest.raises(RegistryError):
        sources.apply_policy(source(), {"keys": [pair["public_key"]], "required": True})
    lenient = sources.apply_policy(source(), {"keys": [pair["public_key"]], "required": False})
    assert lenient.signature["status"] == "unchecked" and not lenient.signature["verified"]
    assert "could not be verified" in lenient.warnings[0]
