"""Images that exist only in the local Docker engine, streamed out through the docker SDK's
``get_image`` (``docker save``) without touching the disk.

Layers are stored uncompressed (``application/vnd.oci.image.layer.v1.tar``), so their digests are
the engine's diff IDs and the image's OCI manifest is the same on every export: a re-push of an
unchanged image finds everything in place and moves nothing.
"""

import re
import tarfile

from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, RegistryError, require_library
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import CHUNK, OCI_MANIFEST, ChunkedReader
from ansible_collections.cnab.runtime.plugins.module_utils.oci.layout import descriptor, dumps

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
_BLOB_NAME = re.compile(r"^(?:\./)?blobs/sha256/([a-f0-9]{64})$")
_CONFIG_NAME = re.compile(r"^(?:\./)?([a-f0-9]{64})\.json$")


def docker_api():
    docker = require_library("docker", "docker", "reading an image from the local Docker engine", BundleError)

    try:
        client = docker.from_env(timeout=300)
        return client.api
    except docker.errors.DockerException as exc:
        raise BundleError("The local Docker engine cannot be reached (%s)." % exc) from None


def inspect_local(api, name):
    """The engine's inspect data for ``name``, or None when the engine does not have it."""
    import docker

    try:
        return api.inspect_image(name)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise BundleError("The local Docker engine failed to inspect image %s (%s)." % (name, exc.explanation)) from None
    except docker.errors.DockerException:
        return None


def _member_chunks(stream):
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


class DaemonImage:
    """One local image: ``manifest_if_present`` answers from the target alone; ``export`` streams it."""

    def __init__(self, api, name, inspect):
        self.api = api
        self.name = name
        self.config_digest = inspect["Id"]
        self.diff_ids = list((inspect.get("RootFS") or {}).get("Layers") or [])
        if not self.config_digest.startswith("sha256:") or not self.diff_ids:
            raise BundleError("The local image %s has no sha256 ID or no layers." % name)

    def manifest(self, config_size, layer_sizes):
        return dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, self.config_digest, config_size),
            "layers": [descriptor(OCI_LAYER_TAR, digest, layer_sizes[digest]) for digest in self.diff_ids],
        })

    def manifest_if_present(self, target):
        """The manifest bytes when ``target`` (a RegistryRepo) already holds every blob, else None."""
        config_size = target.client.head_blob(target.repository, self.config_digest)
        if config_size is None:
            return None
        sizes = {}
        for digest in self.diff_ids:
            size = target.client.head_blob(target.repository, digest)
            if size is None:
                return None
            sizes[digest] = size
        return self.manifest(config_size, sizes)

    def export(self, consume):
        """Stream ``docker save`` and call ``consume(digest or None, size, chunks)`` for the config
        and for every layer (digest None: not known before the chunks are hashed; ``consume``
        returns the digest it computed). Returns the manifest bytes."""
        try:
            chunks = self.api.get_image(self.name, chunk_size=CHUNK)
        except Exception as exc:  # docker.errors.* (lazy import)
            raise BundleError("The local Docker engine cannot export image %s (%s)." % (self.name, exc)) from None
        config_size, sizes = None, {}
        wanted = set(self.diff_ids)
        chunks = iter(chunks)
        source = ChunkedReader(lambda: next(chunks, b""))
        with tarfile.open(fileobj=source, mode="r|", bufsize=CHUNK) as archive:
            for member in archive:
                if not member.isreg():
                    continue  # directories, and symlinks to layers already seen
                name = member.name
                known = _BLOB_NAME.match(name) or _CONFIG_NAME.match(name)
                digest = "sha256:" + known.group(1) if known else None
                if digest == self.config_digest:
                    consume(digest, member.size, _member_chunks(archive.extractfile(member)))
                    config_size = member.size
                elif digest in wanted or (digest is None and name.endswith("/layer.tar")):
                    computed = consume(digest, member.size, _member_chunks(archive.extractfile(member)))
                    if computed in wanted:
                        sizes[computed] = member.size
        missing = [digest for digest in self.diff_ids if digest not in sizes]
        if config_size is None or missing:
            raise RegistryError("The export of local image %s lacked its config or layers %s."
                                % (self.name, ", ".join(missing) or "-"))
        return self.manifest(config_size, sizes)
