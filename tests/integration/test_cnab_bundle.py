"""Round trips of bundles through real registries (distribution 2.8) and thick archives, checked
byte for byte, plus an independent reader that follows cnab-to-oci's rules."""

import hashlib
import json
import os
import subprocess

import pytest
import registries as registry_fixtures
import requests
from registries import push_random_image
from support import HELLO, SHOWCASE

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json, load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryAuthError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, "application/vnd.docker.distribution.manifest.v2+json"])

registries = registry_fixtures.registries  # a pytest fixture, re-exported
repo_name = registry_fixtures.repo_name  # a pytest fixture, re-exported


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RawRegistry:
    """The reader of this test: plain HTTP requests, no code of the collection."""

    def __init__(self, registry):
        self.registry = registry
        self.session = requests.Session()
        if registry.auth:
            self.session.auth = (registry.auth["username"], registry.auth["password"])

    def _get(self, url, **headers):
        response = self.session.get(url, headers=headers)
        if response.status_code == 401 and "Bearer" in response.headers.get("Www-Authenticate", ""):
            challenge = dict(part.split("=", 1) for part in response.headers["Www-Authenticate"][7:].split(","))
            challenge = {key: value.strip('"') for key, value in challenge.items()}
            token = self.session.get(challenge["realm"], params={"service": challenge["service"],
                                                                 "scope": challenge.get("scope")}).json()["token"]
            response = requests.get(url, headers=dict(headers, Authorization="Bearer " + token))
        response.raise_for_status()
        return response

    def manifest(self, repo, ref):
        response = self._get("http://%s/v2/%s/manifests/%s" % (self.registry.host, repo, ref), Accept=ACCEPT)
        return response.content, response.headers["Content-Type"]

    def blob(self, repo, digest):
        return self._get("http://%s/v2/%s/blobs/%s" % (self.registry.host, repo, digest)).content


def read_like_cnab_to_oci(raw_registry, repo, tag):
    """Pull as cnab-to-oci's remotes/pull.go does, checking the layout rules of CNAB spec 201."""
    raw, content_type = raw_registry.manifest(repo, tag)
    assert content_type in (OCI_INDEX, DOCKER_LIST)
    index = json.loads(raw)
    kinds = [m["annotations"]["io.cnab.manifest.type"] for m in index["manifests"]]
    assert kinds[0] == "config" and kinds[1] == "invocation" and set(kinds[2:]) <= {"component"}
    names = [m["annotations"]["io.cnab.component.name"] for m in index["manifests"][2:]]
    assert names == sorted(names)
    config_raw, _type = raw_registry.manifest(repo, index["manifests"][0]["digest"])
    assert sha(config_raw) == index["manifests"][0]["digest"]
    config = json.loads(config_raw)["config"]
    assert config["mediaType"] == "application/vnd.cnab.config.v1+json"
    bundle_raw = raw_registry.blob(repo, config["digest"])
    assert sha(bundle_raw) == config["digest"]
    for entry in index["manifests"][1:]:
        child, _type = raw_registry.manifest(repo, entry["digest"])
        assert sha(child) == entry["digest"] and len(child) == entry["size"]
    return index, bundle_raw, sha(raw)


