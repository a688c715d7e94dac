"""What a no-op run with a thick archive (``bundle: x.tgz``) reads of it.

A synthetic archive is written by ``write_tar`` (write_archive's member order) with one image whose
layer is ``--layer-mb`` MiB (half random, half text, so gzip has work to do on inflating). Then, in
the same run and interleaved:
  (A) baseline: ``ThickArchive(path)``, the full scan every member of the archive gets (what a no-op
      read before identification stopped early), and
  (B) ``sources.open_source(path, recorded=claim)``: what a no-op ``cnab_installation`` does now
      (identify the archive, find the recorded claim has the same index digest).
Printed: the medians and A / B. No Docker engine or registry is needed.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "example.com/bench/identify:1.0"


def collections_root():
    root = tempfile.mkdtemp(prefix="bench-identify-")
    os.makedirs(os.path.join(root, "ansible_collections", "cnab"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "cnab", "runtime"))
    sys.path.insert(0, root)
    return root


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_synthetic(path, layer_mb):
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
    from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, layout

    half = layer_mb * 1024 * 1024 // 2
    text = b"a line of text that gzip can shrink...\n"
    layer = os.urandom(half) + text * (half // len(text))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    image = layout.dumps({"schemaVersion": 2, "mediaType": layout.OCI_MANIFEST,
                          "config": layout.descriptor("application/vnd.oci.image.config.v1+json", sha(config),
                                                      len(config)),
                          "layers": [layout.descriptor("application/vnd.oci.image.layer.v1.tar", sha(layer),
                                                       len(layer))]})
    document = {"schemaVersion": "v1.2.0", "name": "identify", "version": "1.0.0",
                "invocationImages": [{"image": IMAGE, "imageType": "docker", "contentDigest": sha(image)}]}
    bundle_bytes = canonical_json(document)
    plan = archive.ArchivePlan(document, bundle_bytes)
    index_raw, config_raw = layout.build_index(document, bundle_bytes, [(layout.OCI_MANIFEST, sha(image), len(image))])
    plan.add_manifest(image, layout.OCI_MANIFEST)
    plan.add_manifest(config_raw, layout.OCI_MANIFEST)
    plan.index_digest = plan.add_manifest(index_raw, layout.OCI_INDEX)
    for blob in (bundle_bytes, config, layer):
        plan.blobs[sha(blob)] = archive._Blob(sha(blob), len(blob), lambda b=blob: io.BytesIO(b))
    plan.relocation_mapping = {IMAGE: "example.com/bench/identify@" + sha(image)}
    plan.entries = [layout.descriptor(layout.OCI_INDEX, plan.index_digest, len(index_raw),
                                      {archive.REF_NAME: "1.0.0"}),
                    layout.descriptor(layout.OCI_MANIFEST, sha(image), len(image), {archive.REF_NAME: IMAGE})]
    with open(path, "wb") as handle:
        archive.write_tar(plan, handle)
    return document, plan.index_digest, plan.relocation_mapping


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer-mb", type=int, default=128)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    root = collections_root()
    from ansible_collections.cnab.runtime.plugins.module_utils import sources
    from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

    path = os.path.join(root, "identify.tgz")
    document, index_digest, mapping = write_synthetic(path, options.layer_mb)
    recorded = {"id": model.new_ulid(), "action": "install", "revision": "r", "bundle": document,
                "bundleReference": path, "custom": {model.RUNTIME_KEY: {
                    "bundleSource": "archive", "indexDigest": index_digest, "relocationMapping": mapping}}}
    full, identify = [], []
    for _run in range(options.runs):
        start = time.perf_counter()
        with ThickArchive(path) as archive:
            assert archive.index_digest == index_digest
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        source = sources.open_source(path, recorded=recorded)
        identify.append(time.perf_counter() - start)
        assert source.index_digest == index_digest
    a, b = statistics.median(full), statistics.median(identify)
    print("archive: %.1f MiB on disk, layer %d MiB" % (os.path.getsize(path) / 2**20, options.layer_mb))
    print("(A) full scan (baseline):          median %.4f s" % a)
    print("(B) no-op open_source (identify):  median %.4f s" % b)
    print("A / B = %.1f" % (a / b))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
