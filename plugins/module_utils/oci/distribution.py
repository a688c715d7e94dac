"""Push, pull and copy CNAB bundles in the cnab-to-oci layout.

Every object of a bundle ends up in the bundle's one repository: its images are copied there
first (mounted within a registry, streamed across registries, exported from the local Docker
engine when only it has them), then bundle.json and the config manifest, and the index is tagged
last, so a failure never moves the tag. Each step skips what the registry already holds, so an
unchanged re-push writes nothing.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleError,
    ContentDigestMismatch,
    ManifestRefused,
    RegistryError,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import OCI_INDEX, sha256_digest
from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import (
    ClientPool,
    RegistryRepo,
    Stats,
    collect_graph,
    copy_graph,
    copy_image,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import DOCKER_HUB, parse_reference

PARALLELISM = 4


class PulledBundle:
    """A bundle read from a registry, every digest on the way verified."""

    def __init__(self, reference, index_raw, index_digest, bundle_bytes, bundle_digest, document, index):
        self.index_raw = index_raw
        self.index_digest = index_digest
        self.bundle_bytes = bundle_bytes
        self.bundle_digest = bundle_digest
        self.document = document
        self.index = index
        self.reference = str(reference.pinned(index_digest))
        self.relocation_mapping = layout.relocation_mapping(document, index, reference.name)

    def as_dict(self):
        return dict(reference=self.reference, digest=self.index_digest, bundle_digest=self.bundle_digest,
                    relocation_mapping=self.relocation_mapping, name=self.document.get("name"),
                    version=self.document.get("version"))


def _pool(registry_options, *references):
    return ClientPool(registry_options, [(ref.registry, registry_options) for ref in references])


def _target(text, need_tag=True):
    reference = parse_reference(text) if isinstance(text, str) else text
    if need_tag and not reference.tag:
        raise BundleError("The destination %s must name a tag (for example :v1)." % reference)
    if need_tag and reference.digest:
        raise BundleError("The destination %s must not carry a digest; the registry computes it." % reference)
    return reference


def read_index(repo, ref):
    raw, media_type, digest = repo.get_manifest(ref)
    return layout.CnabIndex(raw, media_type), raw, digest


def pull_bundle(reference, registry_options=None, verify_images=True, pool=None):
    """Read the bundle at ``reference``; bundle.json, the index and (by default) every image manifest
    are checked against their digests."""
    reference = parse_reference(reference) if isinstance(reference, str) else reference
    pool = pool or _pool(registry_options, reference)
    repo = RegistryRepo(pool.get(reference.registry), reference.repository)
    index, index_raw, index_digest = read_index(repo, reference.ref)
    config_raw, _type, _digest = repo.get_manifest(index.config["digest"])
    blob_digest, size = layout.config_blob_descriptor(config_raw)
    with repo.open_blob(blob_digest, size) as stream:
        bundle_bytes = stream.read()
    document = layout.parse_bundle_blob(bundle_bytes, blob_digest)
    if verify_images:
        for entry in index.descriptors()[1:]:
            raw, _type, _digest = repo.get_manifest(entry["digest"])
            if len(raw) != int(entry.get("size") or 0):
                raise ContentDigestMismatch("The manifest %s in %s has a size other than the index says."
                                            % (entry["digest"], repo.name))
    return PulledBundle(reference, index_raw, index_digest, bundle_bytes, blob_digest, document, index)


# ------------------------------------------------------------------------------------- images
class ImageLocation:
    """Where an image of the bundle comes from: a registry repository or the local engine."""

    def __init__(self, text, repo=None, ref=None, daemon=None):
        self.text = text
        self.repo = repo
        self.ref = ref
        self.daemon = daemon


class _Engine:
    """The local Docker engine, connected to on first use."""

    def __init__(self):
        self._api = None
        self._lock = threading.Lock()

    @property
    def api(self):
        with self._lock:
            if self._api is None:
                from ansible_collections.cnab.runtime.plugins.module_utils.oci.daemon import docker_api

                self._api = docker_api()
        return self._api

    def image(self, name):
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.daemon import DaemonImage, inspect_local

        try:
            inspect = inspect_local(self.api, name)
        except BundleError:
            return None
        return DaemonImage(self.api, name, inspect) if inspect else None


def locate_image(image, pool, engine):
    """Find ``image`` (a bundle image dict): its registry when it names one and answers, else the
    local Docker engine."""
    text = image["image"]
    reference = parse_reference(text)
    content_digest = image.get("contentDigest")
    explicit_registry = reference.registry != DOCKER_HUB or text.startswith("docker.io/")
    failure = None

    def in_registry():
        nonlocal failure
        repo = RegistryRepo(pool.get(reference.registry), reference.repository)
        ref = reference.digest or content_digest or reference.ref
        try:
            if repo.client.head_manifest(reference.repository, ref) is not None:
                return ImageLocation(text, repo=repo, ref=ref)
        except RegistryError as exc:
            failure = exc
        return None

    # An image named with its registry is looked for there first; a bare Docker Hub name in the engine first.
    found = in_registry() if explicit_registry else None
    if found is None:
        local = engine.image(text)
        found = ImageLocation(text, daemon=local) if local is not None else None
    if found is None and not explicit_registry:
        found = in_registry()
    if found is not None:
        return found
    if failure is not None:
        detail = str(failure)
        raise RegistryError("Image %s is not in the local Docker engine, and %s" % (text, detail[:1].lower() + detail[1:]))
    raise BundleError("Image %s is neither in its registry nor in the local Docker engine." % text)


def place_daemon_image(local, target, stats, check_mode):
    """Export a local image into ``target`` unless the target holds its blobs already."""
    raw = local.manifest_if_present(target)
    if raw is None:
        if check_mode:
            stats.add("blobs_uploaded")
            return None
        client = target.client

        def consume(digest, size, chunks):
            if digest is not None and client.head_blob(target.repository, digest) is not None:
                for _chunk in chunks:
                    pass
                stats.add("blobs_skipped")
                return digest
            stats.add("blobs_uploaded")
            stats.add("bytes_uploaded", size)
            if digest is not None:
                return client.push_blob(target.repository, digest, size, chunks)
            return client.push_blob_stream(target.repository, size, chunks)

        raw = local.export(consume)
    digest = sha256_digest(raw)
    if target.has_manifest(digest):
        stats.add("manifests_skipped")
    else:
        stats.add("manifests_written")
        if not check_mode:
            target.client.put_manifest(target.repository, digest, raw, layout.OCI_MANIFEST)
    return layout.OCI_MANIFEST, digest, len(raw)


def place_image(location, target, stats, executor, check_mode):
    """Put one image into the bundle repository; its ``(media_type, digest, size)`` (None in check
    mode when it cannot be known without exporting)."""
    if location.daemon is not None:
        return place_daemon_image(location.daemon, target, stats, check_mode)
    return copy_image(location.repo, target, location.ref, stats, executor, check_mode)


def _check_content_digest(image, placed):
    """The image placed must be the one bundle.json pins (by contentDigest or an ``@sha256:`` reference)."""
    wanted = image.get("contentDigest") or parse_reference(image["image"]).digest
    if wanted and placed and placed[1] != wanted:
        raise ContentDigestMismatch("Image %s resolved to %s, but bundle.json pins it to %s."
                                    % (image["image"], placed[1], wanted))


# --------------------------------------------------------------------------------------- push
def put_blob_bytes(target, data, stats, check_mode):
    digest = sha256_digest(data)
    if target.has_blob(digest):
        stats.add("blobs_skipped")
    else:
        stats.add("blobs_uploaded")
        if not check_mode:
            target.client.push_blob(target.repository, digest, len(data), data)
    return digest


def put_manifest_bytes(target, raw, media_type, stats, check_mode):
    digest = sha256_digest(raw)
    if target.has_manifest(digest):
        stats.add("manifests_skipped")
    else:
        stats.add("manifests_written")
        if not check_mode:
            target.client.put_manifest(target.repository, digest, raw, media_type)
    return digest


def tag_index(target, reference, raw, stats, check_mode, media_type=OCI_INDEX):
    """Point the tag at the index (last step of every write)."""
    return tag_index_forms(target, reference, [(raw, media_type)], stats, check_mode)


def tag_index_forms(target, reference, forms, stats, check_mode):
    """Point the tag at the first of ``forms`` (``[(raw, media_type)]``, cnab-to-oci's fallback
    order) the registry takes; the digest written. A tag already at one of them stays."""
    digests = [sha256_digest(raw) for raw, _media_type in forms]
    current = target.client.head_manifest(target.repository, reference.tag)
    stats.tag_before = current[0] if current else None
    if current is not None and current[0] in digests:
        return current[0]
    stats.tag_moved = True
    if check_mode:
        return digests[0]
    return _put_first_accepted(target, reference.tag, forms, "bundle index")


def _put_first_accepted(target, ref, forms, what):
    """PUT the first of ``forms`` the registry does not refuse the form of; its digest."""
    refused = None
    for raw, media_type in forms:
        try:
            return target.client.put_manifest(target.repository, ref, raw, media_type)
        except ManifestRefused as exc:
            refused = exc
    if len(forms) == 1:
        raise refused
    raise _refused_every_form(target, what, refused)


def _refused_every_form(target, what, last):
    return ManifestRefused("The registry %s refused the %s in every form cnab-to-oci writes (the last answer was %s)."
                           % (target.client.registry, what, getattr(last, "answer", "a refusal")))


def put_bundle_config(target, bundle_bytes, stats, check_mode):
    """bundle.json and its config manifest, in the first of ``layout.CONFIG_FORMS`` the registry
    holds or takes (cnab-to-oci's order); returns the form's name. In check mode nothing is
    tried: a form already there wins, else the first."""
    put_blob_bytes(target, bundle_bytes, stats, check_mode)
    refused = None
    for name, media_type in layout.CONFIG_FORMS:
        raw = layout.config_manifest(bundle_bytes, name)
        if target.has_manifest(sha256_digest(raw)):
            stats.add("manifests_skipped")
            return name
        if check_mode:
            continue
        try:
            target.client.put_manifest(target.repository, sha256_digest(raw), raw, media_type)
        except ManifestRefused as exc:
            refused = exc
            continue
        stats.add("manifests_written")
        return name
    if refused is not None:
        raise _refused_every_form(target, "bundle's config manifest", refused)
    stats.add("manifests_written")  # check mode: the first form would be written
    return layout.CONFIG_FORMS[0][0]


def push_config_and_index(target, reference, document, bundle_bytes, placed, stats, check_mode):
    """bundle.json, the config manifest and the index under ``reference``'s tag, each in the first
    form the registry takes; the index digest. ``placed`` are the images' ``(media_type, digest,
    size)`` in ``layout.bundle_images`` order."""
    layout.build_index(document, bundle_bytes, placed)  # refuses an image the index cannot name before any write
    config_form = put_bundle_config(target, bundle_bytes, stats, check_mode)
    forms = [(layout.build_index(document, bundle_bytes, placed, config_form, name)[0], media_type)
             for name, media_type in layout.INDEX_FORMS]
    return tag_index_forms(target, reference, forms, stats, check_mode)


def signature_tag(digest):
    """cosign's tag for the signatures of ``digest`` (``sha256-<hex>.sig``)."""
    return digest.replace(":", "-", 1) + ".sig"