def test_push_pull_copy_archive_publish_round_trip(images, registries, repo_name, tmp_path):
    # A component image that lives in a registry (copied across registries and repositories) and an
    # invocation image that only the local Docker engine has.
    component = distribution.push_bundle(load_bundle(HELLO).document, registries.open.ref(repo_name + "-src", "v1"))
    component_ref = component.relocation_mapping["cnab-examples/hello:0.1.0"]
    document = load_bundle(SHOWCASE).document
    document["images"] = {"zeta": {"image": component_ref, "imageType": "oci"},
                          "alpha": {"image": component_ref, "imageType": "oci"}}
    canonical = canonical_json(document)

    pushed = distribution.push_bundle(document, registries.token.ref(repo_name, "v1"), registries.token.auth)
    assert pushed.changed and pushed.bundle_digest == sha(canonical)
    raw = RawRegistry(registries.token)
    index, bundle_raw, index_digest = read_like_cnab_to_oci(raw, repo_name, "v1")
    assert bundle_raw == canonical and index_digest == pushed.index_digest
    assert [m["annotations"].get("io.cnab.component.name") for m in index["manifests"][2:]] == ["alpha", "zeta"]
    assert index["annotations"]["org.opencontainers.image.title"] == "showcase"
    assert index["annotations"]["io.cnab.runtime_version"] == document["schemaVersion"]
    assert index["annotations"]["org.opencontainers.artifactType"] == "application/vnd.cnab.manifest.v1"
    image_digests = {m["digest"] for m in index["manifests"][1:]}
    assert component_ref.split("@")[1] in image_digests  # the registry image kept its digest

    again = distribution.push_bundle(document, registries.token.ref(repo_name, "v1"), registries.token.auth)
    assert not again.changed and again.stats.bytes_uploaded == 0 and again.index_digest == pushed.index_digest

    by_tag = distribution.pull_bundle(registries.token.ref(repo_name, "v1"), registries.token.auth)
    by_digest = distribution.pull_bundle("%s@%s" % (registries.token.ref(repo_name), pushed.index_digest),
                                         registries.token.auth)
    for pulled in (by_tag, by_digest):
        assert pulled.bundle_bytes == canonical and pulled.index_digest == pushed.index_digest
        assert pulled.relocation_mapping == pushed.relocation_mapping
    assert by_tag.reference == pushed.reference and by_digest.reference.endswith(pushed.index_digest)

    tgz = str(tmp_path / "showcase.tgz")
    written = archive.write_archive(pushed.reference, tgz, registries.token.auth)
    assert written.changed and written.index_digest == pushed.index_digest
    assert not archive.write_archive(pushed.reference, tgz, registries.token.auth).changed
    with archive.ThickArchive(tgz) as thick:
        assert thick.bundle_bytes == canonical and thick.index_digest == pushed.index_digest
        for original, relocated in pushed.relocation_mapping.items():
            raw_manifest, _type = thick.image_manifest(original)
            assert sha(raw_manifest) == relocated.split("@")[1]

    published = archive.publish_archive(tgz, registries.basic.ref(repo_name, "v2"), registries.basic.auth)
    assert published.changed and published.index_digest == pushed.index_digest
    assert not archive.publish_archive(tgz, registries.basic.ref(repo_name, "v2"), registries.basic.auth).changed
    _index, bundle_raw, index_digest = read_like_cnab_to_oci(RawRegistry(registries.basic), repo_name, "v2")
    assert bundle_raw == canonical and index_digest == pushed.index_digest

    copied = distribution.copy_bundle(registries.basic.ref(repo_name, "v2"), registries.open.ref(repo_name, "v3"),
                                      registries.basic.auth, {})
    assert copied.changed and copied.index_digest == pushed.index_digest
    _index, bundle_raw, index_digest = read_like_cnab_to_oci(RawRegistry(registries.open), repo_name, "v3")
    assert bundle_raw == canonical and index_digest == pushed.index_digest
    # Within one registry, blobs are mounted rather than uploaded.
    mounted = distribution.copy_bundle(registries.open.ref(repo_name, "v3"), registries.open.ref(repo_name + "-m", "v1"))
    assert mounted.stats.blobs_mounted > 0 and mounted.stats.bytes_uploaded == 0

    # An independent tool reads the images: skopeo fetches the invocation image's manifest and config.
    invocation = pushed.relocation_mapping["cnab-examples/showcase:1.0.0"].replace(registries.token.host,
                                                                                   registries.open.host)
    skopeo = ["skopeo", "inspect", "--tls-verify=false"]
    raw_manifest = subprocess.run(skopeo + ["--raw", "docker://" + invocation], capture_output=True, check=True).stdout
    assert sha(raw_manifest) == invocation.split("@")[1]
    config = json.loads(subprocess.run(skopeo + ["--config", "docker://" + invocation], capture_output=True,
                                       check=True).stdout)
    engine_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", "cnab-examples/showcase:1.0.0"],
                               capture_output=True, text=True, check=True).stdout.strip()
    assert json.loads(raw_manifest)["config"]["digest"] == engine_id and config["rootfs"]["type"] == "layers"


