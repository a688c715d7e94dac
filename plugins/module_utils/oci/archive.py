"""Thick bundle archives (CNAB spec 104), laid out as Porter writes them:

    bundle.json                    canonical bundle.json
    relocation-mapping.json        original image reference -> digest-pinned reference
    artifacts/layout/oci-layout    OCI image layout of the bundle index, its config manifest,
    artifacts/layout/index.json    every image (entries named by the original image reference)
    artifacts/layout/blobs/sha256/ and any signature manifests

Writing streams every blob from its source straight into the (optionally gzip-compressed) tar,
fetching a few blobs ahead in parallel through bounded queues, into a temporary file that is
renamed into place only when complete. Reading never extracts to disk: a first pass checks every
member (no absolute paths, ``..``, escaping links, devices or duplicates) and keeps the small JSON
documents; blobs are streamed later, their digests verified while they are read. Identifying an
archive (``identify_only``: bundle.json, relocation mapping, verified index digest) stops as soon as
those are read, which for archives written here is before the first image blob.

A bundle with dependencies (io.cnab.dependencies) carries each resolved dependency, for air gaps:

    dependencies/<alias>/bundle.json              the dependency's canonical bundle.json
    dependencies/<alias>/relocation-mapping.json  its images -> digest-pinned references

its bundle index, config manifest, images and signatures in the shared layout, the index entry
annotated ``io.cnab.runtime.dependency: <alias>``. The root's layout is unchanged (its index is the
first bundle index of index.json), so tools that know nothing of dependencies read the root.
A dependency's own dependencies nest the same way under its directory
(``dependencies/mysql/dependencies/disk/...``, annotated ``mysql/disk``), at most MAX_NESTING deep.
``ThickArchive(path, dependency="mysql")`` (or ``"mysql/disk"``) reads the archive as that
dependency's bundle.
"""

import io
import os
import posixpath
import queue
import re
import shutil
import tarfile
import tempfile
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ArchiveError,
    ArchiveLacksDependency,
    BundleError,
    CnabError,
    ContentDigestMismatch,
    NotABundleIndex,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci import layout
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import (
    CHUNK,
    INDEX_TYPES,
    ChunkedReader,
    OCI_INDEX,
    VerifyingReader,
    check_digest,
    sha256_digest,
)

LAYOUT = "artifacts/layout"
BLOBS = LAYOUT + "/blobs/sha256/"
REF_NAME = "org.opencontainers.image.ref.name"
COMPRESSION = {"gzip": 6, "fast": 1, "best": 9, "none": None}
SMALL_BLOB = 256 * 1024          # blobs this small (manifests, configs) are kept from the first pass
SMALL_TOTAL = 32 * 1024 * 1024   # ... up to this much in all
# Reading is bounded in memory whatever the headers say (docs/security.md, "Hardening of inputs"):
READ_BUFFER = 64 * 1024          # the tar stream's buffer; gzip output per read is bounded by the request
HEADER_LIMIT = 1024 * 1024       # one GNU long name/link or PAX extended/global header
HEADERS_PER_MEMBER = 4           # extended headers in front of one member
HEADERS_TOTAL = 8 * 1024 * 1024  # extended headers in the whole archive
GLOBAL_RECORDS = 64              # PAX global records (tarfile copies them into every member)
MAX_MEMBERS = 16384
NAME_LIMIT = 1024                # member names and link targets
METADATA_LIMITS = {"bundle.json": layout.MAX_BUNDLE_SIZE,
                   "relocation-mapping.json": 4 * 1024 * 1024,
                   "artifacts/layout/index.json": 4 * 1024 * 1024}
METADATA_TOTAL = 16 * 1024 * 1024  # the three together
DEPENDENCIES = "dependencies/"
DEPENDENCY_ANNOTATION = "io.cnab.runtime.dependency"
MAX_NESTING = 8                  # dependencies of dependencies, at most this deep
# dependencies/<alias>/ once per level: a dependency's own dependencies sit under its directory.
DEPENDENCY_MEMBER = re.compile(r"^((?:dependencies/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/){1,%d})"
                               r"(bundle\.json|relocation-mapping\.json)$" % MAX_NESTING)
MAX_DEPENDENCIES = 64
PREFETCH_WORKERS = 4
PREFETCH_CHUNKS = 8              # per blob: bounded memory while fetching ahead


def dependency_prefix(path):
    """The archive directory of the carried dependency ``path`` (aliases joined by ``/``, the
    root's first): ``mysql/disk`` -> ``dependencies/mysql/dependencies/disk/``."""
    return "".join(DEPENDENCIES + alias + "/" for alias in path.split("/"))


def dependency_path(prefix):
    """The inverse of dependency_prefix."""
    return "/".join(prefix.split("/")[1::2])


def is_dependency_path(path):
    """True when ``path`` can name a carried dependency (each alias an archive directory name)."""
    return isinstance(path, str) and bool(DEPENDENCY_MEMBER.match(dependency_prefix(path) + "bundle.json"))


# ------------------------------------------------------------------------------------ writing
class _Blob:
    """A blob to write: digest, size and how to open a verified stream of it."""

    def __init__(self, digest, size, opener):
        self.digest = digest
        self.size = size
        self.opener = opener