def copy_signatures(src, target, digest, stats, executor, check_mode):
    """Carry the ``sha256-<hex>.sig`` manifest of ``digest`` along, when the source has one."""
    tag = signature_tag(digest)
    found = src.client.head_manifest(src.repository, tag)
    if found is None:
        return None
    graph = collect_graph(src, tag)
    copy_graph(src, target, graph, stats, executor, check_mode)
    raw = next(raw for manifest_digest, raw, _type in graph.manifests if manifest_digest == graph.root[1])
    current = target.client.head_manifest(target.repository, tag)
    if current is None or current[0] != graph.root[1]:
        stats.add("manifests_written")
        if not check_mode:
            target.client.put_manifest(target.repository, tag, raw, graph.root[0])
    return tag


class PushResult:
    def __init__(self, reference, index_digest, bundle_digest, relocation_mapping, stats):
        self.reference = str(reference.pinned(index_digest)) if index_digest else None
        self.index_digest = index_digest
        self.bundle_digest = bundle_digest
        self.relocation_mapping = relocation_mapping
        self.stats = stats

    @property
    def changed(self):
        return self.stats.changed

    def as_dict(self):
        return dict(reference=self.reference, digest=self.index_digest, bundle_digest=self.bundle_digest,
                    relocation_mapping=self.relocation_mapping, transfer=self.stats.as_dict())


