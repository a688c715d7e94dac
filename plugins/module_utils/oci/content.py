"""Media types, digests and a reader that verifies content while it streams."""

import hashlib
import re

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import parse_json
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError, ContentDigestMismatch

CHUNK = 1024 * 1024

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_sha256_digest(value):
    return isinstance(value, str) and _DIGEST.match(value) is not None


def check_digest(digest):
    """``digest`` when it is a sha256 digest; other algorithms are refused."""
    if not is_sha256_digest(digest):
        raise ContentDigestMismatch("%r is not a sha256 digest (only sha256 is supported)." % (digest,))
    return digest


def media_type_of(raw, header=None):
    """The manifest's media type: its own ``mediaType`` field, else the transport's Content-Type."""
    try:
        declared = parse_json(raw, "A manifest", max_size=MAX_MANIFEST_SIZE).get("mediaType")
    except (BundleError, AttributeError):
        declared = None  # the readers of the manifest say what is wrong with it
    if isinstance(declared, str) and declared:
        return declared
    header = (header or "").split(";")[0].strip()
    return header or OCI_MANIFEST


class ChunkedReader:
    """``read(size)`` over a source of byte chunks without re-copying the unread rest on every call
    (tarfile reads in 10-16 KiB pieces; slicing a 1 MiB buffer each time would be quadratic)."""

    def __init__(self, next_chunk):
        self._next_chunk = next_chunk   # returns bytes, or b"" at the end
        self._chunk = b""
        self._offset = 0
        self._eof = False

    def read(self, size=-1):
        parts = []
        wanted = size if size is not None and size >= 0 else None
        while wanted is None or wanted > 0:
            if self._offset >= len(self._chunk):
                if self._eof:
                    break
                self._chunk, self._offset = self._next_chunk(), 0
                if not self._chunk:
                    self._eof = True
                    break
            end = len(self._chunk) if wanted is None else min(len(self._chunk), self._offset + wanted)
            piece = self._chunk[self._offset:end] if (self._offset or end < len(self._chunk)) else self._chunk
            parts.append(piece)
            if wanted is not None:
                wanted -= len(piece)
            self._offset = end
        return parts[0] if len(parts) == 1 else b"".join(parts)


class VerifyingReader:
    """A file-like reader over ``chunks`` (an iterator of bytes) that hashes what passes through
    and raises ContentDigestMismatch at the end when the content is not ``digest`` (and ``size``)."""

    def __init__(self, chunks, digest, size=None, what="blob", close=None):
        self._chunks = iter(chunks)
        self._digest = check_digest(digest)
        self._size = size
        self._what = what
        self._close = close
        self._hash = hashlib.sha256()
        self._seen = 0
        self._done = False
        self._reader = ChunkedReader(self._pull)

    def _pull(self):
        if self._done:
            return b""
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._finish()
            return b""
        self._hash.update(chunk)
        self._seen += len(chunk)
        if self._size is not None and self._seen > self._size:
            self._fail()
        return chunk

    def _fail(self):
        self._done = True
        self.close()
        raise ContentDigestMismatch(
            "The %s %s does not match its digest or size; it was altered or is corrupt, nothing was kept."
            % (self._what, self._digest))

    def _finish(self):
        if self._done:
            return
        self._done = True
        if "sha256:" + self._hash.hexdigest() != self._digest or (self._size is not None and self._seen != self._size):
            self._fail()

    def read(self, size=-1):
        return self._reader.read(size)

    def __iter__(self):
        while True:
            chunk = self._reader.read(CHUNK)
            if not chunk:
                return
            yield chunk

    def close(self):
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
