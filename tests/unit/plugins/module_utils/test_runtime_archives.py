"""An archive that is going to run has every member checked, also when its identity was recorded.

Issue 16 item 9: a forced install or upgrade whose archive's index digest the claim already recorded
took the identify-only fast path (bundle.json, relocation mapping and bundle index, then stop), so
unsafe members after the bundle index were accepted, although a fresh install refuses them.
"""

import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ArchiveError
from ansible_collections.cnab.runtime.tests.unit import thick_archives
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import EXAMPLES


@pytest.fixture
def archive(tmp_path):
    document = json.loads((EXAMPLES / "showcase" / "bundle.json").read_text())
    entries, _index_digest = thick_archives.members(document)
    return str(tmp_path / "showcase.tgz"), entries


@pytest.mark.parametrize("unsafe", ["traversal", "symlink", "device"])
def test_a_fresh_install_refuses_unsafe_trailing_members(h, archive, unsafe):
    path, entries = archive
    thick_archives.write(path, entries + [thick_archives.unsafe_member(unsafe)])
    with pytest.raises(ArchiveError, match="refused"):
        h.install(bundle=path)
    assert h.driver.runs == [] and h.history() == []


@pytest.mark.parametrize("intent", ["install", "upgrade"])
@pytest.mark.parametrize("unsafe", ["traversal", "symlink", "device"])
def test_a_forced_run_of_a_recorded_archive_refuses_unsafe_trailing_members(h, archive, intent, unsafe):
    path, entries = archive
    thick_archives.write(path, entries)
    assert h.install(bundle=path).changed
    assert h.install(bundle=path).changed is False  # identified as the recorded archive: a no-op, still cheap
    # The same bundle index, so the same identity; the members after it are not the same.
    thick_archives.write(path, entries + [thick_archives.unsafe_member(unsafe)])
    with pytest.raises(ArchiveError, match="refused"):
        h.install(intent=intent, bundle=path, force=True)
    assert len(h.driver.runs) == 1 and h.history() == [("install", ["running", "succeeded"])]


def test_a_forced_run_of_a_clean_recorded_archive_runs(h, archive):
    path, entries = archive
    thick_archives.write(path, entries)
    h.install(bundle=path)
    assert h.install(intent="upgrade", bundle=path, force=True).changed
    assert [action for action, _statuses in h.history()] == ["install", "upgrade"]
