"""errors.require_library: one error type, and one sentence, for every missing Python package."""

import sys

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    ClaimStoreError,
    CnabError,
    DriverError,
    MissingLibrary,
    require_library,
)


def test_a_present_library_is_returned():
    assert require_library("json", "json", "reading JSON") is sys.modules["json"]


@pytest.mark.parametrize("kind", [CnabError, ClaimStoreError, DriverError])
def test_a_missing_library_is_a_missing_library_of_the_callers_kind(monkeypatch, kind):
    monkeypatch.setitem(sys.modules, "cnab_absent_sdk", None)  # as ansible-test's import sanity test does
    with pytest.raises(MissingLibrary) as caught:
        require_library("cnab_absent_sdk", "cnab-absent-sdk", "the test store", kind)
    assert isinstance(caught.value, kind)
    assert (caught.value.package, caught.value.needed_for) == ("cnab-absent-sdk", "the test store")
    assert str(caught.value) == ('the test store needs the Python package cnab-absent-sdk on the host that runs the '
                                 'module (pip install "cnab-absent-sdk").')
    assert isinstance(caught.value.__cause__, ImportError)
