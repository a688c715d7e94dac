"""io.cnab.dependencies (CNAB 500, v1): the bundles a bundle needs, their order and their versions.

Pure parsing and resolution; running the graph is execution.py's (``execute_graph``).

- **Order**: ``sequence`` when it lists every alias, else the order of ``requires`` (as Porter).
- **Naming**: the dependency ``alias`` of installation ``root`` is the installation ``root-alias``
  (Porter's convention), in the same claim store: ``installation_name`` makes it an
  ``identifiers.InstallationName`` (checked once there, carried as a checked name from then on).
- **Versions**: a reference with a tag or a digest is used as it is; a tag-less one is resolved by
  listing the repository's tags (the registry's tags API) and taking the highest SemVer tag that
  satisfies every range. Either way the bundle's own ``version`` must satisfy every range.

Ranges are read by ``semantic_version.NpmSpec`` (npm's range grammar): SemVer with or without a
leading ``v``, ``x``/``X``/``*`` wildcards, ``A - B`` hyphen ranges, ``^``/``~``, comparators and
``||``. What it does not cover of the spec's prose: a fully given upper bound of a hyphen range is
inclusive (npm: ``1.2.3 - 2.3.4`` is ``<=2.3.4``; a partial one, ``1.5.x - 3``, is ``<4.0.0`` as the
spec says), and with ``prereleases: true`` a pre-release version is matched as its release
(``1.3.0-rc.1`` as ``1.3.0``), since npm admits pre-releases only of versions a range names.
``org.getporter.dependencies@v2`` is not supported (bundle validation refuses it when required).
"""

from ansible_collections.cnab.runtime.plugins.module_utils.errors import DependencyError
from ansible_collections.cnab.runtime.plugins.module_utils.extensions import DEPENDENCIES
from ansible_collections.cnab.runtime.plugins.module_utils.identifiers import InstallationName

EXTENSION = DEPENDENCIES
PARENT = "parentInstallation"  # claim custom["cnab.runtime"] keys of a dependency's claims
ALIAS = "dependencyAlias"


class Dependency:
    """One ``requires`` entry: ``alias``, the bundle ``reference`` text, ``ranges`` and ``prereleases``."""

    __slots__ = ("alias", "reference", "ranges", "prereleases")

    def __init__(self, alias, reference, ranges=(), prereleases=False):
        self.alias = alias
        self.reference = reference
        self.ranges = tuple(ranges)
        self.prereleases = prereleases

    def __repr__(self):
        return "Dependency(%r, %r, %r, %r)" % (self.alias, self.reference, self.ranges, self.prereleases)

    def describe_ranges(self):
        return " and ".join('"%s"' % r for r in self.ranges) if self.ranges else "any version"


def declared(bundle):
    """The dependencies of ``bundle`` (a Bundle or its document) in run order; [] when it has none.
    Porter's ``"io.cnab.dependencies": null`` means none."""
    document = bundle.document if hasattr(bundle, "document") else bundle
    custom = document.get("custom") if isinstance(document, dict) else None
    value = custom.get(EXTENSION) if isinstance(custom, dict) else None
    if not isinstance(value, dict) or not isinstance(value.get("requires"), dict):
        return []
    requires = value["requires"]
    sequence = value.get("sequence") if isinstance(value.get("sequence"), list) else []
    order = sequence if sorted(sequence) == sorted(requires) else list(requires)
    found = []
    for alias in order:
        entry = requires[alias] if isinstance(requires[alias], dict) else {}
        version = entry.get("version") if isinstance(entry.get("version"), dict) else {}
        found.append(Dependency(alias, entry.get("bundle"), version.get("ranges") or (),
                                version.get("prereleases") is True))
    return found


def installation_name(root, alias):
    """The ``InstallationName`` of dependency ``alias`` of installation ``root``: refused as bad input
    when the two together break the rule (too long, say). A valid whole has a valid ``root``."""
    return InstallationName("%s-%s" % (root, alias))


def _version(text):
    """A SemVer version from a tag or a bundle version (a leading ``v`` allowed), or None."""
    import semantic_version

    if not isinstance(text, str):
        return None
    try:
        return semantic_version.Version(text[1:] if text[:1] in ("v", "V") else text)
    except ValueError:
        return None


def _specs(dependency):
    import semantic_version

    specs = []
    for text in dependency.ranges:
        try:
            specs.append(semantic_version.NpmSpec(text.strip()))
        except ValueError:
            raise DependencyError('dependency %s has the version range "%s", which is not a SemVer range.'
                                  % (dependency.alias, text)) from None
    return specs


