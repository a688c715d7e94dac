"""Signing and verification (plugins/module_utils/signing) against real cosign signatures.

The interoperability oracle is data/cosign-fixtures, a copy of ../shared/cosign-fixtures (signatures
made by the cosign tool, from containers/image; its README states which must verify). Our own signatures are checked by an independent reading
of the format written here with nothing but ``cryptography``, ``json`` and ``hashlib``.
"""

import base64
import hashlib
import json
import os
import re
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ansible_collections.cnab.runtime.plugins.module_utils.errors import SignatureError, SigningKeyError
from ansible_collections.cnab.runtime.plugins.module_utils.signing import keys, manifest, payload, verify

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # tests/unit
FIXTURES = os.path.join(HERE, "data", "cosign-fixtures")
COSIGN_KEYS = os.path.join(HERE, "data", "cosign-keys")


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def read_fixture_signature(path):
    """containers/image's "dir" signature file: a NUL format byte, the line ``sigstore-json``, then a JSON object."""
    with open(path, "rb") as handle:
        header, _newline, body = handle.read().partition(b"\n")
    assert header == b"\0sigstore-json"
    document = json.loads(body)
    assert document["mimeType"] == payload.MEDIA_TYPE
    return verify.Signature(base64.b64decode(document["payload"]),
                            document["annotations"][manifest.SIGNATURE_ANNOTATION])


def manifest_digest(folder):
    with open(fixture(folder, "manifest.json"), "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


def signatures_in(folder):
    names = sorted(n for n in os.listdir(fixture(folder)) if n.startswith("signature-"))
    return [read_fixture_signature(fixture(folder, name)) for name in names]


# ---------------------------------------------------------------- cosign's own signatures


@pytest.mark.parametrize("folder", ["dir-img-cosign-valid", "dir-img-cosign-valid-2"])
def test_cosign_signatures_of_the_valid_images_verify_with_cosign_pub(folder):
    trusted = keys.load_public_key(fixture("cosign.pub"))
    signatures = signatures_in(folder)
    for signature in signatures:  # each one on its own, as the README says
        verdict = verify.verify_signatures(manifest_digest(folder), [signature], [trusted])
        assert verdict.status == verify.VERIFIED, verdict
        assert verdict.fingerprint == trusted.fingerprint
    assert len(signatures) == (2 if folder.endswith("-2") else 1)


@pytest.mark.parametrize("folder", ["dir-img-cosign-modified-manifest", "dir-img-cosign-manifest-digest-error"])
def test_a_valid_signature_next_to_another_manifest_is_a_digest_mismatch(folder):
    trusted = keys.load_public_key(fixture("cosign.pub"))
    verdict = verify.verify_signatures(manifest_digest(folder), signatures_in(folder), [trusted])
    assert verdict.status == verify.MISMATCH, verdict
    assert manifest_digest(folder) in verdict.reason
    assert not verdict.verified


@pytest.mark.parametrize("folder", ["dir-img-cosign-valid", "dir-img-cosign-valid-2", "dir-img-cosign-modified-manifest",
                                    "dir-img-cosign-manifest-digest-error"])
def test_no_fixture_signature_verifies_with_cosign2_pub(folder):
    other = keys.load_public_key(fixture("cosign2.pub"))
    verdict = verify.verify_signatures(manifest_digest(folder), signatures_in(folder), [other])
    assert verdict.status == verify.UNTRUSTED, verdict
    assert "cosign2.pub" in verdict.reason


def test_the_unknown_key_signature_verifies_with_neither_key():
    trusted = [keys.load_public_key(fixture("cosign.pub")), keys.load_public_key(fixture("cosign2.pub"))]
    signature = read_fixture_signature(fixture("unknown-cosign-key.signature"))
    signed = payload.parse_payload(signature.payload).digest
    verdict = verify.verify_signatures(signed, [signature], trusted)
    assert verdict.status == verify.UNTRUSTED, verdict


def test_one_trusted_key_among_several_is_enough_and_is_the_one_recorded():
    trusted = [keys.load_public_key(fixture("cosign2.pub")), keys.load_public_key(fixture("cosign.pub"))]
    verdict = verify.verify_signatures(manifest_digest("dir-img-cosign-valid"), signatures_in("dir-img-cosign-valid"),
                                       trusted)
    assert verdict.verified and verdict.fingerprint == trusted[1].fingerprint
    assert verdict.as_record()["keyFingerprint"] == trusted[1].fingerprint


def test_our_payload_builder_reproduces_cosigns_payload_byte_for_byte():
    for folder in ("dir-img-cosign-valid", "dir-img-cosign-valid-2"):
        for signature in signatures_in(folder):
            parsed = payload.parse_payload(signature.payload)
            assert payload.build_payload(parsed.docker_reference, parsed.digest) == signature.payload


def test_a_tampered_cosign_signature_or_payload_is_refused():
    trusted = [keys.load_public_key(fixture("cosign.pub"))]
    digest = manifest_digest("dir-img-cosign-valid")
    (good,) = signatures_in("dir-img-cosign-valid")
    der = bytearray(base64.b64decode(good.signature))
    der[-1] ^= 1
    flipped = verify.Signature(good.payload, base64.b64encode(bytes(der)).decode())
    assert verify.verify_signatures(digest, [flipped], trusted).status == verify.UNTRUSTED
    edited = verify.Signature(good.payload.replace(b"single-sample", b"single-sampla"), good.signature)
    assert verify.verify_signatures(digest, [edited], trusted).status == verify.UNTRUSTED
    garbage = verify.Signature(good.payload, "not base64!")
    assert verify.verify_signatures(digest, [garbage], trusted).status == verify.UNTRUSTED


def test_no_signature_at_all_is_unsigned():
    verdict = verify.verify_signatures("sha256:" + "0" * 64, [], [])
    assert verdict.status == verify.UNSIGNED and verdict.reason == "it has no signature"


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(COSIGN_KEYS) if n.endswith(".key")))
def test_cosign_encrypted_private_keys_load_with_their_passphrase(name):
    path = os.path.join(COSIGN_KEYS, name)
    private = keys.load_private_key(path, "hello")
    assert private.key.curve.name == "secp256r1"
    with pytest.raises(SigningKeyError, match="passphrase is wrong"):
        keys.load_private_key(path, "wrong")