def push_bundle(document, reference, registry_options=None, check_mode=False, pool=None):
    """Push a bundle (its parsed bundle.json) to ``reference`` (``host/repo:tag``)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json

    reference = _target(reference)
    pool = pool or _pool(registry_options, reference)
    target = RegistryRepo(pool.get(reference.registry), reference.repository)
    bundle_bytes = canonical_json(document)
    images = layout.bundle_images(document)
    stats, engine = Stats(), _Engine()

    def place(image):
        descriptor = place_image(locate_image(image, pool, engine), target, stats, blob_executor, check_mode)
        _check_content_digest(image, descriptor)
        return descriptor

    # Images move side by side (an engine export is one sequential stream each); their blobs share
    # a second pool, so no task ever waits on a task queued behind it.
    with ThreadPoolExecutor(PARALLELISM) as blob_executor, ThreadPoolExecutor(PARALLELISM) as image_executor:
        placed = list(image_executor.map(place, [image for _role, _name, image in images]))
    if any(descriptor is None for descriptor in placed):
        stats.tag_moved = True  # check mode: a local image would be exported, so the index changes
        return PushResult(reference, None, sha256_digest(bundle_bytes), {}, stats)
    index_digest = push_config_and_index(target, reference, document, bundle_bytes, placed, stats, check_mode)
    mapping = {image["image"]: "%s@%s" % (reference.name, descriptor[1])
               for (_role, _name, image), descriptor in zip(images, placed)}
    return PushResult(reference, index_digest, sha256_digest(bundle_bytes), mapping, stats)


# --------------------------------------------------------------------------------------- copy
def copy_bundle(source, destination, registry_options=None, dest_registry_options=None, check_mode=False,
                pool=None):
    """Copy the bundle at ``source`` to ``destination`` (a tag), digest for digest."""
    source = parse_reference(source) if isinstance(source, str) else source
    destination = _target(destination)
    if pool is None:
        credentials = [(destination.registry, dest_registry_options or registry_options),
                       (source.registry, registry_options)]
        pool = ClientPool(registry_options, credentials)
    pulled = pull_bundle(source, verify_images=False, pool=pool)
    src = RegistryRepo(pool.get(source.registry), source.repository)
    target = RegistryRepo(pool.get(destination.registry), destination.repository)
    stats = Stats()
    with ThreadPoolExecutor(PARALLELISM) as executor:
        for entry in pulled.index.descriptors():
            if target.has_manifest(entry["digest"]):
                stats.add("manifests_skipped")
                continue
            graph = collect_graph(src, entry["digest"])
            copy_graph(src, target, graph, stats, executor, check_mode)
        tag_index(target, destination, pulled.index_raw, stats, check_mode, pulled.index.media_type)
        copy_signatures(src, target, pulled.index_digest, stats, executor, check_mode)
    mapping = layout.relocation_mapping(pulled.document, pulled.index, destination.name)
    return PushResult(destination, pulled.index_digest, pulled.bundle_digest, mapping, stats)