def satisfies(dependency, version_text):
    """True when ``version_text`` is SemVer and satisfies every range of ``dependency``."""
    version = _version(version_text)
    if version is None:
        return False
    if version.prerelease:
        if not dependency.prereleases:
            return False
        version = version.truncate("patch")  # matched as its release, see the module's doc
    return all(spec.match(version) for spec in _specs(dependency))


def best_tag(dependency, tags):
    """The tag of the highest version satisfying every range, or None."""
    matching = [(_version(tag), tag) for tag in tags if satisfies(dependency, tag)]
    return max(matching)[1] if matching else None


def placement(near, reference):
    """Where ``cnab_bundle`` with ``dependencies: true`` places the bundle repository ``reference``
    (a Reference) of a dependency of the bundle at ``near`` (a Reference): the registry of ``near``,
    the repository of ``near`` with its last component replaced by the last component of
    ``reference``'s (``reg2/site/wordpress`` + ``reg1/lib/mysql`` -> ``reg2/site/mysql``); no tag."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import Reference

    namespace = near.repository.rsplit("/", 1)[0] + "/" if "/" in near.repository else ""
    return Reference(near.registry, namespace + reference.repository.rsplit("/", 1)[-1])


def _resolve_placed(dependency, reference, near, registry_options):
    """The dependency at its placement next to ``near`` (the root's registry reference), when that
    repository holds it; None otherwise (the ``requires`` reference is used, as before)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryError
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import Reference, parse_reference

    placed = placement(parse_reference(near) if isinstance(near, str) else near, reference)
    if placed.name == reference.name:
        return None
    client = RegistryClient(registry_options, placed.registry)
    try:
        if reference.tag or reference.digest:
            if client.head_manifest(placed.repository, reference.ref) is None:
                return None
            return str(Reference(placed.registry, placed.repository, reference.tag, reference.digest))
        tag = best_tag(dependency, client.list_tags(placed.repository))
    except RegistryError:
        return None  # the placement cannot be asked: the requires reference, as without a placement
    return str(Reference(placed.registry, placed.repository, tag=tag)) if tag else None


def resolve_reference(dependency, registry_options=None, near=None):
    """The reference to install ``dependency`` from: as given when it has a tag or a digest, else
    the repository's best tag (one tags listing). With ``near`` (the registry reference of the
    bundle that requires it), its placement next to ``near`` (``placement``) is looked at first,
    so a graph pushed or copied with ``cnab_bundle`` ``dependencies: true`` installs from there."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import Reference, parse_reference

    if not isinstance(dependency.reference, str) or not dependency.reference:
        raise DependencyError("dependency %s names no bundle." % dependency.alias)
    reference = parse_reference(dependency.reference)
    if near is not None:
        if not (reference.tag or reference.digest):
            _specs(dependency)  # a malformed range fails before any registry request
        placed = _resolve_placed(dependency, reference, near, registry_options)
        if placed is not None:
            return placed
    if reference.tag or reference.digest:
        return dependency.reference
    _specs(dependency)  # a malformed range fails before any registry request
    tags = RegistryClient(registry_options, reference.registry).list_tags(reference.repository)
    tag = best_tag(dependency, tags)
    if tag is None:
        raise DependencyError("dependency %s: no tag of %s satisfies %s%s." % (
            dependency.alias, reference.name, dependency.describe_ranges(),
            "" if dependency.prereleases else " (pre-releases excluded)"))
    return str(Reference(reference.registry, reference.repository, tag=tag))


def check_version(dependency, bundle, where):
    """Refuse a dependency bundle whose version does not satisfy the ranges."""
    if dependency.ranges and not satisfies(dependency, bundle.version):
        raise DependencyError("dependency %s: bundle %s from %s has version %s, which does not satisfy %s." % (
            dependency.alias, bundle.name, where, bundle.version, dependency.describe_ranges()))


def claim_custom(parent, alias):
    """What a dependency's claims record of the installation they belong to."""
    return {PARENT: parent, ALIAS: alias}


def describe_dependencies(store, root):
    """The dependencies of installation ``root`` (an ``InstallationName``; from its latest modifying
    claim's bundle), each with its installation name, status and bundle version: cnab_claim_info's view."""
    installation = store.installation(root)
    claim = installation.last_successful_modifying or installation.last_modifying if installation.exists else None
    found = []
    for dependency in declared(claim["bundle"]) if claim else ():
        name = installation_name(root, dependency.alias)
        child = store.installation(name)
        current = child.last_successful_modifying or child.last_modifying if child.exists else None
        found.append({"alias": dependency.alias, "installation": name, "exists": child.exists,
                      "status": child.status if child.exists else "unknown",
                      "bundle_version": current["bundle"].get("version") if current else None})
    return found
