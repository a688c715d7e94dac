"""The cnab-to-oci registry layout of a bundle, written and read.

A bundle is an OCI image index whose children are, in this order (CNAB spec 201):
1. the config manifest, annotated ``io.cnab.manifest.type: config``, whose config blob is the
   canonical (RFC 8785) bundle.json;
2. the one invocation image, annotated ``io.cnab.manifest.type: invocation``;
3. one descriptor per ``images`` entry, sorted by name, annotated ``component`` and
   ``io.cnab.component.name``.
The writer produces cnab-to-oci's bytes exactly (Go's encoding/json of its structs: field order,
omitted empty fields, ``"layers":null``, HTML-safe escapes), so a bundle pushed here and by
cnab-to-oci or Porter has one digest. ``CONFIG_FORMS`` and ``INDEX_FORMS`` are its fallbacks for
registries that refuse a form. The reader also accepts what this collection wrote before (a
top-level ``mediaType`` and ``artifactType`` on the index, ``"layers": []``), the spec's config
media type and every fallback.
"""

import json

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleError,
    ContentDigestMismatch,
    NotABundleIndex,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci.content import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    is_sha256_digest,
    sha256_digest,
)

CNAB_CONFIG = "application/vnd.cnab.config.v1+json"          # what cnab-to-oci writes
CNAB_ARTIFACT = "application/vnd.cnab.manifest.v1"
CONFIG_TYPES = (CNAB_CONFIG,
                "application/vnd.cnab.bundle.config.v1+json",  # what spec 201 names
                "application/vnd.oci.image.config.v1+json",    # cnab-to-oci's fallbacks
                "application/vnd.docker.container.image.v1+json")
IMAGE_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
TYPE_KEY = "io.cnab.manifest.type"
COMPONENT_KEY = "io.cnab.component.name"
MAX_BUNDLE_SIZE = 16 * 1024 * 1024


def dumps(document):
    """Compact JSON with keys in the order given: the bytes that get hashed and stored."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def descriptor(media_type, digest, size, annotations=None):
    value = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        value["annotations"] = annotations
    return value


def go_json(document, indent=None):
    """``document`` encoded as Go's encoding/json writes it (cnab-to-oci is Go): keys in the order
    given, compact (or ``MarshalIndent`` with ``indent`` spaces), non-ASCII as UTF-8, and ``<``,
    ``>``, ``&``, U+2028, U+2029 escaped. Those characters only occur inside strings, where Go
    writes the escape, so replacing them in the text is exact."""
    if indent is None:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(document, indent=indent, separators=(",", ": "), ensure_ascii=False)
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text.encode("utf-8")


_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))

# Config manifest forms in cnab-to-oci's fallback order (converter/types.go PrepareForPush):
# ``(name, manifest media type)``. A registry that refuses one gets the next.
CONFIG_CNAB = "cnab"
CONFIG_OCI = "oci-image-config"
CONFIG_DOCKER = "docker-schema2"
CONFIG_FORMS = ((CONFIG_CNAB, OCI_MANIFEST), (CONFIG_OCI, OCI_MANIFEST), (CONFIG_DOCKER, DOCKER_MANIFEST))
# Index forms in cnab-to-oci's order (remotes/push.go pushIndex): ``(name, media type)``.
INDEX_FORMS = (("oci-index", OCI_INDEX), ("docker-manifest-list", DOCKER_LIST))
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def config_manifest(bundle_bytes, form=CONFIG_CNAB):
    """The config manifest (bytes) for canonical bundle.json bytes, in one of ``CONFIG_FORMS``."""
    digest, size = sha256_digest(bundle_bytes), len(bundle_bytes)
    if form == CONFIG_DOCKER:
        # distribution's schema2.FromStruct: MarshalIndent with three spaces, descriptors as
        # mediaType/size/digest, the blob also listed as the one layer (some registries want one).
        blob = {"mediaType": DOCKER_CONFIG, "size": size, "digest": digest}
        return go_json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": blob, "layers": [blob]}, indent=3)
    config_type = {CONFIG_CNAB: CNAB_CONFIG, CONFIG_OCI: "application/vnd.oci.image.config.v1+json"}[form]
    return go_json({"schemaVersion": 2, "config": descriptor(config_type, digest, size), "layers": None})


def config_manifest_media_type(form):
    return dict(CONFIG_FORMS)[form]


def _go_string(value):
    return value if isinstance(value, str) else ""


def _maintainers_json(maintainers):
    """cnab-go's ``[]Maintainer`` marshalled: name, then email and url when not empty; other keys dropped."""
    people = []
    for person in maintainers if isinstance(maintainers, list) else []:
        person = person if isinstance(person, dict) else {}
        entry = {"name": _go_string(person.get("name"))}
        for key in ("email", "url"):
            if _go_string(person.get(key)):
                entry[key] = person[key]
        people.append(entry)
    return go_json(people).decode("utf-8")