def test_archive_of_a_local_bundle_matches_its_push(images, registries, repo_name, tmp_path):
    document = load_bundle(HELLO).document
    tar = str(tmp_path / "hello.tar")
    written = archive.write_archive(document, tar, compression="none")
    members = subprocess.run(["tar", "-tf", tar], capture_output=True, text=True, check=True).stdout.split()
    assert members[:2] == ["bundle.json", "relocation-mapping.json"]
    assert "artifacts/layout/oci-layout" in members and "artifacts/layout/index.json" in members
    pushed = distribution.push_bundle(document, registries.open.ref(repo_name, "v1"))
    assert written.index_digest == pushed.index_digest  # local exports are deterministic
    with archive.ThickArchive(tar) as thick:
        layout_index = thick.layout_index
        names = [m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in layout_index["manifests"]]
        assert "cnab-examples/hello:0.1.0" in names
    # skopeo reads the archive's OCI layout (extracted here only for skopeo's sake).
    extract = tmp_path / "x"
    extract.mkdir()
    subprocess.run(["tar", "-xf", tar, "-C", str(extract)], check=True)
    out = subprocess.run(["skopeo", "inspect", "--raw", "oci:%s:cnab-examples/hello:0.1.0" % (extract / "artifacts" / "layout")],
                         capture_output=True, check=True).stdout
    assert sha(out) == pushed.relocation_mapping["cnab-examples/hello:0.1.0"].split("@")[1]


CNAB_TO_OCI_VARIANTS = [
    # (index mediaType field, index Content-Type, config media type, layers)
    (None, OCI_INDEX, "application/vnd.cnab.config.v1+json", None),
    (None, OCI_INDEX, "application/vnd.cnab.bundle.config.v1+json", []),
    (None, OCI_INDEX, "application/vnd.oci.image.config.v1+json", []),
    (DOCKER_LIST, DOCKER_LIST, "application/vnd.docker.container.image.v1+json", None),
]


