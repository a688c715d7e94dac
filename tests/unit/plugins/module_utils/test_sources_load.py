"""drivers/docker_load: the ``docker save`` tar generated from an archived OCI image entry.

The stream is read back with tarfile (what the engine does with it is covered by the integration
tests): the members, their bytes, ``manifest.json``, the one-pass order, and the failures.
"""

import hashlib
import io
import json
import tarfile

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.drivers import docker_load
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ContentDigestMismatch, ImageDigestMismatch
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import VerifyingReader


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeArchive:
    """Blobs by digest, streamed in small chunks through the same verifying reader as the real archive."""

    def __init__(self, blobs, order=None):
        self.blobs = blobs
        self.order = order or []  # iter_blobs yields in this order ("archive order")
        self.opened = []

    def open_blob(self, wanted):
        self.opened.append(wanted)
        data = self.blobs[wanted]
        return VerifyingReader((data[i:i + 7] for i in range(0, len(data), 7)), wanted, what="archive blob")

    def iter_blobs(self, digests):
        for found in self.order:
            if found in digests:
                yield found, len(self.blobs[found]), self.open_blob(found)


CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
LAYER_A = b"layer a " * 200
LAYER_B = b"layer b " * 90


def manifest(layers=(LAYER_A, LAYER_B), sizes=None):
    return {"schemaVersion": 2, "config": {"digest": digest(CONFIG), "size": len(CONFIG)},
            "layers": [{"digest": digest(data), "size": (sizes or {}).get(data, len(data))} for data in layers]}


def archive(order=None, **overrides):
    blobs = {digest(CONFIG): CONFIG, digest(LAYER_A): LAYER_A, digest(LAYER_B): LAYER_B}
    blobs.update(overrides)
    return FakeArchive(blobs, order)


def read_tar(chunks):
    data = b"".join(chunks)
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def test_stream_is_a_docker_save_tar_in_archive_order():
    order = [digest(LAYER_B), digest(LAYER_A)]
    members = read_tar(docker_load.docker_save_stream(archive(order), manifest(), "demo/run:sha256-x"))
    hexes = [digest(d).split(":")[1] for d in (CONFIG, LAYER_B, LAYER_A)]
    assert [name for name, _data in members] == [hexes[0] + ".json", hexes[1] + ".tar", hexes[2] + ".tar",
                                                 "manifest.json"]
    assert members[0][1] == CONFIG and members[1][1] == LAYER_B and members[2][1] == LAYER_A
    # manifest.json lists the layers in the image's order, whatever order they were sent in.
    assert json.loads(members[3][1]) == [{"Config": hexes[0] + ".json", "RepoTags": ["demo/run:sha256-x"],
                                          "Layers": [hexes[2] + ".tar", hexes[1] + ".tar"]}]


def test_a_repeated_layer_is_sent_once():
    members = read_tar(docker_load.docker_save_stream(archive([digest(LAYER_A)]), manifest((LAYER_A, LAYER_A)), "t:x"))
    names = [name for name, _data in members]
    assert names.count(digest(LAYER_A).split(":")[1] + ".tar") == 1
    assert len(json.loads(members[-1][1])[0]["Layers"]) == 2


class PlainArchive(FakeArchive):
    iter_blobs = None  # an archive reader that can only open blobs one by one


def test_without_iter_blobs_each_layer_is_opened():
    fake = PlainArchive(archive().blobs)
    read_tar(docker_load.docker_save_stream(fake, manifest(), "t:x"))
    assert fake.opened == [digest(CONFIG), digest(LAYER_A), digest(LAYER_B)]


def test_a_tampered_layer_stops_the_stream():
    tampered = LAYER_A[:-1] + b"X"
    fake = archive([digest(LAYER_A), digest(LAYER_B)], **{digest(LAYER_A): tampered})
    with pytest.raises(ContentDigestMismatch):
        read_tar(docker_load.docker_save_stream(fake, manifest(), "t:x"))


def test_a_size_other_than_the_manifest_declares_stops_the_stream():
    with pytest.raises(ImageDigestMismatch, match="not the 5 bytes"):
        read_tar(docker_load.docker_save_stream(archive([digest(LAYER_A), digest(LAYER_B)]),
                                                manifest(sizes={LAYER_A: 5}), "t:x"))


def test_a_missing_layer_is_named():
    with pytest.raises(Exception, match="lacks layer"):
        read_tar(docker_load.docker_save_stream(archive([digest(LAYER_A)]), manifest(), "t:x"))


def test_loaded_tag_pins_the_image_id_under_the_original_repository():
    image_id = "sha256:" + "ab" * 32
    assert docker_load.loaded_tag("127.0.0.1:5000/demo/run:1.0", image_id) == "127.0.0.1:5000/demo/run:sha256-" + "ab" * 32
    assert docker_load.loaded_tag("demo/run@sha256:" + "cd" * 32, image_id) == "demo/run:sha256-" + "ab" * 32