def index_annotations(document):
    """cnab-to-oci's index annotations (converter/convert.go makeAnnotations), keys sorted as Go writes a map.
    Title, version, description and runtime version are always there (empty when unset); authors and
    keywords whenever bundle.json has the field (a Go slice that is not nil, so ``[]`` counts)."""
    annotations = {
        "io.cnab.runtime_version": _go_string(document.get("schemaVersion")),
        "org.opencontainers.artifactType": CNAB_ARTIFACT,
        "org.opencontainers.image.title": _go_string(document.get("name")),
        "org.opencontainers.image.version": _go_string(document.get("version")),
        "org.opencontainers.image.description": _go_string(document.get("description")),
    }
    if document.get("maintainers") is not None:
        annotations["org.opencontainers.image.authors"] = _maintainers_json(document["maintainers"])
    if document.get("keywords") is not None:
        keywords = document["keywords"] if isinstance(document["keywords"], list) else []
        annotations["io.cnab.keywords"] = go_json([_go_string(word) for word in keywords]).decode("utf-8")
    return dict(sorted(annotations.items()))


def bundle_images(document):
    """``[(role, component name or None, image dict)]`` in index order."""
    invocation = document.get("invocationImages") or []
    if not isinstance(invocation, list):
        raise BundleError("The invocationImages field of bundle %s must be a list." % document.get("name"))
    if len(invocation) != 1:
        raise BundleError("Bundle %s has %d invocation images; the OCI layout stores exactly one."
                          % (document.get("name"), len(invocation)))
    found = [("invocation", None, invocation[0])]
    images = document.get("images") or {}
    if not isinstance(images, dict):
        raise BundleError("The images field of bundle %s must be an object." % document.get("name"))
    found += [("component", name, images[name]) for name in sorted(images)]
    for _role, name, image in found:
        if not isinstance(image, dict) or not isinstance(image.get("image"), str) or not image["image"]:
            raise BundleError("Image %s of bundle %s has no image reference."
                              % (name or "invocationImages[0]", document.get("name")))
    return found


def build_index(document, bundle_bytes, image_descriptors, config_form=CONFIG_CNAB, index_form="oci-index"):
    """``(index bytes, config manifest bytes)`` as cnab-to-oci writes them for this config form and
    index form. ``image_descriptors`` are ``(media_type, digest, size)`` in ``bundle_images`` order."""
    config = config_manifest(bundle_bytes, config_form)
    manifests = [descriptor(config_manifest_media_type(config_form), sha256_digest(config), len(config),
                            {TYPE_KEY: "config"})]
    for (role, name, _image), (media_type, digest, size) in zip(bundle_images(document), image_descriptors):
        if media_type not in IMAGE_MEDIA_TYPES or not size:
            raise BundleError("Image %s has media type %s, which a CNAB index cannot reference." % (name or "invocation", media_type))
        annotations = {COMPONENT_KEY: name, TYPE_KEY: role} if name else {TYPE_KEY: role}
        manifests.append(descriptor(media_type, digest, size, annotations))
    index = {"schemaVersion": 2, "manifests": manifests, "annotations": index_annotations(document)}
    if index_form == "docker-manifest-list":
        # cnab-to-oci wraps the index in a struct whose own mediaType field Go writes last.
        index["mediaType"] = DOCKER_LIST
    elif index_form != "oci-index":
        raise ValueError(index_form)
    return go_json(index), config


def read_json(raw, what, max_size=MAX_MANIFEST_SIZE):
    """A JSON document of the layout (index, manifest, config, bundle.json): bounded in size and
    depth (bundle.parse_json), BundleError naming ``what`` otherwise."""
    return parse_json(raw, what, max_size=max_size)


def descriptor_problem(entry):
    """Why ``entry`` is not an OCI descriptor the readers can use (None when it is): an object with
    a string mediaType, a sha256 digest, a non-negative integer size and string annotations."""
    if not isinstance(entry, dict):
        return "is not an object"
    if not isinstance(entry.get("mediaType", ""), str):
        return "has a mediaType that is not a string"
    digest = entry.get("digest")
    if not is_sha256_digest(digest):
        return "has no sha256 digest"
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return "has no non-negative integer size"
    annotations = entry.get("annotations")
    if annotations is not None and (not isinstance(annotations, dict)
                                    or not all(isinstance(value, str) for value in annotations.values())):
        return "has annotations that are not an object of strings"
    return None


