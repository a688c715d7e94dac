"""Gzip-bomb thick archives, built at test time (never committed), and a child process that reads
one through a module and reports its peak RSS.

A bomb is a few MB of gzip that expands to GiBs: a first tar header announcing a GNU long name or
a PAX header of ``size`` bytes (tarfile reads such headers whole), or a member of ``size`` zero
bytes that a reader has to skip. Zeros compress about 1000:1; the deflate stream is made of one
compressed block of 64 MiB of zeros repeated (each ends with a full flush, so the copies are
byte-identical), so building a 12 GiB bomb costs a few MB of writing, not 12 GiB of compressing.
"""

import json
import os
import struct
import subprocess
import sys
import tarfile
import zlib

ZEROS = 64 * 1024 * 1024
KINDS = ("longname", "pax", "global", "zeros")
_HEADER_TYPES = {"longname": tarfile.GNUTYPE_LONGNAME, "pax": tarfile.XHDTYPE, "global": tarfile.XGLTYPE,
                 "zeros": tarfile.REGTYPE}


def _header(kind, size):
    info = tarfile.TarInfo("././@LongLink" if kind == "longname" else "padding")
    info.type = _HEADER_TYPES[kind]
    info.size = size
    info.mode = 0o644
    # GNU format writes sizes beyond 8 GiB in base-256, as GNU tar and Go do.
    return info.tobuf(format=tarfile.GNU_FORMAT)[-512:]


def write_bomb(path, kind, size):
    """Write a gzip-compressed tar whose first member header is a ``kind`` bomb of ``size`` bytes
    (``size`` a multiple of 64 MiB). Returns the file's size."""
    assert size % ZEROS == 0
    header = _header(kind, size)
    tail = b"\0" * 1024  # the end-of-archive blocks
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc = zlib.crc32(header)
    with open(path, "wb") as handle:
        handle.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # gzip header: deflate, no name, mtime 0
        handle.write(compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH))
        block = compressor.compress(b"\0" * ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
        handle.write(block)
        zero_crc = zlib.crc32(b"\0" * ZEROS)
        for _copy in range(size // ZEROS - 1):
            handle.write(block)
        # The CRC of the zeros is only needed by a reader that gets to the end (the zeros member).
        if kind == "zeros":
            chunk = b"\0" * ZEROS
            for _copy in range(size // ZEROS):
                crc = zlib.crc32(chunk, crc)
        else:
            crc = zero_crc
        crc = zlib.crc32(tail, crc)
        handle.write(compressor.compress(tail) + compressor.flush(zlib.Z_FINISH))
        handle.write(struct.pack("<II", crc & 0xFFFFFFFF, (len(header) + size + len(tail)) & 0xFFFFFFFF))
    return os.path.getsize(path)


_CHILD = r"""
import atexit, resource, runpy, sys
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # an unbounded reader fails here, not in the host

def report():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\nCNAB_PEAK_RSS_KIB=%s\n" % line.split()[1])

atexit.register(report)
sys.argv = [sys.argv[1], sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def collection_base():
    """The directory holding ``ansible_collections/cnab/runtime`` as the tests import it."""
    import ansible_collections.cnab.runtime as collection

    return os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))


def run_module(module, args, workdir, address_space=3 << 30, env=None):
    """Run ``plugins/modules/<module>.py`` with ``args`` in a child process whose address space is
    capped at ``address_space`` bytes; returns ``(result dict or None, peak RSS in bytes, stderr)``."""
    base = collection_base()
    path = os.path.join(base, "ansible_collections", "cnab", "runtime", "plugins", "modules", module + ".py")
    args_path = os.path.join(workdir, module + "-args.json")
    with open(args_path, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    child_env = dict(os.environ, PYTHONPATH=base + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    proc = subprocess.run([sys.executable, "-c", _CHILD, path, args_path, str(address_space)], cwd=workdir,
                          env=child_env, capture_output=True, text=True, timeout=600, check=False)
    peak = None
    for line in proc.stderr.splitlines():
        if line.startswith("CNAB_PEAK_RSS_KIB="):
            peak = int(line.split("=", 1)[1]) * 1024
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                continue
    return result, peak, proc.stderr