class ArchivePlan:
    """Everything an archive will hold, gathered before the first byte is written."""

    def __init__(self, document, bundle_bytes):
        self.document = document
        self.bundle_bytes = bundle_bytes
        self.manifests = {}          # digest -> (raw, media_type)
        self.blobs = {}              # digest -> _Blob
        self.entries = []            # index.json descriptors
        self.relocation_mapping = {}
        self.index_digest = None
        self.dependencies = []       # (path, reference, ArchivePlan) of the carried dependencies, nested ones too
        self._cleanup = []

    def add_manifest(self, raw, media_type):
        digest = sha256_digest(raw)
        self.manifests.setdefault(digest, (raw, media_type))
        return digest

    def add_graph(self, source, graph):
        for digest, raw, media_type in graph.manifests:
            self.manifests.setdefault(digest, (raw, media_type))
        for digest, blob in graph.blobs.items():
            size = int(blob.get("size") or 0)
            self.blobs.setdefault(digest, _Blob(digest, size, lambda d=digest, s=size: source.open_blob(d, s)))

    def add_dependency(self, alias, reference, plan):
        """Merge ``plan`` (a dependency's) into this one: its blobs and manifests shared, its bundle
        index annotated with ``alias``, its image entries added unless the root names them already.
        The dependencies ``plan`` carries itself come along, their paths under ``alias``."""
        if not isinstance(alias, str) or "/" in alias or not is_dependency_path(alias):
            raise ArchiveError('The dependency alias "%s" cannot name an archive directory (letters, digits, "_", '
                               '"." and "-", at most 64).' % alias)
        self.manifests.update({d: m for d, m in plan.manifests.items() if d not in self.manifests})
        self.blobs.update({d: b for d, b in plan.blobs.items() if d not in self.blobs})
        self._cleanup.extend(plan._cleanup)
        named = {(e.get("annotations") or {}).get(REF_NAME): e["digest"] for e in self.entries}
        for entry in plan.entries:
            entry = dict(entry, annotations=dict(entry.get("annotations") or {}))
            if entry["digest"] == plan.index_digest and DEPENDENCY_ANNOTATION not in entry["annotations"]:
                entry["annotations"][DEPENDENCY_ANNOTATION] = alias
                self.entries.append(entry)
                continue
            if DEPENDENCY_ANNOTATION in entry["annotations"]:  # a bundle index of plan's own dependencies
                entry["annotations"][DEPENDENCY_ANNOTATION] = alias + "/" + entry["annotations"][DEPENDENCY_ANNOTATION]
                self.entries.append(entry)
                continue
            name = entry["annotations"].get(REF_NAME)
            if name in named:
                if named[name] != entry["digest"]:
                    raise ArchiveError("Dependency %s names the image %s with digest %s, but the archive already "
                                       "holds it as %s; one archive cannot hold both." % (
                                           alias, name, entry["digest"], named[name]))
                continue
            named[name] = entry["digest"]
            self.entries.append(entry)
        self.dependencies.append((alias, reference, plan))
        self.dependencies.extend((alias + "/" + path, ref, nested) for path, ref, nested in plan.dependencies)

    def close(self):
        for path in self._cleanup:
            try:
                os.unlink(path)
            except OSError:
                pass


def plan_from_registry(reference, pool):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import pull_bundle
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import RegistryRepo, collect_graph

    reference = _ref(reference)
    pulled = pull_bundle(reference, verify_images=False, pool=pool)
    repo = RegistryRepo(pool.get(reference.registry), reference.repository)
    plan = ArchivePlan(pulled.document, pulled.bundle_bytes)
    plan.index_digest = plan.add_manifest(pulled.index_raw, pulled.index.media_type)
    plan.entries.append(layout.descriptor(pulled.index.media_type, pulled.index_digest, len(pulled.index_raw),
                                          {REF_NAME: reference.tag or pulled.document.get("version") or "latest"}))
    for entry in pulled.index.descriptors():
        plan.add_graph(repo, collect_graph(repo, entry["digest"]))
    # bundle.json (the config manifest's config blob) is already verified and in memory.
    plan.blobs[pulled.bundle_digest] = _Blob(pulled.bundle_digest, len(pulled.bundle_bytes),
                                             lambda: io.BytesIO(pulled.bundle_bytes))
    _image_entries(plan, pulled.index, pulled.relocation_mapping)
    plan.relocation_mapping = pulled.relocation_mapping
    _signature_entry(plan, repo, pulled.index_digest)
    return plan