def check_descriptors(entries, what, error=BundleError):
    """``entries`` (a list of descriptors), else ``error`` naming the first that is not one."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise error("The %s is not a list of descriptors." % what)
    for position, entry in enumerate(entries):
        problem = descriptor_problem(entry)
        if problem:
            raise error("Entry %d of the %s %s, so it is not a descriptor." % (position, what, problem))
    return entries


class CnabIndex:
    """A parsed bundle index: the config descriptor and the image descriptors."""

    def __init__(self, raw, media_type=None):
        index = read_json(raw, "The bundle index")
        declared = index.get("mediaType") if isinstance(index, dict) else None
        if not isinstance(index, dict) or (declared or media_type or OCI_INDEX) not in INDEX_TYPES:
            raise NotABundleIndex("The reference does not point at a CNAB bundle (it is %s, not an image index)."
                                  % (declared if isinstance(declared, str) else media_type or "not an index"))
        annotations = index.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise BundleError("The bundle index has annotations that are not an object.")
        self.raw = raw
        self.media_type = declared or media_type or OCI_INDEX
        self.document = index
        self.annotations = annotations
        self.config = None
        self.invocation = None
        self.components = {}
        for entry in check_descriptors(index.get("manifests"), "bundle index's manifests"):
            kind = (entry.get("annotations") or {}).get(TYPE_KEY)
            if kind == "config" and self.config is None:
                self.config = entry
            elif kind == "invocation" and self.invocation is None:
                self.invocation = entry
            elif kind == "component":
                self.components[(entry.get("annotations") or {}).get(COMPONENT_KEY)] = entry
        if self.config is None:
            raise NotABundleIndex("The image index has no descriptor annotated io.cnab.manifest.type=config; "
                                  "it is not a CNAB bundle.")

    def descriptors(self):
        """Every child descriptor, config first."""
        return list(self.document.get("manifests") or [])


def config_blob_descriptor(raw_config_manifest):
    """The bundle.json descriptor inside a config manifest (any media-type variant)."""
    manifest = read_json(raw_config_manifest, "The bundle's config manifest")
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if descriptor_problem(config):
        raise BundleError("The bundle's config manifest is malformed: its config %s." % descriptor_problem(config))
    digest, size = config["digest"], config["size"]
    if config.get("mediaType") not in CONFIG_TYPES:
        raise BundleError("The bundle's config has media type %s, not a CNAB config." % config.get("mediaType"))
    if size > MAX_BUNDLE_SIZE:
        raise BundleError("The bundle.json blob is larger than 16 MiB.")
    return digest, size


def parse_bundle_blob(raw, digest):
    if sha256_digest(raw) != digest:
        raise ContentDigestMismatch("bundle.json does not match its digest %s; it was altered." % digest)
    document = read_json(raw, "The bundle.json blob %s" % digest, max_size=MAX_BUNDLE_SIZE)
    if not isinstance(document, dict):
        raise BundleError("The bundle.json blob %s is not a JSON object." % digest)
    return document


def relocation_mapping(document, index, repository_name):
    """Original image reference -> ``repository_name@digest`` for the invocation image and components."""
    mapping = {}
    invocation = (document.get("invocationImages") or [{}])[0]
    if index.invocation and invocation.get("image"):
        mapping[invocation["image"]] = "%s@%s" % (repository_name, index.invocation["digest"])
    for name, image in sorted((document.get("images") or {}).items()):
        entry = index.components.get(name)
        if entry and isinstance(image, dict) and image.get("image"):
            mapping[image["image"]] = "%s@%s" % (repository_name, entry["digest"])
    return mapping


def children(raw, media_type):
    """``(child manifests, blobs)`` descriptors of an image manifest or index."""
    manifest = read_json(raw, "An image manifest")
    if not isinstance(manifest, dict):
        raise BundleError("An image manifest is not a JSON object.")
    kind = manifest.get("mediaType") or media_type
    if kind in INDEX_TYPES or ("manifests" in manifest and "layers" not in manifest):
        return list(check_descriptors(manifest.get("manifests"), "image index's manifests")), []
    if kind not in MANIFEST_TYPES and "config" not in manifest:
        raise BundleError("Media type %s is not an image manifest or index." % kind)
    blobs = [manifest["config"]] if manifest.get("config") else []
    check_descriptors(blobs, "image manifest's config")
    # Foreign layers (with urls) live outside the registry and are not copied.
    blobs += [layer for layer in check_descriptors(manifest.get("layers"), "image manifest's layers")
              if not layer.get("urls")]
    return [], blobs
