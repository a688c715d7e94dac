"""Where an installed bundle comes from: a local bundle.json (or its directory), a thick archive
(``.tgz``) or a registry reference (``host[:port]/repo:tag`` or ``...@sha256:...``).

``open_source`` decides what a ``bundle`` string is and loads it into a ``BundleSource``: the
``Bundle``, the digest that identifies a registry or archive bundle (its OCI index digest), the
relocation mapping (original image -> where the runtime takes it from) and the ``ImageSource`` the
driver runs the invocation image from. ``from_claim`` rebuilds the same from a recorded claim,
without I/O, for runs that reuse the recorded bundle.

No-op runs stay cheap: a digest-pinned reference whose digest the recorded claim already has is not
fetched at all (content addressing makes the recorded bundle.json and mapping the registry's), and
a tag costs one manifest HEAD. The registry and archive code (``oci/``) is imported only when used.
"""

import json
import os

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle, load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveError, ArchiveLacksDependency, BundleError, CnabError, RegistryError

FILE, ARCHIVE, REGISTRY = "file", "archive", "registry"
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")
RELOCATION_MAPPING_PATH = "/cnab/app/relocation-mapping.json"


class BundleSource:
    """A loaded bundle and where its images come from."""

    def __init__(self, kind, bundle, index_digest=None, relocation_mapping=None, registry_options=None):
        self.kind = kind
        self.bundle = bundle  # bundle.reference: absolute path, or the reference pinned by its digest
        self.index_digest = index_digest  # the OCI index digest of a registry or archive bundle
        self.relocation_mapping = dict(relocation_mapping or {})
        self.registry_options = registry_options or {}
        self.signature = None  # the verify policy's record (apply_policy), kept in the claim
        self.invocation_image = None  # archive: docker_load.image_record of the invocation image
        self.unchecked_archive = None  # archive only identified (or taken from the claim): read whole before it runs
        self.archive_dependency = None  # archive: the alias of the carried dependency read (None: the root)
        self.warnings = []

    def claim_custom(self):
        """What the claim records about the source (no secret: references and digests only)."""
        custom = {} if self.signature is None else {"signature": self.signature}
        if self.kind == FILE:
            return custom
        custom.update({"bundleSource": self.kind, "indexDigest": self.index_digest,
                       "relocationMapping": self.relocation_mapping})
        if self.kind == ARCHIVE and self.invocation_image:
            custom["invocationImage"] = self.invocation_image
        if self.kind == ARCHIVE and self.archive_dependency:
            custom["archiveDependency"] = self.archive_dependency
        return custom

    def files(self):
        """Files the invocation container gets: CNAB's optional relocation mapping."""
        if not self.relocation_mapping:
            return {}
        return {RELOCATION_MAPPING_PATH: json.dumps(self.relocation_mapping, sort_keys=True, indent=2)}

    def image_source(self, image):
        """Where the driver takes ``image`` (an invocationImages entry) from; an archive that is
        going to run has had every member checked first (check_archive)."""
        from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import ImageSource

        original = image.get("image")
        if self.kind == ARCHIVE:
            self.check_archive()
            recorded = self.invocation_image if original == (self.invocation_image or {}).get("image") else None
            return ImageSource(ARCHIVE, original, archive=self.bundle.reference, original=original,
                               digest=image.get("contentDigest"), recorded=recorded)
        relocated = self.relocation_mapping.get(original)
        if self.kind == REGISTRY and relocated:
            return ImageSource(REGISTRY, relocated, auth=self.registry_options, original=original,
                               digest=image.get("contentDigest"))
        return ImageSource("engine", original)

    def check_archive(self):
        """Read the whole archive, with every member checked as on a fresh install, when it was only
        identified: the identity (its first members, or the recorded claim) says nothing of the
        members after the bundle index, and the archive is what runs."""
        if self.unchecked_archive is None:
            return
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

        with ThickArchive(self.unchecked_archive, dependency=self.archive_dependency) as archive:
            if archive.index_digest != self.index_digest:
                raise ArchiveError("The archive %s changed while it was read (its bundle index is now %s, not %s); "
                                   "run again." % (self.unchecked_archive, archive.index_digest, self.index_digest))
        self.unchecked_archive = None


def kind_of(text):
    """``file``, ``archive`` or ``registry``: what a ``bundle`` string names."""
    if not text or not isinstance(text, str):
        raise BundleError("no bundle was given: set the bundle option to a bundle.json file, its directory, "
                          "a .tgz archive or a registry reference.")
    if text.endswith(ARCHIVE_SUFFIXES):
        return ARCHIVE
    path = os.path.expanduser(text)
    if os.path.exists(path):
        return FILE
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import looks_like_reference

    return REGISTRY if looks_like_reference(text) else FILE


