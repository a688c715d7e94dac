"""store.wait_for_lock: the one lock-wait loop and LockTimeout sentence of every claim store."""

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import wait_for_lock
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout

HOLDER = {"host": "build-7", "pid": 4242, "since": "2026-01-02T03:04:05Z"}


def test_returns_what_the_winning_attempt_holds():
    attempts = iter([(None, HOLDER), (None, None), ("the lease", None)])
    assert wait_for_lock("app", 30, lambda: next(attempts), lambda name: None, 0.001, 0.002) == "the lease"


def test_the_timeout_names_the_holder_the_attempt_saw():
    asked = []
    with pytest.raises(LockTimeout) as caught:
        wait_for_lock("app", 0, lambda: (None, HOLDER), asked.append, 0.001, 0.002)
    assert str(caught.value) == ("installation app is locked by the run of pid 4242 on host build-7 (since "
                                 "2026-01-02T03:04:05Z); gave up after waiting 0 seconds (raise lock_timeout to wait "
                                 "longer).")
    assert asked == []


def test_the_timeout_asks_for_the_holder_when_the_attempt_saw_none():
    with pytest.raises(LockTimeout, match=r"^installation app is locked by the run of pid 4242 "):
        wait_for_lock("app", 0, lambda: (None, None), lambda name: HOLDER if name == "app" else None, 0.001, 0.002)


def test_a_holder_that_cannot_be_read_is_another_run():
    def unreadable(name):
        raise ClaimStoreError("the store went away.")

    with pytest.raises(LockTimeout, match=r"^installation app is locked by another run; gave up after waiting 0 "):
        wait_for_lock("app", 0, lambda: (None, None), unreadable, 0.001, 0.002)


def test_an_attempt_error_ends_the_wait():
    def failing():
        raise ClaimStoreError("cannot lock installation app: Permission denied.")

    with pytest.raises(ClaimStoreError, match="Permission denied"):
        wait_for_lock("app", 30, failing, lambda name: None, 0.001, 0.002)
