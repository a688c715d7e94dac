"""Parsing of image and bundle references (``host[:port]/repo[:tag][@sha256:...]``).

Follows the Docker reference grammar: the first path component is a registry when it contains a
dot or a colon or is ``localhost``; otherwise the reference names Docker Hub.
"""

import os
import re

from ansible_collections.cnab.runtime.plugins.module_utils.errors import InvalidReference

DOCKER_HUB = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(r"^%s(?:/%s)*$" % (_COMPONENT, _COMPONENT))
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                   r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


class Reference:
    """One parsed reference; immutable in use."""

    __slots__ = ("registry", "repository", "tag", "digest")

    def __init__(self, registry, repository, tag=None, digest=None):
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest

    def pinned(self, digest):
        """The same repository and tag, pinned to ``digest``."""
        return Reference(self.registry, self.repository, self.tag, digest)

    @property
    def ref(self):
        """What addresses the manifest in the registry API: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def name(self):
        """``host[:port]/repo`` without tag or digest."""
        return "%s/%s" % (self.registry, self.repository)

    def __str__(self):
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def __repr__(self):
        return "Reference(%r)" % str(self)

    def __eq__(self, other):
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


def _is_registry(component):
    return ("." in component or ":" in component or component == "localhost") and bool(_HOST.match(component))


def parse_reference(text):
    """``text`` as a Reference; raises ReferenceError when it is not a valid reference."""
    if not isinstance(text, str) or not text or text != text.strip():
        raise InvalidReference("%r is not a valid OCI reference (expected host[:port]/repository[:tag][@sha256:digest])." % (text,))
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.rsplit("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference("The digest in %r is not sha256: followed by 64 lowercase hex digits." % text)
    first, slash, remainder = rest.partition("/")
    if slash and _is_registry(first):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidReference("The tag in %r is not a valid tag." % text)
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if not _REPOSITORY.match(path) or len(path) > 255:
        raise InvalidReference("The repository name in %r must be lowercase letters, digits and separators." % text)
    return Reference(registry, path, tag, digest)


def looks_like_reference(text):
    """True for ``host[:port]/repo[:tag|@sha256:...]`` strings that are not local files.

    A registry host is required, so ``bundle.json`` or ``./dir`` never count."""
    if not isinstance(text, str) or not text or text.endswith((".tgz", ".json")) or os.path.exists(text):
        return False
    first, slash, rest = text.partition("/")
    if not slash or not rest or not _is_registry(first.split("@")[0]):
        return False
    try:
        parse_reference(text)
    except InvalidReference:
        return False
    return True