def open_source(text, registry_options=None, recorded=None, resolve_tag=True):
    """Load the bundle ``text`` names.

    ``recorded`` is the claim the decision compares with: when it records the same index digest,
    its bundle.json and relocation mapping are used instead of fetching them again. With
    ``resolve_tag`` false (the decision does not depend on the digest) a tag the recorded claim
    was installed from is not even resolved."""
    kind = kind_of(text)
    if kind == FILE:
        return BundleSource(FILE, load_bundle(text))
    if kind == ARCHIVE:
        return _open_archive(text, recorded, resolve_tag)
    return _open_reference(text, registry_options, recorded, resolve_tag)


def apply_policy(source, verify, recorded=None):
    """Check ``source`` under the ``verify`` option group (signing/gate.py) before anything runs:
    SignatureError when it must be refused; else the outcome is recorded on the source (and in
    its claim), with a warning when it is used unverified. No keys and not required: nothing."""
    verify = verify or {}
    if source is None or not (verify.get("keys") or verify.get("required")):
        return source
    from ansible_collections.cnab.runtime.plugins.module_utils.signing.gate import check_source

    check = check_source(verify, source, recorded)
    source.signature = check.record
    if check.warning:
        source.warnings.append(check.warning)
    return source


def from_claim(claim, registry_options=None):
    """The source a claim recorded, rebuilt without I/O (runs that reuse the recorded bundle)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom

    custom = runtime_custom(claim)
    kind = custom.get("bundleSource") or FILE
    if kind not in (ARCHIVE, REGISTRY):
        kind = FILE
    bundle = Bundle(claim["bundle"], claim.get("bundleReference"))
    source = BundleSource(kind, bundle, custom.get("indexDigest"), custom.get("relocationMapping"), registry_options)
    if kind == ARCHIVE:
        source.invocation_image = _image_record(custom.get("invocationImage"))
        source.archive_dependency = custom.get("archiveDependency")
    return source


def _image_record(record):
    """A recorded ``invocationImage``, or None when it is not one (an older or edited claim)."""
    if not isinstance(record, dict) or not isinstance(record.get("imageIds"), dict):
        return None
    return record


def _recorded_source(recorded, kind, index_digest, reference, registry_options):
    """The recorded claim as the source, when it recorded the same index digest."""
    if recorded is None or index_digest is None:
        return None
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom

    custom = runtime_custom(recorded)
    if custom.get("indexDigest") != index_digest or not isinstance(recorded.get("bundle"), dict):
        return None
    mapping = custom.get("relocationMapping") if custom.get("bundleSource") == kind else None
    if kind == REGISTRY and mapping:
        # The same index in another repository (a copy): its images are in that repository.
        mapping = _rebase(mapping, reference)
    if mapping is None:
        return None  # recorded from the other kind of source: its mapping does not apply here
    source = BundleSource(kind, Bundle(recorded["bundle"], reference), index_digest, mapping, registry_options)
    if kind == ARCHIVE:
        source.invocation_image = _image_record(custom.get("invocationImage"))
        source.archive_dependency = custom.get("archiveDependency")
    return source


def _rebase(mapping, reference):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

    target = parse_reference(reference)
    rebased = {}
    for original, relocated in mapping.items():
        digest = str(relocated).rpartition("@")[2]
        rebased[original] = "%s@%s" % (target.name, digest) if digest.startswith("sha256:") else relocated
    return rebased


def _same_reference(recorded, text):
    """True when ``recorded`` was installed from the reference ``text`` (ignoring the digest it pinned)."""
    reference = (recorded or {}).get("bundleReference") or ""
    return reference == text or reference.rpartition("@")[0] == text


def _open_reference(text, registry_options, recorded, resolve_tag):
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

    reference = parse_reference(text)
    digest = reference.digest
    if digest is None and not resolve_tag and _same_reference(recorded, text):
        digest = runtime_custom(recorded).get("indexDigest")
    if digest is None:
        digest = _resolve_tag(reference, registry_options)
    pinned = str(reference.pinned(digest))
    known = _recorded_source(recorded, REGISTRY, digest, pinned, registry_options)
    if known is not None:
        return known
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import pull_bundle

    pulled = pull_bundle(pinned, registry_options)
    bundle = Bundle(pulled.document, str(pulled.reference))
    return BundleSource(REGISTRY, bundle, pulled.index_digest, pulled.relocation_mapping, registry_options)


def _resolve_tag(reference, registry_options):
    """The digest a tag points at now: one manifest HEAD."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient

    found = RegistryClient(registry_options, reference.registry).head_manifest(reference.repository, reference.ref)
    if found is None:
        raise RegistryError("The registry %s has no bundle %s; check the reference." % (reference.registry, reference))
    return found[0]


