"""A run reads an installation's history from the claim store once before its lock (to decide) and
once under it (to see what another run recorded meanwhile), and never more: counted by a wrapper
store around the harness's LocalStore. Also: the installation name is checked once and then carried
as ``identifiers.InstallationName``, down to the store and into a dependency's name."""

import collections
import contextlib
import json
import pathlib

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import dependencies as deps
from ansible_collections.cnab.runtime.plugins.module_utils import identifiers, runtime
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ActionError
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME

BEFORE, UNDER = "before the lock", "under the lock"


class CountingStore:
    """Delegates to ``inner``; counts ``installation()`` reads per (name, before/under its lock) and
    records the type of every name the store is handed."""

    def __init__(self, inner):
        self.inner = inner
        self.reads = collections.Counter()
        self.name_types = set()
        self._locked = set()

    def installation(self, name):
        self.name_types.add(type(name))
        self.reads[(name, UNDER if name in self._locked else BEFORE)] += 1
        return self.inner.installation(name)

    @contextlib.contextmanager
    def lock(self, name, timeout):
        self.name_types.add(type(name))
        with self.inner.lock(name, timeout):
            self._locked.add(name)
            try:
                yield
            finally:
                self._locked.discard(name)

    def write_result(self, installation, result, outputs, sensitive_outputs):
        self.name_types.add(type(installation))
        return self.inner.write_result(installation, result, outputs, sensitive_outputs)

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

    def take(self):
        """The reads counted since the last call, as {(name, when): count}."""
        reads, self.reads = dict(self.reads), collections.Counter()
        return reads


@pytest.fixture
def counting(h, monkeypatch):
    store = CountingStore(h.store)
    monkeypatch.setattr(runtime, "open_store", lambda options: store)
    return store


def _once_before(*names):
    return {(name, BEFORE): 1 for name in names}


def _once_before_and_under(*names):
    reads = _once_before(*names)
    reads.update({(name, UNDER): 1 for name in names})
    return reads


def test_install_reads_once_before_and_once_under_the_lock_then_once_per_no_op(h, driver, counting):
    assert h.install(check_mode=True).changed
    assert counting.take() == _once_before(NAME)
    assert h.install().changed
    assert counting.take() == _once_before_and_under(NAME)
    assert not h.install().changed
    assert counting.take() == _once_before(NAME)
    assert not h.install(check_mode=True).changed
    assert counting.take() == _once_before(NAME)
    assert driver.runs and len(driver.runs) == 1


def test_upgrade_and_uninstall_read_once_before_and_once_under_the_lock(h, driver, counting):
    h.install()
    counting.take()
    assert h.install("present", parameters={"port": 9090}).operation == "upgrade"
    assert counting.take() == _once_before_and_under(NAME)
    assert h.execute("absent").operation == "uninstall"
    assert counting.take() == _once_before_and_under(NAME)


def test_settling_a_run_that_died_reads_no_more(h, driver, counting):
    from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle

    bundle = load_bundle(h.bundles["showcase"])
    claim = model.new_claim(NAME, "install", bundle, {"port": 8080}, model.new_ulid(),
                            {"bundleDigest": bundle.digest, "modifies": True})
    h.store.write_claim(NAME, claim, {})
    h.store.write_result(NAME, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    assert not h.install().failed
    assert counting.take() == _once_before_and_under(NAME)
    assert h.history() == [("install", ["running", "unknown"]), ("install", ["running", "succeeded"])]


def _root_with_a_dependency(h):
    document = json.loads(pathlib.Path(h.bundles["showcase"]).read_text())
    document["custom"] = {"io.cnab.dependencies": {"requires": {"greeter": {"bundle": "localhost:5100/hello:0.1.0"}}}}
    return h.write_bundle("root", document)


def test_a_graph_reads_each_installation_once_before_and_once_under_its_lock(h, driver, counting):
    _root_with_a_dependency(h)
    child = NAME + "-greeter"
    options = {"greeter": {"bundle": h.bundles["hello"]}}
    response = h.install(bundle="root", dependencies=options, check_mode=True)
    assert [entry["installation"] for entry in response.plan] == [child, NAME]
    assert counting.take() == _once_before(NAME, child)
    assert h.install(bundle="root", dependencies=options).changed
    assert counting.take() == _once_before_and_under(NAME, child)
    assert not h.install(bundle="root", dependencies=options).changed
    assert counting.take() == _once_before(NAME, child)
    assert h.execute("absent", bundle=None).operation == "uninstall"
    assert counting.take() == _once_before_and_under(NAME, child)
    assert [c["action"] for c in h.installation(child).claims] == ["install", "uninstall"]


def test_the_name_is_carried_checked_down_to_the_store(h, driver, counting):
    _root_with_a_dependency(h)
    h.install(bundle="root", dependencies={"greeter": {"bundle": h.bundles["hello"]}})
    assert counting.name_types == {identifiers.InstallationName}
    claims = h.installation(NAME + "-greeter").claims
    assert model.runtime_custom(claims[0])["parentInstallation"] == NAME


def test_an_installation_name_is_made_only_by_its_check():
    name = identifiers.InstallationName("wp")
    assert isinstance(name, str) and name == "wp"
    assert identifiers.InstallationName(name) is name  # already checked: taken as it is
    assert identifiers.check_installation_name(name) is name
    dependency = deps.installation_name(name, "mysql")
    assert isinstance(dependency, identifiers.InstallationName) and dependency == "wp-mysql"
    derived = (name + "-x", name[:1], name.upper(), "%s" % name)
    assert not any(isinstance(text, identifiers.InstallationName) for text in derived)  # not checked names
    for bad in ("../x", "", None, "a/b", "x" * 254):
        with pytest.raises(ActionError, match="is invalid"):
            identifiers.InstallationName(bad)
    with pytest.raises(ActionError, match="is invalid"):
        deps.installation_name(identifiers.InstallationName("x" * 250), "mysql")
