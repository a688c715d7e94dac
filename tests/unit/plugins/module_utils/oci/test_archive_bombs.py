"""Gzip bombs are refused in bounded memory, through the modules that read archives.

Each archive is built at test time (tests/unit/archive_bombs.py): 6 GiB GNU long name, PAX extended
and PAX global headers in a ~6 MB archive, and a member of 1 GiB of zeros that a reader must skip
(today's reader expanded 1 MiB of gzip into ~1 GiB per read; 1 GiB is enough to show it, the 12 GiB
of the issue only costs time). ``cnab_install`` and ``cnab_bundle`` (publish) run in a child process
capped at 3 GiB of address space; its peak RSS (VmHWM, read from /proc by the child at exit) must
stay under 500 MB, and the module must fail with one sentence. An RSS bound, not a timing.
"""

import pytest
from archive_bombs import run_module, write_bomb

PEAK_RSS_LIMIT = 500 * 1000 * 1000
SIZES = {"longname": 6 << 30, "pax": 6 << 30, "global": 6 << 30, "zeros": 1 << 30}
REFUSALS = {"longname": "at most 1024 KiB", "pax": "at most 1024 KiB", "global": "at most 1024 KiB",
            "zeros": "no bundle.json"}


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bombs")
    built = {}
    for kind, size in SIZES.items():
        path = str(directory / ("%s.tgz" % kind))
        built[kind] = path, write_bomb(path, kind, size)
    return built


def _module_args(module, path, workdir):
    if module == "cnab_install":
        return {"installation": "bomb", "bundle": path, "claim_store": {"backend": "local", "path": str(workdir)}}
    # Nothing listens on port 9: a publish that reached the registry before the archive would say so.
    return {"src": path, "dest": "127.0.0.1:9/bombs/bomb:1"}


@pytest.mark.parametrize("module", ["cnab_install", "cnab_bundle"])
@pytest.mark.parametrize("kind", sorted(SIZES))
def test_a_gzip_bomb_is_refused_in_bounded_memory(bombs, tmp_path, module, kind):
    path, compressed = bombs[kind]
    assert compressed < 16 * 1000 * 1000, compressed  # a few MB on disk, GiBs once expanded
    result, peak, stderr = run_module(module, _module_args(module, path, tmp_path), str(tmp_path))
    assert peak is not None, stderr[-2000:]
    assert result is not None, stderr[-2000:]
    message = result.get("msg", "")
    assert result.get("failed") is True and REFUSALS[kind] in message, (message, stderr[-2000:])
    assert message.endswith(".") and "\n" not in message and "Traceback" not in stderr, message
    assert peak < PEAK_RSS_LIMIT, "peak RSS %.0f MB reading the %s bomb through %s" % (peak / 1e6, kind, module)
    print("%s %s: %.1f MB on disk, peak RSS %.0f MB" % (module, kind, compressed / 1e6, peak / 1e6))
