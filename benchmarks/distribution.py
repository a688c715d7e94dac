"""Bundle distribution against skopeo, measured in the same run on the local test registries.

Two private registries (Debian's docker-registry, CNCF distribution 2.8) on free loopback ports, with their
storage in a temporary directory removed at the end. A bundle with three images of --size-mb MB of random
data each (built FROM scratch):
(a) push of the bundle (images only in the Docker engine) / `skopeo copy docker-daemon: docker://` of the
    three images; and, images already in a registry, push to a second registry / skopeo registry ->
    registry copies of the three images. Target <= 1.1.
(b) unchanged re-push / first push. Target <= 0.05.
(c) peak RSS (ru_maxrss of a child process doing only that operation) of push, pull and archive, for the
    bundle and for one image of --big-mb MB. Target < 100 MB and not growing with image size.
(d) archive of the pushed bundle from the registry / (skopeo copy of the three images into one OCI layout
    + tar of it); once uncompressed (tar -cf) and once gzip (tar -czf). Target <= 1.0.
Medians of --runs runs. Run through `make bench` (starts Docker).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collection_path():
    base = tempfile.mkdtemp(prefix="cnab-bench-colls-")
    os.makedirs(os.path.join(base, "ansible_collections", "cnab"))
    os.symlink(REPO, os.path.join(base, "ansible_collections", "cnab", "runtime"))
    return base


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        sys.exit("benchmark command failed: %s\n%s%s" % (" ".join(command), done.stdout, done.stderr))
    return done.stdout


def timed(command, **kwargs):
    start = time.perf_counter()
    out = run(command, **kwargs)
    return time.perf_counter() - start, out


def build_image(tag, size_mb, workdir):
    context = os.path.join(workdir, tag.replace("/", "_").replace(":", "_"))
    os.makedirs(context, exist_ok=True)
    with open(os.path.join(context, "data"), "wb") as handle:
        for _unused in range(size_mb):
            handle.write(os.urandom(1024 * 1024))
    with open(os.path.join(context, "Dockerfile"), "w", encoding="utf-8") as handle:
        handle.write("FROM scratch\nCOPY data /data\n")
    run(["docker", "build", "-q", "-t", tag, context])
    os.unlink(os.path.join(context, "data"))


def bundle_document(images):
    return {"schemaVersion": "v1.2.0", "name": "bench", "version": "0.1.0",
            "invocationImages": [{"image": images[0], "imageType": "docker"}],
            "images": {"c%d" % n: {"image": image, "imageType": "docker"} for n, image in enumerate(images[1:])}}


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, %(colls)r)
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive, distribution
import docker, oras.provider, rfc8785  # noqa: the lazy imports, so that "seconds" is the operation alone
op, arg, dest = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
auth = None
start = time.perf_counter()
if op == "push":
    result = distribution.push_bundle(arg, dest, auth)
    digest = result.index_digest
elif op == "pull":
    digest = distribution.pull_bundle(arg).index_digest
elif op == "archive":
    digest = archive.write_archive(arg, dest, None, sys.argv[4]).index_digest
elif op == "copy":
    digest = distribution.copy_bundle(arg, dest, None, auth).index_digest
print(json.dumps({"seconds": time.perf_counter() - start, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "digest": digest}))
"""


def child(colls, op, arg, dest, *extra):
    script = CHILD % {"colls": colls}
    start = time.perf_counter()
    out = run([sys.executable, "-c", script, op, json.dumps(arg), dest, *extra])
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def skopeo_copy(source, dest):
    return ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", source, dest]