def spki_fingerprint(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def test_fingerprint_is_sha256_of_the_spki_der():
    with open(fixture("cosign.pub"), "rb") as handle:
        pem = handle.read()
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    expected = "sha256:" + hashlib.sha256(base64.b64decode(body)).hexdigest()
    assert keys.load_public_key(fixture("cosign.pub")).fingerprint == expected


@pytest.mark.parametrize("key_format,passphrase", [("cosign", "s3cret"), ("cosign", ""), ("pkcs8", "s3cret"),
                                                   ("pkcs8", None)])
def test_written_private_keys_load_back_with_the_same_fingerprint(tmp_path, key_format, passphrase):
    private = keys.generate_private_key()
    path = str(tmp_path / "k.key")
    with open(path, "wb") as handle:
        handle.write(keys.private_key_pem(private, passphrase, key_format, path))
    with open(path, "rb") as handle:
        head = handle.readline()
    expected_head = {("cosign", True): b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
                     ("pkcs8", True): b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
                     ("pkcs8", False): b"-----BEGIN PRIVATE KEY-----\n"}
    assert head == expected_head[(key_format, key_format == "cosign" or bool(passphrase))]
    loaded = keys.load_private_key(path, passphrase)
    assert loaded.fingerprint == private.fingerprint == spki_fingerprint(private.key.public_key())
    if passphrase:
        with pytest.raises(SigningKeyError, match="passphrase"):
            keys.load_private_key(path, "other")
    if key_format == "pkcs8" and passphrase:
        with pytest.raises(SigningKeyError, match="encrypted: give its passphrase"):
            keys.load_private_key(path, None)


def test_a_passphrase_given_for_an_unencrypted_key_is_ignored(tmp_path):
    private = keys.generate_private_key()
    path = tmp_path / "plain.key"
    path.write_bytes(keys.private_key_pem(private, None, "pkcs8", str(path)))
    assert keys.load_private_key(str(path), "unneeded").fingerprint == private.fingerprint


def test_sec1_private_keys_load(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "sec1.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    assert keys.load_private_key(str(path)).fingerprint == spki_fingerprint(key.public_key())


def test_keys_other_than_p256_are_refused_with_a_reason(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    private_path, public_path = tmp_path / "p384.key", tmp_path / "p384.pub"
    private_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(SigningKeyError, match="secp384r1 key; cnab.runtime signs and verifies with ECDSA P-256"):
        keys.load_private_key(str(private_path))
    with pytest.raises(SigningKeyError, match="secp384r1"):
        keys.load_public_key(str(public_path))


def test_key_file_errors_are_one_sentence(tmp_path):
    with pytest.raises(SigningKeyError, match=r"^public key .*missing.pub does not exist\.$"):
        keys.load_public_key(str(tmp_path / "missing.pub"))
    private = tmp_path / "priv.key"
    private.write_bytes(keys.private_key_pem(keys.generate_private_key(), None, "pkcs8", str(private)))
    with pytest.raises(SigningKeyError, match=r"that is a private key: give its \.pub file"):
        keys.load_public_key(str(private))
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGpzb24=\n"
                     b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError, match="not a valid cosign encrypted key file"):
        keys.load_private_key(str(junk), "x")
    (tmp_path / "text.key").write_text("hello")
    with pytest.raises(SigningKeyError, match="is not a PEM private key"):
        keys.load_private_key(str(tmp_path / "text.key"))


def test_a_cosign_key_file_asking_for_huge_scrypt_memory_is_refused(tmp_path):
    document = {"kdf": {"name": "scrypt", "params": {"N": 1 << 24, "r": 64, "p": 1}, "salt": "AAAA"},
                "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(b"\0" * 24).decode()},
                "ciphertext": "AAAA"}
    path = tmp_path / "greedy.key"
    body = base64.b64encode(json.dumps(document).encode()).decode()
    path.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n%s\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
                    % body)
    with pytest.raises(SigningKeyError, match="outside what cosign writes"):
        keys.load_private_key(str(path), "x")


# ---------------------------------------------------------------- our signatures, checked independently

INDEX_DIGEST = "sha256:" + hashlib.sha256(b"an index").hexdigest()
REFERENCE = "127.0.0.1:5100/bundles/hello"


def independent_check(tag, manifest_bytes, config_bytes, blobs, signed_digest, docker_reference, public_pem):
    """cosign's legacy format, read from its description (not from our code): returns the
    number of signatures that verify with ``public_pem`` for ``signed_digest``."""
    public = serialization.load_pem_public_key(public_pem)
    assert tag == "sha256-%s.sig" % signed_digest.split(":", 1)[1]
    document = json.loads(manifest_bytes)
    assert document["schemaVersion"] == 2
    assert document["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert document["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert document["config"]["digest"] == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert document["config"]["size"] == len(config_bytes)
    config = json.loads(config_bytes)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"] for layer in document["layers"]]}
    verified = 0
    for layer in document["layers"]:
        assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
        blob = blobs[layer["digest"]]
        assert layer["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest() and layer["size"] == len(blob)
        expected = ('{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},'
                    '"type":"cosign container image signature"},"optional":' % (docker_reference, signed_digest))
        assert blob.startswith(expected.encode()) and blob.endswith(b"}") and b"\n" not in blob
        encoded = layer["annotations"]["dev.cosignproject.cosign/signature"]
        assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", encoded) and len(encoded) % 4 == 0  # std alphabet, padded
        der = base64.b64decode(encoded)
        r, s = decode_dss_signature(der)
        assert encode_dss_signature(r, s) == der  # strict DER
        public.verify(der, blob, ec.ECDSA(hashes.SHA256()))
        verified += 1
    return verified


def test_our_signature_passes_the_independent_check():
    signer = keys.generate_private_key()
    body = payload.build_payload(REFERENCE, INDEX_DIGEST, {payload.BUNDLE_DIGEST_ANNOTATION: "sha256:" + "a" * 64})
    layer = manifest.layer_for(body, manifest.sign_payload(signer, body))
    manifest_bytes, config_bytes = manifest.build_signature_manifest([layer])
    count = independent_check(manifest.signature_tag(INDEX_DIGEST), manifest_bytes, config_bytes, {layer.digest: body},
                              INDEX_DIGEST, REFERENCE, keys.public_key_pem(signer.public))
    assert count == 1
    assert body.endswith(b',"optional":{"io.cnab.bundle.digest":"sha256:' + b"a" * 64 + b'"}}')


def test_two_signers_make_two_layers_and_each_verifies():
    signers = [keys.generate_private_key(), keys.generate_private_key()]
    body = payload.build_payload(REFERENCE, INDEX_DIGEST)
    layers = [manifest.layer_for(body, manifest.sign_payload(signer, body)) for signer in signers]
    manifest_bytes, config_bytes = manifest.build_signature_manifest(layers)
    for signer in signers:
        public_pem = keys.public_key_pem(signer.public)
        with pytest.raises(Exception):  # the other signer's layer does not verify with this key
            independent_check(manifest.signature_tag(INDEX_DIGEST), manifest_bytes, config_bytes, {layers[0].digest: body},
                              INDEX_DIGEST, REFERENCE, public_pem)
    parsed = manifest.parse_signature_manifest(manifest_bytes)
    described = [(lay.digest, lay.size, lay.signature) for lay in layers]
    assert [(lay.digest, lay.size, lay.signature) for lay in parsed] == described
    signatures = [verify.Signature(body, lay.signature) for lay in parsed]
    for signer in signers:
        verdict = verify.verify_signatures(INDEX_DIGEST, signatures, [signer.public])
        assert verdict.verified and verdict.fingerprint == signer.fingerprint


def test_the_payload_escapes_like_go_and_sorts_annotations():
    body = payload.build_payload("r/x", INDEX_DIGEST, {"b": "<&>", "a": "\u2028é"})
    assert body.endswith(b'"optional":{"a":"\\u2028\xc3\xa9","b":"\\u003c\\u0026\\u003e"}}')
    assert payload.parse_payload(body).optional == {"a": "\u2028é", "b": "<&>"}


def test_a_signed_bundle_digest_that_differs_is_a_mismatch():
    signer = keys.generate_private_key()
    body = payload.build_payload(REFERENCE, INDEX_DIGEST, {payload.BUNDLE_DIGEST_ANNOTATION: "sha256:" + "a" * 64})
    signature = verify.Signature(body, manifest.sign_payload(signer, body))
    ok = verify.verify_signatures(INDEX_DIGEST, [signature], [signer.public], bundle_digest="sha256:" + "a" * 64)
    assert ok.verified
    bad = verify.verify_signatures(INDEX_DIGEST, [signature], [signer.public], bundle_digest="sha256:" + "b" * 64)
    assert bad.status == verify.MISMATCH and "bundle.json" in bad.reason


def test_a_trusted_key_signing_a_non_cosign_payload_is_invalid():
    signer = keys.generate_private_key()
    body = b'{"critical":{"type":"something else"}}'
    verdict = verify.verify_signatures(INDEX_DIGEST, [verify.Signature(body, manifest.sign_payload(signer, body))],
                                       [signer.public])
    assert verdict.status == verify.INVALID and "not a cosign signature payload" in verdict.reason


@pytest.mark.parametrize("raw,message", [
    (b"nope", "not JSON"),
    (b'{"schemaVersion":1}', "schemaVersion 2"),
    (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","layers":[]}', "media type"),
    (b'{"schemaVersion":2}', "no layers list"),
    (b'{"schemaVersion":2,"layers":[1]}', "layer 1 .* not an object"),
    (b'{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",'
     b'"digest":"sha256:x","size":1}]}', "no sha256 digest"),
    (b'{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",'
     b'"digest":"sha256:' + b"a" * 64 + b'","size":99999999}]}', "invalid size"),
    (b'{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",'
     b'"digest":"sha256:' + b"a" * 64 + b'","size":3}]}', "no dev.cosignproject.cosign/signature"),
])
def test_malformed_signature_manifests_are_named(raw, message):
    with pytest.raises(manifest.MalformedSignature, match=message):
        manifest.parse_signature_manifest(raw)


def test_layers_of_other_media_types_are_skipped():
    raw = json.dumps({"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                                     "digest": "sha256:" + "a" * 64, "size": 3}]})
    assert manifest.parse_signature_manifest(raw) == []


def test_signature_tag_scheme():
    assert manifest.signature_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32 + ".sig"
    assert manifest.is_signature_tag("sha256-" + "ab" * 32 + ".sig")
    assert not manifest.is_signature_tag("sha256-" + "ab" * 32)
    assert manifest.signed_digest_of_tag("sha256-" + "ab" * 32 + ".sig") == "sha256:" + "ab" * 32
    with pytest.raises(ValueError):
        manifest.signature_tag("sha512:" + "ab" * 64)


# ---------------------------------------------------------------- policy


def test_required_without_keys_is_a_configuration_error():
    with pytest.raises(SignatureError, match="verify.required is true but verify.keys names no public key"):
        verify.VerifyPolicy([], True).trusted_keys()
    assert not verify.VerifyPolicy.from_options(None).active
    assert verify.VerifyPolicy.from_options({"keys": ["k.pub"], "required": False}).active


def test_enforce_refuses_when_required_and_warns_when_not():
    verdict = verify.Verdict(verify.UNSIGNED, "it has no signature")
    with pytest.raises(SignatureError) as caught:
        verify.VerifyPolicy(["k.pub"], True).enforce(verdict, "bundle hello 0.1.0 (r/x:1)")
    assert str(caught.value) == "Bundle hello 0.1.0 (r/x:1) was refused: it has no signature."
    warning = verify.VerifyPolicy(["k.pub"], False).enforce(verdict, "bundle hello 0.1.0 (r/x:1)")
    assert warning.startswith("Bundle hello 0.1.0 (r/x:1) is not verified (it has no signature)")
    assert verify.VerifyPolicy(["k.pub"], True).enforce(verify.Verdict(verify.VERIFIED, "ok", "f"), "b") is None


def test_private_key_files_are_not_world_readable_when_we_write_them(tmp_path):
    # keys.py only builds bytes; the module writes them. Guard the helper the module uses.
    from ansible_collections.cnab.runtime.plugins.module_utils.signing.keyfiles import write_new_file

    path = str(tmp_path / "new.key")
    write_new_file(path, b"secret", 0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_new_file(path, b"other", 0o600)


@pytest.mark.parametrize("name", ["cosign.pub", "cosign2.pub"])
def test_the_fingerprint_read_without_parsing_equals_the_parsed_one(name):
    with open(fixture(name), "rb") as handle:
        data = handle.read()
    assert keys.fingerprint_of_public_pem(data) == keys.load_public_key(fixture(name)).fingerprint
    assert keys.fingerprint_of_public_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") is None