def _signature_entry(plan, repo, digest):
    """The bundle's cosign signature manifest (``sha256-<hex>.sig``), when the registry has one."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import signature_tag
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import collect_graph

    tag = signature_tag(digest)
    if repo.client.head_manifest(repo.repository, tag) is None:
        return
    graph = collect_graph(repo, tag)
    plan.add_graph(repo, graph)
    media_type, sig_digest, size = graph.root
    plan.entries.append(layout.descriptor(media_type, sig_digest, size, {REF_NAME: tag}))


def _ref(reference):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

    return parse_reference(reference) if isinstance(reference, str) else reference


def _image_entries(plan, index, mapping):
    """One index.json entry per bundle image, named by its original reference (as Porter does)."""
    images = layout.bundle_images(plan.document)
    entries = [index.invocation] + [index.components.get(name) for _role, name, _image in images[1:]]
    for (_role, _name, image), entry in zip(images, entries):
        if entry:
            plan.entries.append(layout.descriptor(entry["mediaType"], entry["digest"], entry["size"],
                                                  {REF_NAME: image["image"]}))


def plan_from_local(document, pool, workdir):
    """An archive plan for a local bundle: images from their registries or the local engine; an
    engine export is spooled (one image at a time) into ``workdir`` because a tar entry needs its
    digest before its content."""
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import canonical_json
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import (
        _check_content_digest,
        _Engine,
        locate_image,
    )
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import collect_graph

    bundle_bytes = canonical_json(document)
    plan = ArchivePlan(document, bundle_bytes)
    engine = _Engine()
    placed = []
    for _role, _name, image in layout.bundle_images(document):
        location = locate_image(image, pool, engine)
        if location.daemon is not None:
            raw = location.daemon.export(lambda digest, size, chunks: _spool(plan, workdir, digest, size, chunks))
            digest = plan.add_manifest(raw, layout.OCI_MANIFEST)
            placed.append((layout.OCI_MANIFEST, digest, len(raw)))
        else:
            graph = collect_graph(location.repo, location.ref)
            plan.add_graph(location.repo, graph)
            placed.append(graph.descriptor)
        _check_content_digest(image, placed[-1])
    index_raw, config_raw = layout.build_index(document, bundle_bytes, placed)
    plan.add_manifest(config_raw, layout.OCI_MANIFEST)
    plan.index_digest = plan.add_manifest(index_raw, OCI_INDEX)
    digest = sha256_digest(bundle_bytes)
    plan.blobs[digest] = _Blob(digest, len(bundle_bytes), lambda: io.BytesIO(bundle_bytes))
    plan.entries.append(layout.descriptor(OCI_INDEX, plan.index_digest, len(index_raw),
                                          {REF_NAME: document.get("version") or "latest"}))
    index = layout.CnabIndex(index_raw, OCI_INDEX)
    plan.relocation_mapping = {image["image"]: "%s@%s" % (_ref(image["image"]).name, descriptor[1])
                               for (_role, _name, image), descriptor in zip(layout.bundle_images(document), placed)}
    _image_entries(plan, index, plan.relocation_mapping)
    return plan


def _spool(plan, workdir, digest, size, chunks):
    import hashlib

    hasher = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=workdir, prefix="blob-", delete=False)
    plan._cleanup.append(handle.name)
    with handle:
        for chunk in chunks:
            hasher.update(chunk)
            handle.write(chunk)
    computed = "sha256:" + hasher.hexdigest()
    if digest and computed != digest:
        raise ContentDigestMismatch("The local Docker engine exported blob %s with digest %s." % (digest, computed))
    path = handle.name
    plan.blobs.setdefault(computed, _Blob(computed, size, lambda: open(path, "rb")))
    return computed


def _tarinfo(name, size=0, directory=False):
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _prefetch(executor, blob, stop):
    """Fetch ``blob`` in a worker thread into a bounded queue of chunks; the writer drains it."""
    chunks = queue.Queue(PREFETCH_CHUNKS)

    def fetch():
        try:
            with _verified(blob) as stream:
                while not stop.is_set():
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    _put(chunks, chunk, stop)
            _put(chunks, None, stop)
        except BaseException as exc:  # handed to the writer thread
            _put(chunks, exc, stop)

    executor.submit(fetch)
    return chunks


def _put(chunks, item, stop):
    while not stop.is_set():
        try:
            chunks.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _verified(blob):
    stream = blob.opener()
    if isinstance(stream, VerifyingReader):
        return stream
    return VerifyingReader(iter(lambda: stream.read(CHUNK), b""), blob.digest, blob.size, close=stream.close)


def _queue_reader(chunks):
    def next_chunk():
        item = chunks.get()
        if isinstance(item, BaseException):
            raise item
        return item or b""

    return ChunkedReader(next_chunk)


def write_tar(plan, output, compression="gzip"):
    """Write the plan as a tar (gzip-compressed unless ``compression`` is none) to ``output``."""
    import gzip

    level = COMPRESSION[compression]
    stream = gzip.GzipFile(fileobj=output, mode="wb", compresslevel=level, mtime=0) if level else output
    stop = threading.Event()
    executor = ThreadPoolExecutor(PREFETCH_WORKERS)
    try:
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
            tar.copybufsize = CHUNK
            for name, data in _metadata(plan):
                if data is None:
                    tar.addfile(_tarinfo(name, directory=True))
                else:
                    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
            for digest, (raw, _type) in sorted(plan.manifests.items()):
                tar.addfile(_tarinfo(BLOBS + digest[7:], len(raw)), io.BytesIO(raw))
            blobs = [blob for digest, blob in sorted(plan.blobs.items()) if digest not in plan.manifests]
            pending = [_prefetch(executor, blob, stop) for blob in blobs]
            for blob, chunks in zip(blobs, pending):
                reader = _queue_reader(chunks)
                tar.addfile(_tarinfo(BLOBS + blob.digest[7:], blob.size), reader)
                if reader.read(1):
                    raise ContentDigestMismatch("The blob %s is larger than its descriptor says." % blob.digest)
    finally:
        stop.set()
        executor.shutdown(wait=True)
    if stream is not output:
        stream.close()


def _metadata(plan):
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": plan.entries}
    yield "bundle.json", plan.bundle_bytes
    yield "relocation-mapping.json", layout.dumps(dict(sorted(plan.relocation_mapping.items())))
    made = set()
    for path, _reference, dependency in plan.dependencies:
        prefix = dependency_prefix(path)
        parts = prefix.split("/")[:-1]
        for end in range(1, len(parts) + 1):  # dependencies/, dependencies/<alias>/, ... each once
            directory = "/".join(parts[:end]) + "/"
            if directory not in made:
                made.add(directory)
                yield directory, None
        yield prefix + "bundle.json", dependency.bundle_bytes
        yield prefix + "relocation-mapping.json", layout.dumps(dict(sorted(dependency.relocation_mapping.items())))
    yield "artifacts/", None
    yield LAYOUT + "/", None
    yield LAYOUT + "/oci-layout", b'{"imageLayoutVersion":"1.0.0"}'
    yield LAYOUT + "/index.json", layout.dumps(index)
    yield LAYOUT + "/blobs/", None
    yield BLOBS, None


class ArchiveResult:
    def __init__(self, path, plan, changed):
        self.path = path
        self.index_digest = plan.index_digest
        self.bundle_digest = sha256_digest(plan.bundle_bytes)
        self.relocation_mapping = plan.relocation_mapping
        self.changed = changed
        self.images = len(plan.manifests)
        self.dependencies = {alias: {"reference": str(reference), "digest": dependency.index_digest}
                             for alias, reference, dependency in plan.dependencies}

    def as_dict(self):
        found = dict(path=self.path, digest=self.index_digest, bundle_digest=self.bundle_digest,
                     relocation_mapping=self.relocation_mapping)
        if self.dependencies:
            found["dependencies"] = self.dependencies
        return found


def write_archive(source, path, registry_options=None, compression="gzip", check_mode=False, pool=None,
                  dependencies=True):
    """Write a thick archive of ``source`` (a reference, or a parsed bundle.json dict) to ``path``,
    with every dependency the bundle declares resolved and carried (unless ``dependencies`` is false).

    Unchanged when ``path`` already holds an archive of the same bundle index; otherwise the file
    is replaced atomically, and nothing is left behind on failure."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import ClientPool

    if compression not in COMPRESSION:
        raise ArchiveError("Compression %s is not one of %s." % (compression, ", ".join(sorted(COMPRESSION))))
    path = os.path.abspath(os.path.expanduser(path))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ArchiveError("The directory %s of the archive does not exist." % directory)
    workdir = tempfile.mkdtemp(prefix=".cnab-archive-", dir=directory)
    plan = None
    try:
        if isinstance(source, dict):
            pool = pool or ClientPool(registry_options)
            plan = plan_from_local(source, pool, workdir)
        else:
            reference = _ref(source)
            pool = pool or ClientPool(registry_options, [(reference.registry, registry_options)])
            plan = plan_from_registry(reference, pool)
        if dependencies:
            _add_dependencies(plan, pool, registry_options, path)
        if _same_archive(path, plan):
            return ArchiveResult(path, plan, changed=False)
        if not check_mode:
            handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".%s." % os.path.basename(path), delete=False)
            try:
                with handle:
                    write_tar(plan, handle, compression)
                os.chmod(handle.name, 0o644)
                os.replace(handle.name, path)
            except BaseException:
                os.unlink(handle.name)
                raise
        return ArchiveResult(path, plan, changed=True)
    finally:
        if plan is not None:
            plan.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _add_dependencies(plan, pool, registry_options, path, depth=1):
    """Resolve the bundle's dependencies (as an install does), their own dependencies first, and
    merge each one's plan into ``plan``."""
    from ansible_collections.cnab.runtime.plugins.module_utils import dependencies as deps
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle

    for dependency in deps.declared(plan.document):
        if depth > MAX_NESTING:
            raise ArchiveError("The archive %s cannot carry dependency %s: dependencies nest deeper than %d levels "
                               "(is there a cycle?)." % (path, dependency.alias, MAX_NESTING))
        reference = deps.resolve_reference(dependency, registry_options)
        child = plan_from_registry(reference, pool)
        deps.check_version(dependency, Bundle(child.document), reference)
        _add_dependencies(child, pool, registry_options, path, depth + 1)
        plan.add_dependency(dependency.alias, reference, child)


