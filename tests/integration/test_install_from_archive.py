"""Installing from a thick bundle archive with no registry at all, through Ansible and a real Docker engine.

The archive is made from a private registry (port 5112) that is stopped before any install, and the
image, built with a marker unique to this run, is removed from the engine: the install has to load
it from the archive (OCI layout converted to a ``docker save`` stream) and run exactly that image.
"""

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid

import pytest
from install_sources import IMAGE, PrivateRegistry, build_image, claims_of, four_steps, image_present, push, remove_image


@pytest.fixture(scope="module")
def archived(images, tmp_path_factory):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import write_archive

    workdir = tmp_path_factory.mktemp("archive")
    marker = "archived-" + uuid.uuid4().hex[:12]
    registry = PrivateRegistry(5112, workdir).start()
    try:
        image_id = build_image(marker, str(workdir))
        reference = registry.address + "/bundles/relocated:1"
        pushed = push(reference)
        written = write_archive(reference, str(workdir / "relocated.tgz"))
    finally:
        registry.stop()  # from here on no registry holds this bundle
    remove_image(IMAGE, image_id)  # ours alone: its marker is unique to this run
    assert not image_present(image_id), "the archived image must not be in the engine before the tests"
    yield {"path": written.path, "index_digest": written.index_digest, "marker": marker, "image_id": image_id,
           "mapping": written.relocation_mapping, "pushed": pushed, "workdir": workdir}
    remove_image(image_id)


def test_install_from_the_archive_in_four_steps_with_every_registry_stopped(ansible, archived):
    changed, results = four_steps(ansible, "cnab_install", {"installation": "from-archive", "bundle": archived["path"]})
    assert changed == [True, True, False, False]
    outputs = results[1]["outputs"]
    assert outputs["marker"].strip() == archived["marker"]  # exactly the archived build ran
    assert outputs["mapping"] == archived["mapping"]
    # Loaded under a tag that pins it, with the id the archive's config digest gives.
    inspected = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}} {{json .RepoTags}}", archived["image_id"]],
                               capture_output=True, text=True, check=True).stdout
    assert "cnab-tests/relocated:sha256-%s" % archived["image_id"].split(":")[1] in inspected
    bundle = results[1]["claim"]["bundle"]
    assert bundle["reference"] == archived["path"] and bundle["index_digest"] == archived["index_digest"]
    # The archive's index digest is the registry's: the same bundle from either source is the same install.
    assert archived["index_digest"] == archived["pushed"].index_digest
    # Uninstall reuses the recorded source: the image is already in the engine, no load, no registry.
    result, output = ansible.adhoc("cnab_uninstall", {"installation": "from-archive"})
    assert result["changed"] and result["result"]["status"] == "succeeded", output


def _install_from_a_copy(ansible, archived, installation):
    """Install from a copy of the archive and delete the copy; returns what the claim recorded."""
    path = str(archived["workdir"] / (installation + ".tgz"))
    shutil.copy(archived["path"], path)
    result, output = ansible.adhoc("cnab_install", {"installation": installation, "bundle": path})
    assert result["changed"] and result["result"]["status"] == "succeeded", output
    os.remove(path)
    (claim_id,) = claims_of(ansible.home, installation)
    with open(os.path.join(ansible.home, "installations", installation, "claims", claim_id), encoding="utf-8") as handle:
        return path, json.load(handle)["custom"]["cnab.runtime"]


def test_uninstall_runs_the_engines_image_after_the_archive_is_deleted(ansible, archived):
    path, custom = _install_from_a_copy(ansible, archived, "archive-deleted")
    assert custom["invocationImage"]["imageIds"] == {"": archived["image_id"]}
    assert custom["invocationImage"]["manifestDigest"] == archived["mapping"][IMAGE].rpartition("@")[2]
    assert image_present(archived["image_id"]) and not os.path.exists(path)
    changed, results = four_steps(ansible, "cnab_uninstall", {"installation": "archive-deleted"})
    assert changed == [True, True, False, False]
    assert results[1]["result"]["status"] == "succeeded"


def test_without_the_image_and_the_archive_uninstall_fails_in_one_sentence_and_records_nothing(ansible, archived):
    path, _custom = _install_from_a_copy(ansible, archived, "archive-and-image-gone")
    remove_image(archived["image_id"])
    before = claims_of(ansible.home, "archive-and-image-gone")
    result, output = ansible.adhoc("cnab_uninstall", {"installation": "archive-and-image-gone"})
    assert result.get("failed"), output
    message = result["msg"]
    assert IMAGE in message and path in message and "no longer" in message, output
    assert message.endswith(".") and "\n" not in message and message.count(". ") == 0, message
    assert claims_of(ansible.home, "archive-and-image-gone") == before


def _flip(data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


def _tampered(source, target, pick, change):
    """A copy of the archive whose member ``pick`` chooses is ``change``d (same size)."""
    with tarfile.open(source, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    chosen = pick([m for m, _data in members if m.isreg()])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member is chosen:
                data = change(data)
                assert len(data) == member.size
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    with gzip.open(target, "wb") as handle:
        handle.write(buffer.getvalue())
    return target


@pytest.mark.parametrize("what,pick,change,expected", [
    ("layer", lambda regs: max(regs, key=lambda m: m.size), _flip, "does not match its digest"),
    ("bundle.json", lambda regs: next(m for m in regs if m.name.endswith("bundle.json")),
     lambda data: data.replace(b"which build", b"WHICH build"), "was altered"),
])
def test_a_tampered_archive_fails_in_one_sentence_and_records_nothing(ansible, archived, what, pick, change, expected):
    remove_image(archived["image_id"])  # else the engine's verified copy would be used and the layer never read
    path = _tampered(archived["path"], str(archived["workdir"] / ("tampered-%s.tgz" % what.replace(".", "-"))), pick, change)
    result, output = ansible.adhoc("cnab_install", {"installation": "tampered", "bundle": path})
    assert result.get("failed"), output
    assert expected in result["msg"] and "Docker engine" not in result["msg"], output
    assert result["msg"].endswith(".") and "\n" not in result["msg"]
    assert claims_of(ansible.home, "tampered") == []
    assert not image_present(archived["image_id"])
    assert os.path.exists(path)
