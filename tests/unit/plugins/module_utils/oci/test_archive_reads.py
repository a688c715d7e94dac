"""How often a run reads its thick archive: a run that fails is masked by what it read, not by reading the
archive again (a hostile archive, such as a gzip bomb, costs seconds of CPU per read; docs/benchmarks.md).

``cnab_install`` reads the archive to identify it, and when the run fails before its inputs are resolved the
module masks the given parameters by the bundle's sensitivity (``runtime.sensitive_inputs``): that used to be a
second identifying read of the same, unchanged file. These tests count the archive's openings.
"""

import json
import os

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import runtime
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import archive
from ansible_collections.cnab.runtime.tests.unit import thick_archives
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import EXAMPLES, PASSWORD

GIVEN = {"admin_password": PASSWORD, "port": 8081}


@pytest.fixture
def openings(monkeypatch):
    """The paths ThickArchive opened, one per read of a file."""
    opened = []
    original = archive.ThickArchive._open

    def counting(self):
        opened.append(self.path)
        return original(self)

    monkeypatch.setattr(archive.ThickArchive, "_open", counting)
    return opened


def _showcase():
    return json.loads((EXAMPLES / "showcase" / "bundle.json").read_text())


def test_a_refused_archive_is_read_once_by_the_run_and_its_masking(h, tmp_path, openings):
    path = thick_archives.write(tmp_path / "no-bundle.tgz", [("padding", b"\0" * 65536)])
    request = h.request("install", bundle=path, parameters=GIVEN)
    with pytest.raises(ArchiveError, match="has no bundle.json at its root") as refused:
        runtime.execute(request)
    with pytest.raises(ArchiveError) as again:  # what the masking asks of the archive: the same refusal
        archive.identified_before(path)
    assert str(again.value) == str(refused.value)
    names, masker = runtime.sensitive_inputs(request)
    assert names is None  # unreadable: every given parameter is masked
    assert masker.mask("%s 8081" % PASSWORD) == "******** ********"
    assert openings == [path]


def test_a_run_that_fails_after_identifying_is_masked_by_the_bundle_it_read(h, tmp_path, openings):
    entries, _digest = thick_archives.members(_showcase())
    path = thick_archives.write(tmp_path / "trailing.tgz", entries + [thick_archives.unsafe_member("traversal")])
    request = h.request("install", bundle=path, parameters=GIVEN)
    with pytest.raises(ArchiveError, match="refused"):
        runtime.execute(request)
    assert openings == [path, path]  # identified from its first members, then read whole before it runs
    names, _masker = runtime.sensitive_inputs(request)
    assert names == ["admin_password"]
    assert openings == [path, path]


def test_a_changed_archive_is_read_again(h, tmp_path, openings):
    path = str(tmp_path / "changing.tgz")
    thick_archives.write(path, [("padding", b"\0" * 512)])
    request = h.request("install", bundle=path, parameters=GIVEN)
    with pytest.raises(ArchiveError):
        runtime.execute(request)
    entries, _digest = thick_archives.members(_showcase())
    thick_archives.write(path + ".new", entries)
    os.replace(path + ".new", path)  # another file now: read, not taken from the earlier refusal
    assert archive.identified_before(path) is None
    names, _masker = runtime.sensitive_inputs(request)
    assert names == ["admin_password"]
    assert openings == [path, path]


def test_only_identifying_reads_of_the_root_are_remembered(tmp_path):
    entries, _digest = thick_archives.members(_showcase())
    path = thick_archives.write(tmp_path / "whole.tgz", entries)
    with archive.ThickArchive(path):  # a full read: not what masking reads
        pass
    assert archive.identified_before(path) is None
    with archive.ThickArchive(path, identify_only=True) as identified:
        document = identified.document
    assert archive.identified_before(path) == document == _showcase()
    assert archive.identified_before(str(tmp_path / "elsewhere.tgz")) is None