@pytest.mark.parametrize("variant", CNAB_TO_OCI_VARIANTS, ids=["cnab-to-oci", "spec-201", "oci-fallback", "docker-list"])
def test_reader_accepts_cnab_to_oci_variants(images, registries, repo_name, variant):
    """Bundles written by hand in the shapes cnab-to-oci (and its fallbacks) produce are read back."""
    index_type, content_type, config_type, layers = variant
    pushed = distribution.push_bundle(load_bundle(HELLO).document, registries.open.ref(repo_name, "base"))
    base = distribution.pull_bundle(pushed.reference)
    session, url = requests.Session(), "http://%s/v2/%s" % (registries.open.host, repo_name)
    bundle_raw = json.dumps(base.document, indent=1).encode()  # not canonical: the bytes must be kept as stored
    upload = session.post(url + "/blobs/uploads/").headers["Location"]
    session.put(upload, params={"digest": sha(bundle_raw)}, data=bundle_raw).raise_for_status()
    config = {"schemaVersion": 2, "config": {"mediaType": config_type, "digest": sha(bundle_raw),
                                             "size": len(bundle_raw)}, "layers": layers}
    if index_type == DOCKER_LIST:
        config = dict(config, mediaType="application/vnd.docker.distribution.manifest.v2+json",
                      layers=[{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                               "digest": sha(bundle_raw), "size": len(bundle_raw)}])
    config_raw = json.dumps(config).encode()
    config_type_header = config.get("mediaType", OCI_MANIFEST)
    session.put(url + "/manifests/" + sha(config_raw), data=config_raw,
                headers={"Content-Type": config_type_header}).raise_for_status()
    invocation = base.index.invocation
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": config_type_header, "digest": sha(config_raw), "size": len(config_raw),
         "annotations": {"io.cnab.manifest.type": "config"}},
        {"mediaType": invocation["mediaType"], "digest": invocation["digest"], "size": invocation["size"],
         "annotations": {"io.cnab.manifest.type": "invocation"}}],
        "annotations": {"io.cnab.runtime_version": "v1.0.0", "org.opencontainers.artifactType":
                        "application/vnd.cnab.manifest.v1"}}
    if index_type:
        index["mediaType"] = index_type
    index_raw = json.dumps(index).encode()
    session.put(url + "/manifests/variant", data=index_raw, headers={"Content-Type": content_type}).raise_for_status()

    pulled = distribution.pull_bundle(registries.open.ref(repo_name, "variant"))
    assert pulled.bundle_bytes == bundle_raw and pulled.index_digest == sha(index_raw)
    assert pulled.relocation_mapping == {"cnab-examples/hello:0.1.0": "%s/%s@%s" % (
        registries.open.host, repo_name, invocation["digest"])}
    copied = distribution.copy_bundle(registries.open.ref(repo_name, "variant"), registries.open.ref(repo_name + "-c", "v"))
    assert copied.index_digest == sha(index_raw)


def test_docker_config_credentials_and_helpers(images, registries, repo_name, tmp_path):
    """Credentials from a Docker config file: inline ``auths`` and a credential helper program."""
    document = load_bundle(HELLO).document
    inline = tmp_path / "inline"
    inline.mkdir()
    token = __import__("base64").b64encode(b"cnab:cnab-test-password").decode()
    (inline / "config.json").write_text(json.dumps({"auths": {registries.basic.host: {"auth": token}}}))
    pushed = distribution.push_bundle(document, registries.basic.ref(repo_name, "v1"), {"docker_config": str(inline)})
    assert pushed.changed

    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-cnabtest"
    helper.write_text('#!/bin/sh\nread host\ncase "$host" in %s|%s) ;; *) exit 1 ;; esac\n'
                      'echo \'{"Username":"cnab","Secret":"cnab-test-password"}\'\n'
                      % (registries.token.host, registries.basic.host))
    helper.chmod(0o755)
    helped = tmp_path / "helped"
    helped.mkdir()
    (helped / "config.json").write_text(json.dumps({"credHelpers": {registries.token.host: "cnabtest"}}))
    old_path = os.environ["PATH"]
    os.environ["PATH"] = "%s:%s" % (helper_dir, old_path)
    try:
        pulled = distribution.pull_bundle(registries.basic.ref(repo_name, "v1"), {"docker_config": str(inline)})
        copied = distribution.copy_bundle(pulled.reference, registries.token.ref(repo_name, "v1"),
                                          {"docker_config": str(inline)}, {"docker_config": str(helped)})
    finally:
        os.environ["PATH"] = old_path
    assert copied.changed and copied.index_digest == pushed.index_digest
    stored = tmp_path / "stored"
    stored.mkdir()
    (stored / "config.json").write_text(json.dumps({"credsStore": "cnabtest"}))
    os.environ["PATH"] = "%s:%s" % (helper_dir, old_path)
    try:
        assert distribution.pull_bundle(registries.basic.ref(repo_name, "v1"),
                                        {"docker_config": str(stored)}).index_digest == pushed.index_digest
    finally:
        os.environ["PATH"] = old_path