def _same_archive(path, plan):
    if not os.path.exists(path):
        return False
    try:
        with ThickArchive(path, keep_small=False) as existing:
            wanted = {alias: child.index_digest for alias, _reference, child in plan.dependencies}
            return existing.index_digest == plan.index_digest and existing.bundle_bytes == plan.bundle_bytes \
                and existing.dependency_indexes() == wanted \
                and existing.blob_digests >= set(plan.blobs) | set(plan.manifests)
    except CnabError:
        return False


# ------------------------------------------------------------------------------------ reading
_EXTENDED_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                   tarfile.SOLARIS_XHDTYPE)
_MEMBER_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE)


class _HeaderGuard:
    """The byte stream under tarfile's reader, watching its headers: tarfile reads a GNU long name
    or a PAX header whole, in one allocation, and reads sparse maps and chains of headers without a
    bound, so every header is checked (``header``, called by the TarInfo class ``tarinfo_class``
    makes) before tarfile reads what it announces, and the bytes read from a member's first extended
    header until the member is handed out (``member_read``) are counted as well."""

    def __init__(self, stream, path):
        self._stream = stream
        self._path = path
        self._in_header = None     # bytes read since the current member's first extended header
        self._extended = 0         # extended headers in front of the current member
        self._extended_bytes = 0   # in the whole archive

    def read(self, size=-1):
        data = self._stream.read(size if size is not None and size >= 0 else READ_BUFFER)
        if self._in_header is not None:
            if not data:
                self._refuse("ends inside the extended header of a member")
            self._in_header += len(data)
            if self._in_header > HEADER_LIMIT + 2 * READ_BUFFER:
                self._refuse("has member headers (sparse maps or chained extended headers) larger than %d KiB"
                             % (HEADER_LIMIT >> 10))
        return data

    def header(self, info):
        if info.type == tarfile.GNUTYPE_SPARSE:
            self._refuse("has a sparse member (%r)" % info.name[:100])
        if info.type not in _EXTENDED_TYPES:
            return
        if info.size > HEADER_LIMIT:
            self._refuse("has a member header (a GNU long name or PAX header) of %d bytes; at most %d KiB is "
                         "accepted" % (info.size, HEADER_LIMIT >> 10))
        self._extended += 1
        self._extended_bytes += info.size
        if self._extended > HEADERS_PER_MEMBER:
            self._refuse("has more than %d extended headers in front of one member" % HEADERS_PER_MEMBER)
        if self._extended_bytes > HEADERS_TOTAL:
            self._refuse("has more than %d MiB of extended member headers" % (HEADERS_TOTAL >> 20))
        if self._in_header is None:
            self._in_header = 0

    def member_read(self):
        self._in_header = None
        self._extended = 0

    def tarinfo_class(self):
        guard = self

        class GuardedTarInfo(tarfile.TarInfo):
            @classmethod
            def frombuf(cls, buf, encoding, errors):
                info = super().frombuf(buf, encoding, errors)
                guard.header(info)
                return info

        return GuardedTarInfo

    def _refuse(self, why):
        raise ArchiveError("The archive %s %s; the archive is refused." % (self._path, why))


