"""Tar headers that make Python's tarfile read without a bound are refused before it does.

tarfile reads a GNU long name or a PAX header whole, recurses once per chained extended header,
reads a GNU sparse map until it has as many numbers as the header claims (for ever at the end of
the data), keeps every member it has read, and copies the global PAX records into each of them. The
archive reader checks each header first (oci/archive._HeaderGuard) and counts members; each case
here is a small archive that is refused in one sentence (the gzip bombs are in test_archive_bombs).
"""

import gzip
import io
import tarfile

import pytest
import thick_archives

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive

DOCUMENT = {"schemaVersion": "v1.2.0", "name": "headers", "version": "1.0.0",
            "invocationImages": [{"image": "example.com/headers/run:1.0.0", "imageType": "docker"}]}


def _block(data):
    return data + b"\0" * (-len(data) % 512)


def _header(name, kind=tarfile.REGTYPE, size=0, pax=None, fmt=tarfile.PAX_FORMAT):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = kind, size, 0o644
    if pax:
        info.pax_headers = pax
    return info.tobuf(format=fmt)


def _archive(tmp_path, raw_members, compress=True):
    """The valid archive's members, then ``raw_members`` (bytes), then the end of the archive."""
    entries, _digest = thick_archives.members(DOCUMENT)
    # The valid tar without its end-of-archive blocks (its last member, a layer, ends in text).
    body = _block(thick_archives.tar_bytes(entries, compress=False).rstrip(b"\0"))
    raw = body + b"".join(raw_members) + b"\0" * 1024
    path = tmp_path / "headers.tgz"
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return str(path)


def _refused(path, fragment):
    with pytest.raises(ArchiveError, match=fragment) as refused:
        with archive.ThickArchive(path):
            pass
    message = str(refused.value)
    assert message.endswith(".") and "\n" not in message, message


def test_the_valid_archive_reads(tmp_path):
    with archive.ThickArchive(_archive(tmp_path, [])) as opened:
        assert opened.document == DOCUMENT


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "tar"])
def test_a_chain_of_extended_headers_is_refused(tmp_path, compress):
    # 3,000 PAX headers in front of one member: tarfile recursed once per header (RecursionError).
    chain = [_header("././@PaxHeader", tarfile.XHDTYPE, 512) + _block(b"12 comment=\n")] * 3000
    _refused(_archive(tmp_path, chain + [_header("late")], compress), "more than 4 extended headers")


def test_a_global_header_of_many_records_is_refused(tmp_path):
    buffer = io.BytesIO()
    records = {"k%04d" % i: "v" for i in range(100)}
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers=records) as tar:
        tar.addfile(tarfile.TarInfo("late"))
    _refused(_archive(tmp_path, [_block(buffer.getvalue().rstrip(b"\0"))]), "global PAX header of more than 64 records")


@pytest.mark.parametrize("numbers", [b"1\n" * (2 << 20), b""], ids=["endless map", "map cut short"])
def test_a_sparse_map_that_never_ends_is_refused(tmp_path, numbers):
    # GNU sparse 1.0: the map (in the member's data) claims 10^12 numbers; tarfile keeps reading them
    # (4 MiB of "1\n" here, GiBs in a bomb), past the member, and fails with a ValueError when they end.
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "sparse", "GNU.sparse.realsize": "1"}
    data = b"1000000000000\n" + numbers
    member = _header("GNUSparseFile.0/sparse", size=len(data), pax=pax) + _block(data)
    _refused(_archive(tmp_path, [member]), "sparse|cannot be read")


def test_an_old_gnu_sparse_member_is_refused(tmp_path):
    _refused(_archive(tmp_path, [_header("sparse", tarfile.GNUTYPE_SPARSE, fmt=tarfile.GNU_FORMAT)]), "sparse")


def test_too_many_members_are_refused(tmp_path):
    directories = [_header("artifacts/d%05d/" % i, tarfile.DIRTYPE) for i in range(archive.MAX_MEMBERS)]
    _refused(_archive(tmp_path, directories), "more than 16384 members")


def test_a_long_member_name_is_refused(tmp_path):
    _refused(_archive(tmp_path, [_header("artifacts/" + "n" * 2000)]), "longer than 1024 characters")
