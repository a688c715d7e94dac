"""cnab_bundle push, copy and publish with ``dependencies: true``: every dependency of the bundle
(io.cnab.dependencies), and theirs, goes to the destination registry along with the root.

Placement. cnab-to-oci and Porter keep a bundle, its images and its signatures in one repository;
each dependency keeps that form in a repository of its own next to the root's
(``dependencies.placement``): the destination's registry, the destination repository with its last
component replaced by the last component of the dependency's repository, and the tag the dependency
was resolved to (``v<version>`` when its reference pins only a digest)::

    root      reg1/apps/wordpress:v0.1.0  ->  reg2/site/wordpress:v0.1.0   (dest)
    mysql     reg1/lib/mysql (1.x -> v1.4.0)  ->  reg2/site/mysql:v1.4.0
    its disk  reg1/lib/disk:v1.0.0        ->  reg2/site/disk:v1.0.0

Nested dependencies are placed next to their parent's placement, so the whole graph shares the
destination's namespace. Each dependency is copied as a copy copies a bundle (its index and config
manifest byte for byte, so it stays cnab-to-oci's, its images and its ``.sig`` manifest), or, from an
archive, published as a publish does; the root's bundle.json is not changed, so its digest and
signature stay. An install of the root from the destination looks at those placements first
(``dependencies.resolve_reference``'s ``near``), then at the ``requires`` reference.

Dependencies are written before the root, so the root's tag never names a graph whose
dependencies are missing. Two dependencies placed at one tag with different bundles are refused
before anything is written for the second.
"""

from ansible_collections.cnab.runtime.plugins.module_utils import dependencies as deps
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ArchiveLacksDependency,
    DependencyError,
    InvalidReference,
)
from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

MAX_NESTING = 8  # as oci/archive.py's: a cycle of requires stops here


def placed_target(near, source_text, version, archived_tag=None):
    """The tagged reference a dependency resolved to ``source_text`` (its ``requires`` reference or
    what it resolved to) is placed at next to ``near`` (a Reference)."""
    source = parse_reference(source_text)
    placed = deps.placement(near, source)
    tag = source.tag or archived_tag or ("v%s" % version).replace("+", "_")  # OCI tags have no "+" (as Porter)
    try:
        return parse_reference("%s:%s" % (placed.name, tag))
    except InvalidReference:  # a version that makes no tag
        raise DependencyError("a dependency of version %s from %s cannot be placed next to %s: %s is not a tag."
                              % (version, source_text, near.name, tag)) from None


class _Carried:
    """What has been placed where (``{reference: (path, index digest)}``) and the result entries."""

    def __init__(self, root):
        self.placed = {str(root): ("the root", None)}
        self.entries = {}

    def claim(self, target, path, digest):
        """False when ``target`` already holds this bundle (the same dependency twice in the graph)."""
        known = self.placed.get(str(target))
        if known is None:
            self.placed[str(target)] = (path, digest)
            return True
        if known[1] == digest:
            return False
        raise DependencyError("dependency %s would be placed at %s, where %s is placed; the graph cannot be carried "
                              "into one namespace." % (path, target, known[0]))

    def add(self, path, source, result):
        self.entries[path] = dict(source=str(source), reference=result.reference, digest=result.index_digest,
                                  changed=result.changed, transfer=result.stats.as_dict())


def _nesting(path, depth):
    if depth > MAX_NESTING:
        raise DependencyError("dependency %s nests deeper than %d levels (is there a cycle?); it cannot be carried."
                              % (path, MAX_NESTING))


def from_registries(document, destination, registry_options=None, dest_registry_options=None, check_mode=False,
                    near=None):
    """Copy every dependency of ``document`` (a root's bundle.json), resolved as an install resolves
    them (next to ``near``, the root's source reference, first), to its placement next to
    ``destination``; ``{path: entry}`` (path: aliases joined by ``/``)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import copy_bundle, pull_bundle

    destination = parse_reference(destination)
    carried = _Carried(destination)

    def carry(parent, parent_target, parent_source, prefix, depth):
        for dependency in deps.declared(parent):
            path = prefix + dependency.alias
            _nesting(path, depth)
            source = deps.resolve_reference(dependency, registry_options, near=parent_source)
            pulled = pull_bundle(source, registry_options, verify_images=False)
            deps.check_version(dependency, Bundle(pulled.document), source)
            pinned = parse_reference(source).pinned(pulled.index_digest)
            target = placed_target(parent_target, source, pulled.document.get("version"))
            if carried.claim(target, path, pulled.index_digest):
                carried.add(path, source, copy_bundle(str(pinned), str(target), registry_options,
                                                      dest_registry_options, check_mode))
            carry(pulled.document, target, pinned, path + "/", depth + 1)

    carry(document, destination, parse_reference(near) if isinstance(near, str) else near, "", 1)
    return carried.entries


def from_archive(path, document, destination, registry_options=None, check_mode=False):
    """Publish every dependency the archive at ``path`` carries for ``document`` (its root's
    bundle.json) to its placement next to ``destination``; ``{path: entry}``. A dependency the
    archive does not carry is refused (an archive written with ``dependencies: false``)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive, publish_archive

    destination = parse_reference(destination)
    carried = _Carried(destination)

    def carry(parent, parent_target, prefix, depth):
        for dependency in deps.declared(parent):
            alias_path = prefix + dependency.alias
            _nesting(alias_path, depth)
            try:
                with ThickArchive(path, identify_only=True, dependency=alias_path) as archive:
                    child, digest, tag = archive.document, archive.index_digest, archive.index_name
            except ArchiveLacksDependency:
                raise DependencyError("dependency %s: the archive %s does not carry it (written with dependencies: "
                                      "false?), so it cannot be published with dependencies: true."
                                      % (alias_path, path)) from None
            if not isinstance(dependency.reference, str) or not dependency.reference:
                raise DependencyError("dependency %s names no bundle." % alias_path)
            target = placed_target(parent_target, dependency.reference, child.get("version"),
                                   tag if isinstance(tag, str) and _is_tag(tag) else None)
            if carried.claim(target, alias_path, digest):
                carried.add(alias_path, "%s (dependency %s)" % (path, alias_path),
                            publish_archive(path, str(target), registry_options, check_mode, dependency=alias_path))
            carry(child, target, alias_path + "/", depth + 1)

    carry(document, destination, "", 1)
    return carried.entries


def _is_tag(text):
    try:
        return bool(parse_reference("example.invalid/x:%s" % text).tag)
    except InvalidReference:
        return False