def _safe_name(member):
    """The member's normalised name, or ArchiveError when the member is unsafe."""
    name = member.name
    if len(name) > NAME_LIMIT or len(member.linkname or "") > NAME_LIMIT:
        raise ArchiveError("An archive member's name or link target is longer than %d characters (the name starts %r); "
                           "the archive is refused." % (NAME_LIMIT, name[:100]))
    if "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError("The archive member %r has an absolute path; the archive is refused." % name)
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../") or "/../" in "/%s/" % name:
        raise ArchiveError("The archive member %r escapes the archive root; the archive is refused." % name)
    if member.type not in _MEMBER_TYPES or member.sparse is not None:
        raise ArchiveError("The archive member %r is a device, FIFO, sparse or other special file; the archive is "
                           "refused." % name)
    if member.issym() or member.islnk():
        base = posixpath.dirname(normal) if member.issym() else ""
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise ArchiveError("The archive link %r points outside the archive (%s); the archive is refused." % (name, target))
    return "" if normal == "." else normal


def _well_formed_entries(entries):
    """True when index.json's ``manifests`` is a list of descriptors (layout.descriptor_problem)."""
    return isinstance(entries, list) and not any(layout.descriptor_problem(entry) for entry in entries)


# What identifying reads (identify_only) of an archive's root bundle gave in this process, by absolute path:
# the file's signature when it was opened, and the bundle.json document or (class, args) of the CnabError
# that refused it. The last few only: a run reads one root archive.
_IDENTIFIED = {}
IDENTIFIED_KEPT = 4


def _file_signature(stat):
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def identified_before(path):
    """The bundle.json document that an identifying read of the archive ``path`` (its root bundle) gave earlier in this
    process, when the file is unchanged since (same inode, size and times); that read's refusal is
    raised again. None when there was no such read. For masking a failure by what the failed run read,
    without reading the archive a second time (a large or hostile one costs seconds)."""
    known = _IDENTIFIED.get(os.path.abspath(path))
    if known is None:
        return None
    try:
        unchanged = _file_signature(os.stat(path)) == known[0]
    except OSError:
        return None
    if not unchanged:
        return None
    if isinstance(known[1], tuple):
        refusal, args = known[1]
        raise refusal(*args)
    return known[1]