def registry_reference(source):
    """The reference a registry source was opened from (pinned to its digest), else None."""
    return source.bundle.reference if source is not None and source.kind == REGISTRY else None


def archived_dependency(root, alias, recorded=None):
    """The source of dependency ``alias`` of ``root`` (a source) that ``root``'s archive carries, or
    None when ``root`` comes from no archive or its archive does not carry it. A dependency read
    from an archive finds its own dependencies under its directory there (oci/archive.py)."""
    if root is None or root.kind != ARCHIVE or not isinstance(alias, str) or "/" in alias:
        return None
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import is_dependency_path

    path = "%s/%s" % (root.archive_dependency, alias) if root.archive_dependency else alias
    if not is_dependency_path(path):
        return None
    try:
        return _open_archive(root.bundle.reference, recorded, True, path)
    except ArchiveLacksDependency:
        return None


def _open_archive(text, recorded, resolve_tag, dependency=None):
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isfile(path):
        raise BundleError("bundle archive %s does not exist." % path)
    if recorded is not None and _recorded_dependency(recorded) != dependency:
        recorded = None  # recorded from another bundle of the same archive
    if not resolve_tag and recorded is not None and recorded.get("bundleReference") == path:
        from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom

        known = _recorded_source(recorded, ARCHIVE, runtime_custom(recorded).get("indexDigest"), path, None)
        if known is not None:
            known.unchecked_archive = path  # not even opened: a run reads it first
            return known
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

    # Identifying the archive reads only its metadata and bundle index when they come first (a no-op
    # stays cheap); a source that is going to run gets the full scan, with every member checked.
    with ThickArchive(path, identify_only=True, dependency=dependency) as archive:
        known = _recorded_source(recorded, ARCHIVE, archive.index_digest, path, None)
        if known is not None:
            known.unchecked_archive = None if archive.complete else path
            return known
        if archive.complete:
            return _archive_source(archive, path)
    with ThickArchive(path, dependency=dependency) as archive:
        return _archive_source(archive, path)


def _recorded_dependency(recorded):
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom

    return runtime_custom(recorded).get("archiveDependency")


def _archive_source(archive, path):
    source = BundleSource(ARCHIVE, Bundle(archive.document, path), archive.index_digest, archive.relocation_mapping)
    source.archive_dependency = archive.dependency
    try:
        original = source.bundle.invocation_image().get("image")
    except (BundleError, AttributeError, TypeError):
        return source  # a malformed bundle: validation reports it
    record = archived_image_record(archive, original)
    if record is not None:
        source.invocation_image = dict(record, image=original)
    return source


def archived_image_record(archive, original):
    """What a claim records to run the archived image ``original`` again without the archive:
    ``{"manifestDigest": ..., "imageIds": {platform: config digest}}`` (platform ``""`` for a single
    manifest, ``os/arch`` for each variant of an index); None when the archive cannot tell. Driver
    agnostic: a driver reads the image itself through ``archive`` (e.g. docker_load's stream)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import INDEX_TYPES
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.layout import read_json

    try:
        digest = archive.image_digest(original)
        raw, media_type = archive.manifest(digest)
        document = read_json(raw, "The image manifest")
        if media_type in INDEX_TYPES or document.get("manifests") is not None:
            ids = {}
            for child in document.get("manifests") or []:
                platform = child.get("platform") or {}
                config = read_json(archive.read_blob(child["digest"]), "The image manifest").get("config") or {}
                ids["%s/%s" % (platform.get("os"), platform.get("architecture"))] = config.get("digest")
        else:
            ids = {"": (document.get("config") or {}).get("digest")}
    except (CnabError, ValueError, AttributeError, KeyError, TypeError):
        return None  # the driver reports what is wrong with the archive when it loads the image
    ids = {key: value for key, value in ids.items() if isinstance(value, str) and value.startswith("sha256:")}
    return {"manifestDigest": digest, "imageIds": ids} if ids else None


def masking_bundle(text, recorded=None):
    """Best effort and without network, for masking a failure: the bundle ``text`` names when it
    can be read locally, else the recorded one, else None."""
    kind = kind_of(text)
    if kind == FILE:
        return load_bundle(text)
    if kind == ARCHIVE and os.path.isfile(os.path.expanduser(text)):
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive, identified_before

        document = identified_before(os.path.expanduser(text))  # what the failed run read: not read again
        if document is not None:
            return Bundle(document)
        with ThickArchive(os.path.expanduser(text), identify_only=True) as archive:
            return Bundle(archive.document)
    if recorded is not None and isinstance(recorded.get("bundle"), dict):
        return Bundle(recorded["bundle"])
    return None
