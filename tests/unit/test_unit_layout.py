"""tests/unit mirrors plugins/: each test file under tests/unit/plugins is named after the source file it
tests, in the same directory (``test_<module>.py``, or ``test_<module>_<theme>.py`` where one module's tests
are split by theme), so the tests of a file are found where the file is."""

import pathlib

UNIT = pathlib.Path(__file__).resolve().parent
REPO = UNIT.parents[1]


def _source_for(test_file):
    """The source file a test file is named after, or None."""
    relative = test_file.parent.relative_to(UNIT)
    words = test_file.stem[len("test_"):].split("_")
    for end in range(len(words), 0, -1):
        candidate = REPO / relative / ("_".join(words[:end]) + ".py")
        if candidate.is_file():
            return candidate
    return None


def test_every_unit_test_file_is_named_after_a_source_file_beside_it():
    test_files = sorted(UNIT.joinpath("plugins").rglob("test_*.py")) + sorted(UNIT.joinpath("scripts").rglob("test_*.py"))
    assert len(test_files) > 20
    orphans = [str(f.relative_to(UNIT)) for f in test_files if _source_for(f) is None]
    assert orphans == []


def test_no_unit_test_file_sits_outside_the_mirrored_tree():
    assert sorted(f.name for f in UNIT.glob("test_*.py")) == [pathlib.Path(__file__).name]