class ThickArchive:
    """A thick bundle archive opened for reading (context manager); nothing is extracted."""

    def __init__(self, path, keep_small=True, identify_only=False, dependency=None):
        self.path = path
        # dependency: read the archive as the bundle of that carried dependency (dependencies/<alias>/)
        self.dependency = dependency
        prefix = dependency_prefix(dependency) if dependency else ""
        self._bundle_name, self._mapping_name = prefix + "bundle.json", prefix + "relocation-mapping.json"
        self.dependency_aliases = set()
        self.keep_small = keep_small
        # identify_only: stop reading once bundle.json, the relocation mapping and the verified bundle
        # index are known; write_archive puts them (and every manifest) before the image blobs, so an
        # archive of ours is identified from its first few KiB. Other orders (Porter's) read it all.
        self.identify_only = identify_only
        self.complete = True  # False when identify_only stopped before the end: only the identity is known
        self.document = None
        self.bundle_bytes = None
        self.bundle_digest = None
        self.index_digest = None
        self.index = None
        self.index_name = None  # the ref.name annotation of the bundle index read (the tag it was archived from)
        self.relocation_mapping = {}
        self.layout_index = {"manifests": []}
        self._small = {}        # digest -> bytes
        self._sizes = {}        # digest -> size
        self._links = {}        # blob digest -> digest it links to
        self._offsets = {}      # digest -> data offset (uncompressed archives only)
        self._compressed = True
        self._index_entries = None  # identify_only: (digest, media type) of index.json's index entries
        self._signature = None  # _file_signature of the file read

    # -------------------------------------------------------------- first pass
    def __enter__(self):
        try:
            try:
                self._scan()
                self._parse()
            except (OSError, tarfile.TarError, EOFError, TypeError, ValueError, zlib.error) as exc:
                # TypeError: tarfile's stream reader failed so on a gzip header cut short (found by fuzzing);
                # ValueError: tarfile's parser of GNU sparse maps fails so on a map cut short.
                raise ArchiveError("The archive %s cannot be read (%s)." % (self.path, exc)) from None
        except CnabError as exc:
            self._remember((type(exc), exc.args))  # not the exception: its traceback holds the whole read
            raise
        self._remember(self.document)
        return self

    def _remember(self, outcome):
        """Keep what an identifying read gave (the document or the refusal) for ``identified_before``."""
        if not self.identify_only or self.dependency or self._signature is None:
            return
        key = os.path.abspath(self.path)
        _IDENTIFIED.pop(key, None)
        while len(_IDENTIFIED) >= IDENTIFIED_KEPT:
            _IDENTIFIED.pop(next(iter(_IDENTIFIED)))
        _IDENTIFIED[key] = (self._signature, outcome)

    def __exit__(self, *exc):
        self._small.clear()

    def _open(self):
        """The archive as a tar stream whose memory is bounded: gzip output only as much as each read
        asks for, a small buffer, every header checked (_HeaderGuard) before tarfile reads it."""
        import gzip

        handle = open(self.path, "rb")
        self._signature = _file_signature(os.fstat(handle.fileno()))
        magic = handle.read(2)
        handle.seek(0)
        self._compressed = magic == b"\x1f\x8b"
        stream = gzip.GzipFile(fileobj=handle, mode="rb") if self._compressed else handle
        guard = _HeaderGuard(stream, self.path)
        try:
            tar = tarfile.open(fileobj=guard, mode="r|", bufsize=READ_BUFFER, tarinfo=guard.tarinfo_class())
        except BaseException:
            handle.close()
            raise
        return handle, tar, guard

    def _members(self, tar, guard):
        """The archive's members, each checked for safety, at most MAX_MEMBERS."""
        count = 0
        for member in tar:
            guard.member_read()
            # tarfile copies the global PAX records into every later member: only a few are accepted.
            if len(tar.pax_headers) > GLOBAL_RECORDS:
                raise ArchiveError("The archive %s has a global PAX header of more than %d records; the archive is "
                                   "refused." % (self.path, GLOBAL_RECORDS))
            count += 1
            if count > MAX_MEMBERS:
                raise ArchiveError("The archive %s has more than %d members; the archive is refused."
                                   % (self.path, MAX_MEMBERS))
            yield _safe_name(member), member

    def _scan(self):
        seen, metadata, kept = set(), {}, 0
        handle, tar, guard = self._open()
        with handle, tar:
            for name, member in self._members(tar, guard):
                if name in seen and not member.isdir():
                    raise ArchiveError("The archive member %r appears twice; the archive is refused." % name)
                seen.add(name)
                if member.isdir():
                    continue
                carried = DEPENDENCY_MEMBER.match(name)
                if name.startswith(DEPENDENCIES) and not carried:
                    raise ArchiveError("The archive member %r is not a dependency's bundle.json or "
                                       "relocation-mapping.json; the archive is refused." % name[:200])
                if carried:
                    self.dependency_aliases.add(dependency_path(carried.group(1)))
                    if len(self.dependency_aliases) > MAX_DEPENDENCIES:
                        raise ArchiveError("The archive %s carries more than %d dependencies; the archive is refused."
                                           % (self.path, MAX_DEPENDENCIES))
                if name in METADATA_LIMITS or carried:
                    limit = METADATA_LIMITS[carried.group(2) if carried else name]
                    if not member.isreg() or member.size > limit:
                        raise ArchiveError("The archive member %s is not a regular file of at most %d MiB."
                                           % (name, limit >> 20))
                    if sum(len(data) for data in metadata.values()) + member.size > METADATA_TOTAL:
                        raise ArchiveError("The archive's bundle.json, relocation-mapping.json and index.json "
                                           "files hold more than %d MiB together." % (METADATA_TOTAL >> 20))
                    metadata[name] = tar.extractfile(member).read()
                elif name.startswith(BLOBS) and posixpath.dirname(name) + "/" == BLOBS:
                    digest = check_digest("sha256:" + posixpath.basename(name))
                    if member.issym() or member.islnk():
                        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)
                                                    if member.issym() else member.linkname)
                        if posixpath.dirname(target) + "/" != BLOBS:
                            raise ArchiveError("The archive blob %s links outside the blob directory." % name)
                        self._links[digest] = "sha256:" + posixpath.basename(target)
                        continue
                    self._sizes[digest] = member.size
                    if not self._compressed:
                        self._offsets[digest] = member.offset_data
                    if member.size <= SMALL_BLOB and kept + member.size <= SMALL_TOTAL:
                        data = tar.extractfile(member).read()
                        if sha256_digest(data) != digest:
                            raise ContentDigestMismatch("The archive blob %s does not match its digest; the archive "
                                                        "was altered." % digest)
                        self._small[digest] = data
                        kept += member.size
                        if self.identify_only and self._identified(metadata):
                            self.complete = False
                            break
        for digest, target in self._links.items():
            if target not in self._sizes:
                raise ArchiveError("The archive blob %s links to a blob the archive lacks." % digest)
            if target != digest:
                raise ContentDigestMismatch("The archive blob %s links to different content (%s)." % (digest, target))
        if "bundle.json" not in metadata:
            raise ArchiveError("The archive %s has no bundle.json at its root; it is not a thick bundle." % self.path)
        if self._bundle_name not in metadata:
            raise ArchiveLacksDependency("The archive %s carries no dependency %s." % (self.path, self.dependency))
        self._metadata = metadata

    def _identified(self, metadata):
        """True once the metadata members and a bundle index with its config manifest were read."""
        if not all(name in metadata for name in (self._bundle_name, self._mapping_name, LAYOUT + "/index.json")):
            return False
        if self._index_entries is None:
            try:
                entries = self._json(LAYOUT + "/index.json", metadata[LAYOUT + "/index.json"]).get("manifests")
            except (ArchiveError, AttributeError):
                entries = None  # _parse says what is wrong with it
            if not _well_formed_entries(entries or []):
                entries = []
            self._index_entries = [(e["digest"], e["mediaType"]) for e in entries or []
                                   if e.get("mediaType") in INDEX_TYPES and self._mine(e)]
        # The entry _parse will take: the first bundle index the archive has, so every one before it
        # must have been read (and not be a bundle index).
        for digest, media_type in self._index_entries:
            if digest not in self._small:
                return False
            try:
                index = layout.CnabIndex(self._small[digest], media_type)
            except BundleError:
                continue
            return index.config["digest"] in self._small
        return False

    def _mine(self, entry):
        """True for an index.json entry of the bundle read: the dependency's annotated one, or the root's."""
        annotations = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
        return annotations.get(DEPENDENCY_ANNOTATION) == self.dependency

    def _json(self, name, raw):
        return parse_json(raw, "The archive member %s" % name, error=ArchiveError,
                          max_size=METADATA_LIMITS[posixpath.basename(name) if name.startswith(DEPENDENCIES) else name])

    def _parse(self):
        self.bundle_bytes = self._metadata[self._bundle_name]
        self.bundle_digest = sha256_digest(self.bundle_bytes)
        self.document = self._json(self._bundle_name, self.bundle_bytes)
        if self._mapping_name in self._metadata:
            self.relocation_mapping = self._json(self._mapping_name, self._metadata[self._mapping_name])
        if LAYOUT + "/index.json" in self._metadata:
            self.layout_index = self._json(LAYOUT + "/index.json", self._metadata[LAYOUT + "/index.json"])
        if not isinstance(self.document, dict):
            raise ArchiveError("The archive %s holds a bundle.json that is not a JSON object." % self.path)
        if not isinstance(self.relocation_mapping, dict) or not all(
                isinstance(value, str) for value in self.relocation_mapping.values()):
            raise ArchiveError("The archive %s holds a relocation-mapping.json that is not an object of image "
                               "references." % self.path)
        if not isinstance(self.layout_index, dict):
            raise ArchiveError("The archive %s holds an index.json that is not a JSON object." % self.path)
        layout.check_descriptors(self.layout_index.get("manifests"), "archive's index.json manifests", ArchiveError)
        for entry in self.layout_index.get("manifests") or []:
            if entry.get("mediaType") in INDEX_TYPES and self._mine(entry) and self.has_blob(entry["digest"]):
                raw = self.read_blob(entry["digest"])
                try:
                    index = layout.CnabIndex(raw, entry["mediaType"])
                except NotABundleIndex:
                    continue  # an image's index; a malformed bundle index is refused
                config_digest, _size = layout.config_blob_descriptor(self.read_blob(index.config["digest"]))
                if config_digest != self.bundle_digest:
                    raise ContentDigestMismatch("The archive's bundle.json does not match the digest its bundle "
                                                "index records (%s); the archive was altered." % config_digest)
                self.index, self.index_digest = index, entry["digest"]
                self.index_name = (entry.get("annotations") or {}).get(REF_NAME)
                break

    # ------------------------------------------------------------------ access
    def dependency_indexes(self):
        """``{alias: bundle index digest}`` of the dependencies the archive carries."""
        found = {}
        for entry in self.layout_index.get("manifests") or []:
            alias = (entry.get("annotations") or {}).get(DEPENDENCY_ANNOTATION)
            if isinstance(alias, str) and alias in self.dependency_aliases:
                found.setdefault(alias, entry["digest"])
        return found

    @property
    def blob_digests(self):
        return set(self._sizes) | set(self._links)

    def has_blob(self, digest):
        return digest in self._sizes or digest in self._links

    def blob_size(self, digest):
        return self._sizes[self._links.get(digest, digest)]

    def read_blob(self, digest, limit=layout.MAX_BUNDLE_SIZE):
        """A small blob's bytes (manifests, configs), verified."""
        digest = self._links.get(digest, digest)
        if digest in self._small:
            return self._small[digest]
        if not self.has_blob(digest):
            raise ArchiveError("The archive %s lacks blob %s." % (self.path, digest))
        if self.blob_size(digest) > limit:
            raise ArchiveError("The archive blob %s is too large to be a manifest." % digest)
        with self.open_blob(digest) as stream:
            return stream.read()

    def manifest(self, digest):
        """``(raw, media_type)`` of a manifest blob."""
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import media_type_of

        raw = self.read_blob(digest)
        media_type = None
        for entry in self.layout_index.get("manifests") or []:
            if entry.get("digest") == digest:
                media_type = entry.get("mediaType")
        return raw, media_type_of(raw, media_type)

    def get_manifest(self, ref):
        """RegistryRepo-compatible: ``(raw, media_type, digest)``."""
        raw, media_type = self.manifest(ref)
        return raw, media_type, ref

    def image_digest(self, image_ref):
        for entry in self.layout_index.get("manifests") or []:
            if (entry.get("annotations") or {}).get(REF_NAME) == image_ref:
                return entry["digest"]
        relocated = self.relocation_mapping.get(image_ref)
        if isinstance(relocated, str) and "@" in relocated:
            return relocated.rsplit("@", 1)[1]
        if self.index is not None:
            mapping = layout.relocation_mapping(self.document, self.index, "archive")
            if image_ref in mapping:
                return mapping[image_ref].rsplit("@", 1)[1]
        raise ArchiveError("The archive %s holds no image %s." % (self.path, image_ref))

    def image_manifest(self, image_ref):
        """``(raw_bytes, media_type)`` of the image the bundle names ``image_ref``."""
        return self.manifest(self.image_digest(image_ref))

    def open_blob(self, digest, size=None):
        """A verified stream of the blob (seeks in an uncompressed archive, else scans to it)."""
        digest = self._links.get(digest, digest)
        if not self.has_blob(digest):
            raise ArchiveError("The archive %s lacks blob %s." % (self.path, digest))
        size = self._sizes[digest]
        if digest in self._small:
            return VerifyingReader(iter([self._small[digest]]), digest, size, what="archive blob")
        if digest in self._offsets:
            handle = open(self.path, "rb")
            handle.seek(self._offsets[digest])
            remaining = [size]

            def chunks():
                while remaining[0] > 0:
                    chunk = handle.read(min(CHUNK, remaining[0]))
                    if not chunk:
                        return
                    remaining[0] -= len(chunk)
                    yield chunk

            return VerifyingReader(chunks(), digest, size, what="archive blob", close=handle.close)
        # The scan stays open as long as the reader: a generator dropped early closes its archive.
        blobs = self.iter_blobs([digest])
        _found, _size, reader = next(blobs)

        def chunks():
            try:
                yield from iter(lambda: reader.read(CHUNK), b"")
            finally:
                blobs.close()

        return VerifyingReader(chunks(), digest, size, what="archive blob", close=blobs.close)

    def iter_blobs(self, digests):
        """Yield ``(digest, size, verified reader)`` for ``digests`` in archive order, in one pass.
        Each reader must be consumed before the next item is taken."""
        wanted = {self._links.get(digest, digest) for digest in digests}
        if not self._compressed:
            for digest in sorted(wanted, key=lambda d: self._offsets.get(d, 0)):
                yield digest, self._sizes[digest], self.open_blob(digest)
            return
        handle, tar, guard = self._open()
        with handle, tar:
            for _name, member in self._members(tar, guard):
                if not member.isreg() or not member.name.lstrip("./").startswith(BLOBS):
                    continue
                digest = "sha256:" + posixpath.basename(member.name)
                if digest not in wanted:
                    continue
                wanted.discard(digest)
                stream = tar.extractfile(member)
                yield digest, member.size, VerifyingReader(iter(lambda s=stream: s.read(CHUNK), b""), digest,
                                                           member.size, what="archive blob")
                if not wanted:
                    return
        if wanted:
            raise ArchiveError("The archive %s lacks blobs %s." % (self.path, ", ".join(sorted(wanted))))

    def signature_manifests(self):
        """``[(ref_name, digest, raw, media_type)]`` of the cosign ``sha256-<hex>.sig`` manifests."""
        found = []
        for entry in self.layout_index.get("manifests") or []:
            name = (entry.get("annotations") or {}).get(REF_NAME) or ""
            if name.startswith("sha256-") and name.endswith(".sig"):
                raw, media_type = self.manifest(entry["digest"])
                found.append((name, entry["digest"], raw, media_type))
        return found


