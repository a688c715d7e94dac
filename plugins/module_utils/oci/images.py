"""Moving image graphs (index -> manifests -> config and layers) into a bundle's repository.

Sources are a registry repository (``RegistryRepo``) or the local Docker engine (``daemon.py``).
Everything is skipped that the target already holds (HEAD first); blobs move in parallel, are
mounted across repositories of one registry, and otherwise stream GET -> PUT with their digest
verified on the way. Manifests are copied as raw bytes, children first, so digests never change.
"""

import threading

from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryError
from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
from ansible_collections.cnab.runtime.plugins.module_utils.oci.layout import children

CREDENTIAL_KEYS = ("username", "password", "token")


class Stats:
    """What a transfer did; ``changed`` when anything was written."""

    def __init__(self):
        self._lock = threading.Lock()
        self.blobs_uploaded = 0
        self.blobs_mounted = 0
        self.blobs_skipped = 0
        self.bytes_uploaded = 0
        self.manifests_written = 0
        self.manifests_skipped = 0
        self.tag_moved = False
        self.tag_before = None

    def add(self, name, count=1):
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    @property
    def changed(self):
        return bool(self.blobs_uploaded or self.blobs_mounted or self.manifests_written or self.tag_moved)

    def as_dict(self):
        return dict(blobs_uploaded=self.blobs_uploaded, blobs_mounted=self.blobs_mounted,
                    blobs_skipped=self.blobs_skipped, bytes_uploaded=self.bytes_uploaded,
                    manifests_written=self.manifests_written, manifests_skipped=self.manifests_skipped,
                    tag_moved=self.tag_moved, tag_before=self.tag_before)


class ClientPool:
    """One RegistryClient per registry host. Explicit credentials (username/password/token) go only
    to the registries they were given for; other registries get the connection settings and the
    Docker config's credentials."""

    def __init__(self, options=None, credentials_for=()):
        self.options = dict(options or {})
        self.credentials_for = {}
        for registry, registry_options in credentials_for:
            self.credentials_for.setdefault(registry, registry_options)
        self._clients = {}
        self._lock = threading.Lock()

    def get(self, registry):
        with self._lock:
            return self._get(registry)

    def _get(self, registry):
        if registry not in self._clients:
            options = self.credentials_for.get(registry)
            if options is None:
                options = {key: value for key, value in self.options.items() if key not in CREDENTIAL_KEYS}
            self._clients[registry] = RegistryClient(options, registry)
        return self._clients[registry]


class RegistryRepo:
    """A repository of one registry, as a source or a target."""

    def __init__(self, client, repository):
        self.client = client
        self.repository = repository

    @property
    def name(self):
        return "%s/%s" % (self.client.registry, self.repository)

    def get_manifest(self, ref):
        return self.client.get_manifest(self.repository, ref)

    def open_blob(self, digest, size=None):
        return self.client.open_blob(self.repository, digest, size)

    def has_manifest(self, digest):
        return self.client.head_manifest(self.repository, digest) is not None

    def has_blob(self, digest):
        return self.client.head_blob(self.repository, digest) is not None


class ImageGraph:
    """Every manifest (children first) and every distinct blob under one root manifest."""

    def __init__(self, root_raw, root_type, root_digest):
        self.root = (root_type, root_digest, len(root_raw))
        self.manifests = []   # (digest, raw, media_type), children before parents
        self.blobs = {}       # digest -> descriptor

    @property
    def descriptor(self):
        return self.root


def collect_graph(source, ref, raw=None, media_type=None, digest=None, _depth=0):
    """Read every manifest under ``ref`` from ``source``; blobs are listed, not read."""
    if raw is None:
        raw, media_type, digest = source.get_manifest(ref)
    graph = ImageGraph(raw, media_type, digest)
    _walk(source, graph, raw, media_type, digest, 0)
    return graph


def _walk(source, graph, raw, media_type, digest, depth):
    if depth > 4:
        raise RegistryError("The image %s nests indexes deeper than 4 levels." % digest)
    child_manifests, blobs = children(raw, media_type)
    for child in child_manifests:
        child_raw, child_type, child_digest = source.get_manifest(child["digest"])
        _walk(source, graph, child_raw, child_type, child_digest, depth + 1)
    for blob in blobs:
        graph.blobs.setdefault(blob["digest"], blob)
    if all(existing[0] != digest for existing in graph.manifests):
        graph.manifests.append((digest, raw, media_type))


def copy_blob(source, target, descriptor, stats, check_mode=False):
    digest, size = descriptor["digest"], int(descriptor.get("size") or 0)
    if target.has_blob(digest):
        stats.add("blobs_skipped")
        return
    if check_mode:
        stats.add("blobs_uploaded")
        return
    same_registry = isinstance(source, RegistryRepo) and source.client is target.client
    if same_registry and target.client.mount_blob(target.repository, digest, source.repository):
        stats.add("blobs_mounted")
        return
    target.client.push_blob(target.repository, digest, size, lambda: source.open_blob(digest, size))
    stats.add("blobs_uploaded")
    stats.add("bytes_uploaded", size)


def copy_graph(source, target, graph, stats, executor, check_mode=False):
    """Blobs in parallel, then manifests children first; each skipped when the target has it."""
    futures = [executor.submit(copy_blob, source, target, descriptor, stats, check_mode)
               for descriptor in graph.blobs.values()]
    for future in futures:
        future.result()
    for digest, raw, media_type in graph.manifests:
        if target.has_manifest(digest):
            stats.add("manifests_skipped")
            continue
        stats.add("manifests_written")
        if not check_mode:
            target.client.put_manifest(target.repository, digest, raw, media_type)


def copy_image(source, target, ref, stats, executor, check_mode=False):
    """Copy the image ``ref`` of ``source`` into ``target``; returns its ``(media_type, digest, size)``."""
    raw, media_type, digest = source.get_manifest(ref)
    if target.has_manifest(digest):
        # A registry only accepts a manifest whose blobs and children it holds: nothing to copy.
        stats.add("manifests_skipped")
        return media_type, digest, len(raw)
    graph = collect_graph(source, ref, raw, media_type, digest)
    copy_graph(source, target, graph, stats, executor, check_mode)
    return graph.descriptor