def start_registry(directory):
    """A private docker-registry on a free loopback port; returns (host:port, process)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host = "127.0.0.1:%d" % sock.getsockname()[1]
    os.makedirs(directory)
    config = os.path.join(directory, "config.yml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                     "    rootdirectory: %s\nhttp:\n  addr: %s\n" % (os.path.join(directory, "data"), host))
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-s", "-o", "/dev/null", "http://%s/v2/" % host], check=False).returncode == 0:
            return host, process
        time.sleep(0.1)
    process.terminate()
    sys.exit("the private registry on %s did not start" % host)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--big-mb", type=int, default=300)
    args = parser.parse_args()
    colls = collection_path()
    workdir = tempfile.mkdtemp(prefix="cnab-bench-")
    first_host, first_registry = start_registry(os.path.join(workdir, "registry-a"))
    second_host, second_registry = start_registry(os.path.join(workdir, "registry-b"))
    tag = uuid.uuid4().hex[:8]
    big = "cnab-bench/big:%s" % tag
    built = [big]
    try:
        samples = {key: [] for key in ("push", "push_op", "repush_op", "skopeo_daemon", "push_registry", "skopeo_registry", "repush",
                                       "archive_none", "archive_gzip", "layout_tar", "layout_tgz")}
        rss = {}
        for index in range(args.runs):
            # Fresh random content every run: skopeo's blob-info cache (and the registries) must not
            # know any blob, or later runs measure mounts instead of copies.
            images = ["cnab-bench/dist%d:%s-%d" % (n, tag, index) for n in range(3)]
            for image in images:
                build_image(image, args.size_mb, workdir)
            built += images
            repo = "bench/r%s-%d" % (tag, index)
            # (a) daemon -> registry
            first = child(colls, "push", bundle_document(images), "%s/%s:v1" % (first_host, repo))
            samples["push"].append(first["wall"])
            samples["push_op"].append(first["seconds"])
            rss["push (3 x %d MB, from engine)" % args.size_mb] = first["rss_mb"]
            samples["skopeo_daemon"].append(sum(timed(skopeo_copy("docker-daemon:" + image, "docker://%s/%s-sk:%d" % (
                first_host, repo, n)))[0] for n, image in enumerate(images)))
            # (b) unchanged re-push
            again = child(colls, "push", bundle_document(images), "%s/%s:v1" % (first_host, repo))
            assert again["digest"] == first["digest"]
            samples["repush"].append(again["wall"])
            samples["repush_op"].append(again["seconds"])
            # (a') registry -> another registry
            relocated = distribution_mapping(colls, "%s/%s:v1" % (first_host, repo))
            registry_doc = bundle_document([relocated[image] for image in images])
            copied = child(colls, "push", registry_doc, "%s/%s:v1" % (second_host, repo))
            samples["push_registry"].append(copied["wall"])
            samples["skopeo_registry"].append(sum(timed(skopeo_copy("docker://" + relocated[image], "docker://%s/%s-sk:%d" % (
                second_host, repo, n)))[0] for n, image in enumerate(images)))
            # (c) pull
            rss["pull"] = child(colls, "pull", "%s/%s:v1" % (first_host, repo), "-")["rss_mb"]
            # (d) archive vs skopeo into an OCI layout + tar
            for compression in ("none", "gzip"):
                out = os.path.join(workdir, "bundle-%d-%s.tgz" % (index, compression))
                result = child(colls, "archive", "%s/%s:v1" % (first_host, repo), out, compression)
                samples["archive_" + compression].append(result["wall"])
                rss["archive (%s)" % compression] = result["rss_mb"]
                os.unlink(out)
            layout = os.path.join(workdir, "layout-%d" % index)
            copy_time = sum(timed(skopeo_copy("docker://" + relocated[image], "oci:%s:%d" % (layout, n)))[0]
                            for n, image in enumerate(images))
            tar_time, _out = timed(["tar", "-cf", layout + ".tar", "-C", layout, "."])
            tgz_time, _out = timed(["tar", "-czf", layout + ".tgz", "-C", layout, "."])
            samples["layout_tar"].append(copy_time + tar_time)
            samples["layout_tgz"].append(copy_time + tgz_time)
            shutil.rmtree(layout)
            os.unlink(layout + ".tar")
            os.unlink(layout + ".tgz")
        # (c) memory with one big image
        build_image(big, args.big_mb, workdir)
        big_repo = "bench/big%s" % tag
        big_doc = bundle_document([big])
        rss["push (1 x %d MB, from engine)" % args.big_mb] = child(colls, "push", big_doc, "%s/%s:v1" % (first_host, big_repo))["rss_mb"]
        rss["pull (%d MB bundle)" % args.big_mb] = child(colls, "pull", "%s/%s:v1" % (first_host, big_repo), "-")["rss_mb"]
        out = os.path.join(workdir, "big.tgz")
        rss["archive gzip (%d MB bundle)" % args.big_mb] = child(colls, "archive", "%s/%s:v1" % (first_host, big_repo), out,
                                                                 "gzip")["rss_mb"]
        rss["copy to another registry (%d MB bundle)" % args.big_mb] = child(
            colls, "copy", "%s/%s:v1" % (first_host, big_repo), "%s/%s:v1" % (second_host, big_repo))["rss_mb"]
    finally:
        subprocess.run(["docker", "rmi", "-f", *built], capture_output=True, check=False)
        for process in (first_registry, second_registry):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(colls, ignore_errors=True)
    med = {key: statistics.median(values) for key, values in samples.items()}
    print("date: %s, runs: %d, image size: %d MB x 3" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                         args.runs, args.size_mb))
    for key, value in med.items():
        print("  %-16s %.3f s  (all: %s)" % (key, value, ", ".join("%.3f" % v for v in samples[key])))
    print("(a)  push from engine / skopeo docker-daemon: -> registry: %.3f  (target <= 1.1)" % (med["push"] / med["skopeo_daemon"]))
    print("(a') push registry -> registry / skopeo docker:// -> docker://: %.3f  (target <= 1.1)"
          % (med["push_registry"] / med["skopeo_registry"]))
    print("(b)  unchanged re-push / first push, process wall time: %.3f  (target <= 0.05)" % (med["repush"] / med["push"]))
    print("(b)  unchanged re-push / first push, operation only (imports done): %.3f  (target <= 0.05)"
          % (med["repush_op"] / med["push_op"]))
    for key, value in rss.items():
        print("(c)  peak RSS %-40s %.1f MB  (target < 100 MB)" % (key, value))
    print("(d)  archive none / (skopeo -> OCI layout + tar -cf): %.3f  (target <= 1.0)" % (med["archive_none"] / med["layout_tar"]))
    print("(d)  archive gzip / (skopeo -> OCI layout + tar -czf): %.3f  (target <= 1.0)" % (med["archive_gzip"] / med["layout_tgz"]))


def distribution_mapping(colls, reference):
    script = ("import json, sys; sys.path.insert(0, %r)\n"
              "from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import pull_bundle\n"
              "print(json.dumps(pull_bundle(%r).relocation_mapping))" % (colls, reference))
    return json.loads(run([sys.executable, "-c", script]).strip().splitlines()[-1])


if __name__ == "__main__":
    main()