def test_identity_token(images, registries, repo_name, tmp_path):
    """An identity (refresh) token, given directly or in the Docker config, is exchanged for access tokens."""
    document = load_bundle(HELLO).document
    pushed = distribution.push_bundle(document, registries.token.ref(repo_name, "v1"),
                                      {"token": "cnab-test-identity-token"})
    assert pushed.changed
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {registries.token.host: {"identitytoken": "cnab-test-identity-token"}}}))
    pulled = distribution.pull_bundle(registries.token.ref(repo_name, "v1"), {"docker_config": str(tmp_path)})
    assert pulled.index_digest == pushed.index_digest
    with pytest.raises(RegistryAuthError):
        distribution.pull_bundle(registries.token.ref(repo_name, "v1"), {"token": "not-an-identity-token"})


def test_signature_tags_travel_with_the_bundle(images, registries, repo_name, tmp_path):
    """A cosign-style ``sha256-<hex>.sig`` manifest next to the index is copied, archived and published."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient

    pushed = distribution.push_bundle(load_bundle(HELLO).document, registries.open.ref(repo_name, "v1"))
    tag = pushed.index_digest.replace(":", "-") + ".sig"
    signature = push_random_image(registries.open, repo_name, size=200, tag=tag)[0].split("@")[1]
    distribution.copy_bundle(pushed.reference, registries.basic.ref(repo_name, "v1"), None, registries.basic.auth)
    assert RegistryClient(registries.basic.auth, registries.basic.host).head_manifest(repo_name, tag)[0] == signature
    tgz = str(tmp_path / "signed.tgz")
    archive.write_archive(pushed.reference, tgz)
    with archive.ThickArchive(tgz) as thick:
        assert [(name, digest) for name, digest, _raw, _type in thick.signature_manifests()] == [(tag, signature)]
    archive.publish_archive(tgz, registries.token.ref(repo_name, "v1"), registries.token.auth)
    assert RegistryClient(registries.token.auth, registries.token.host).head_manifest(repo_name, tag)[0] == signature


def test_publish_a_porter_style_archive(images, registries, repo_name, tmp_path):
    """An archive as Porter writes it: ``./`` names, no bundle index in the layout (only the images,
    named by their original reference), index.json after the blobs, bundle.json not canonical."""
    import io
    import tarfile

    pushed = distribution.push_bundle(load_bundle(HELLO).document, registries.open.ref(repo_name, "src"))
    raw = RawRegistry(registries.open)
    original = "cnab-examples/hello:0.1.0"
    image_digest = pushed.relocation_mapping[original].split("@")[1]
    manifest, media_type = raw.manifest(repo_name, image_digest)
    parsed = json.loads(manifest)
    blobs = {image_digest: manifest}
    for descriptor in [parsed["config"]] + parsed["layers"]:
        blobs[descriptor["digest"]] = raw.blob(repo_name, descriptor["digest"])
    bundle_raw = json.dumps(load_bundle(HELLO).document, indent=2).encode()
    layout_index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": media_type, "digest": image_digest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": original}}]}).encode()
    path = str(tmp_path / "porter.tgz")
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("bundle.json", bundle_raw)
        add("relocation-mapping.json", json.dumps({original: pushed.relocation_mapping[original]}).encode())
        add("artifacts/layout/oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs.items():
            add("artifacts/layout/blobs/sha256/" + digest[7:], data)
        add("artifacts/layout/index.json", layout_index)

    published = archive.publish_archive(path, registries.basic.ref(repo_name, "v1"), registries.basic.auth)
    assert published.relocation_mapping == {original: "%s@%s" % (registries.basic.ref(repo_name), image_digest)}
    index, stored_bundle, index_digest = read_like_cnab_to_oci(RawRegistry(registries.basic), repo_name, "v1")
    assert stored_bundle == bundle_raw and index_digest == published.index_digest
    assert index["manifests"][1]["digest"] == image_digest
    assert not archive.publish_archive(path, registries.basic.ref(repo_name, "v1"), registries.basic.auth).changed
