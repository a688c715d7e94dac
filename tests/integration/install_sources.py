"""Helpers of the install-from-registry and install-from-archive tests: the ``relocated`` test
bundle's image built with a marker (so a test sees which build ran), pushed through the runtime's
own push, and private registries on ports 5110-5119 that these tests may stop (the shared ones on
5100-5103 are never stopped)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

from support import HERE

RELOCATED = os.path.join(HERE, "bundles", "relocated")
IMAGE = "cnab-tests/relocated:0.1.0"
OPEN_REGISTRY = "127.0.0.1:5100"
BASIC_REGISTRY = "127.0.0.1:5101"
BASIC_AUTH = {"username": "cnab", "password": "cnab-test-password"}


def document():
    with open(os.path.join(RELOCATED, "bundle.json"), encoding="utf-8") as handle:
        return json.load(handle)


def build_image(marker, workdir):
    """Build the relocated bundle's image with ``marker`` baked in, as IMAGE; returns its id."""
    context = os.path.join(workdir, "context-" + marker)
    shutil.copytree(RELOCATED, context, dirs_exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(context, "busybox"))
    subprocess.run(["docker", "build", "-q", "--build-arg", "MARKER=" + marker, "-t", IMAGE, context], check=True,
                   capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))
    return subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", IMAGE], check=True, capture_output=True,
                          text=True).stdout.strip()


def push(reference, registry_options=None):
    """Push the relocated bundle (its image as the engine has it now) to ``reference``."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import push_bundle

    return push_bundle(document(), reference, registry_options or {})


def copy(source, destination, dest_registry_options=None):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import copy_bundle

    return copy_bundle(source, destination, {}, dest_registry_options or {})


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def remove_image(*references):
    """Remove images this test created (never prune anything else)."""
    subprocess.run(["docker", "rmi", "-f", *references], capture_output=True, check=False)


def image_present(reference):
    return subprocess.run(["docker", "image", "inspect", reference], capture_output=True, check=False).returncode == 0


class PrivateRegistry:
    """A docker-registry (CNCF distribution 2.8) of a test's own, on 127.0.0.1:``port``, that the test
    may stop and start again; its storage survives a restart."""

    def __init__(self, port, root):
        self.port = port
        self.address = "127.0.0.1:%d" % port
        self.root = os.path.join(str(root), "registry-%d" % port)
        os.makedirs(os.path.join(self.root, "data"), exist_ok=True)
        self.config = os.path.join(self.root, "config.yml")
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                         "storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n"
                         "http:\n  addr: 127.0.0.1:%d\n  secret: h4b-test\n" % (self.root, port))
        self.process = None

    def start(self, timeout=20):
        if _answers(self.port):
            raise AssertionError("port %d is taken: another private registry runs there" % self.port)
        log = open(os.path.join(self.root, "log"), "ab")  # noqa: SIM115 - the registry keeps it open
        self.process = subprocess.Popen(["docker-registry", "serve", self.config], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("private registry on %s did not start" % self.address)
            time.sleep(0.05)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        assert not _answers(self.port)


def _answers(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def four_steps(ansible, module, args):
    """Check mode, run, re-run, check mode: the ``changed`` of each and the results."""
    results = []
    for flags in (["--check"], [], [], ["--check"]):
        result, output = ansible.adhoc(module, args, *flags)
        assert not result.get("failed"), output
        results.append(result)
    return [r["changed"] for r in results], results


def claims_of(home, installation):
    directory = os.path.join(home, "installations", installation, "claims")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []
