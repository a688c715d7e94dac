"""The io.cnab.docker test bundle (tests/integration/bundles/dockerhost): its image holds the host's
Docker client, so that a run shows it really reaches the engine through the mounted socket."""

import os
import shutil
import subprocess

from support import HERE, REPO

DOCKERHOST = os.path.join(HERE, "bundles", "dockerhost")
DOCKERHOST_IMAGE = "cnab-tests/dockerhost:0.1.0"
DOCKER_CLIENT = "/usr/bin/docker"
_built = []


def _copy_client(rootfs):
    """The docker client and the shared libraries it links (ldd), at their paths under ``rootfs``."""
    files = [DOCKER_CLIENT]
    linked = subprocess.run(["ldd", DOCKER_CLIENT], capture_output=True, text=True, check=False).stdout
    for line in linked.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts else ""
        if path.startswith("/"):
            files.append(path)
    for path in files:
        target = os.path.join(rootfs, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target) or os.path.getsize(target) != os.path.getsize(os.path.realpath(path)):
            shutil.copy(os.path.realpath(path), target)  # keeps the mode


def dockerhost_image():
    """Build the bundle's image once per session (examples/build.sh adds the static busybox)."""
    if not _built:
        _copy_client(os.path.join(DOCKERHOST, "rootfs"))
        subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), DOCKERHOST, DOCKERHOST_IMAGE],
                       check=True, capture_output=True)
        _built.append(DOCKERHOST_IMAGE)
    return DOCKERHOST_IMAGE