# ---------------------------------------------------------------------------------- publishing
def archive_images(archive):
    """``[(image dict, (media_type, digest, size))]`` for the bundle's images, in index order."""
    placed = []
    for _role, _name, image in layout.bundle_images(archive.document):
        digest = archive.image_digest(image["image"])
        raw, media_type = archive.manifest(digest)
        placed.append((image, (media_type, digest, len(raw))))
    return placed


def publish_archive(path, reference, registry_options=None, check_mode=False, pool=None, dependency=None):
    """Push the bundle in the archive at ``path`` to ``reference`` (a tag), streamed from the archive;
    with ``dependency`` (a path of aliases), that carried dependency's bundle, with its signatures."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import media_type_of
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import (
        PushResult,
        _target,
        push_config_and_index,
        put_blob_bytes,
        put_manifest_bytes,
        tag_index,
    )
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.images import (
        ClientPool,
        RegistryRepo,
        Stats,
        collect_graph,
    )

    reference = _target(reference)
    pool = pool or ClientPool(registry_options, [(reference.registry, registry_options)])
    target = RegistryRepo(pool.get(reference.registry), reference.repository)
    stats = Stats()
    with ThickArchive(path, dependency=dependency) as archive:
        placed = archive_images(archive)
        graphs = [collect_graph(archive, descriptor[1]) for _image, descriptor in placed
                  if not target.has_manifest(descriptor[1])]
        missing = {}
        for graph in graphs:
            for digest, blob in graph.blobs.items():
                if digest not in missing and not target.has_blob(digest):
                    missing[digest] = int(blob.get("size") or 0)
        stats.add("blobs_skipped", sum(len(graph.blobs) for graph in graphs) - len(missing))
        if not check_mode:
            for digest, size, reader in archive.iter_blobs(missing):
                with reader:
                    target.client.push_blob(target.repository, digest, size, reader)
        stats.add("blobs_uploaded", len(missing))
        stats.add("bytes_uploaded", sum(missing.values()))
        for graph in graphs:
            for digest, raw, media_type in graph.manifests:
                put_manifest_bytes(target, raw, media_type, stats, check_mode)
        if archive.index is not None:  # the archive's own index and config manifest, byte for byte
            config_raw = archive.read_blob(archive.index.config["digest"])
            put_blob_bytes(target, archive.bundle_bytes, stats, check_mode)
            put_manifest_bytes(target, config_raw, media_type_of(config_raw), stats, check_mode)
            index_digest = tag_index(target, reference, archive.read_blob(archive.index_digest), stats, check_mode,
                                     archive.index.media_type)
        else:  # an archive without a bundle index (older Porter): built and pushed as a push does
            index_digest = push_config_and_index(target, reference, archive.document, archive.bundle_bytes,
                                                 [descriptor for _image, descriptor in placed], stats, check_mode)
        publish_signatures(archive, target, stats, check_mode, own_only=dependency is not None)
        mapping = {image["image"]: "%s@%s" % (reference.name, descriptor[1]) for image, descriptor in placed}
        return PushResult(reference, index_digest, archive.bundle_digest, mapping, stats)


def publish_signatures(archive, target, stats, check_mode, own_only=False):
    """Push the archive's ``sha256-<hex>.sig`` manifests (small blobs) under their tags; with
    ``own_only``, only the one of the bundle index read (a carried dependency's)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import put_blob_bytes, signature_tag

    own = signature_tag(archive.index_digest) if own_only and archive.index_digest else None
    for tag, digest, raw, media_type in archive.signature_manifests():
        if own_only and tag != own:
            continue
        for blob in layout.children(raw, media_type)[1]:
            put_blob_bytes(target, archive.read_blob(blob["digest"]), stats, check_mode)
        current = target.client.head_manifest(target.repository, tag)
        if current is None or current[0] != digest:
            stats.add("manifests_written")
            if not check_mode:
                target.client.put_manifest(target.repository, tag, raw, media_type)
