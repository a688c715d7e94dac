"""io.cnab.dependencies: order, naming, version ranges (the spec's syntax) and tag choice."""

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import dependencies as deps
from ansible_collections.cnab.runtime.plugins.module_utils.errors import DependencyError


def _doc(value):
    return {"name": "root", "version": "1.0.0", "custom": {"io.cnab.dependencies": value}}


def test_sequence_orders_when_it_lists_every_alias_else_requires_order():
    requires = {"b": {"bundle": "r/b"}, "a": {"bundle": "r/a"}, "c": {"bundle": "r/c"}}
    assert [d.alias for d in deps.declared(_doc({"sequence": ["c", "a", "b"], "requires": requires}))] == ["c", "a", "b"]
    assert [d.alias for d in deps.declared(_doc({"sequence": ["c"], "requires": requires}))] == ["b", "a", "c"]
    assert [d.alias for d in deps.declared(_doc({"requires": requires}))] == ["b", "a", "c"]


def test_no_value_or_null_means_no_dependencies():
    assert deps.declared(_doc(None)) == []
    assert deps.declared({"name": "x"}) == []


def test_installation_names_follow_porter():
    assert deps.installation_name("wp", "mysql") == "wp-mysql"


@pytest.mark.parametrize("ranges, version, expected", [
    (["1.2.x"], "1.2.9", True),
    (["1.2.x"], "1.3.0", False),
    (["1.5.x - 3"], "3.9.9", True),   # the spec: up to but not including the next major
    (["1.5.x - 3"], "4.0.0", False),
    (["1.5.x - 3"], "1.4.9", False),
    (["v1.2.x"], "v1.2.3", True),     # a leading v on either side
    ([">=1.0.0", "<2.0.0"], "1.9.0", True),  # every range must hold
    ([">=1.0.0", "<2.0.0"], "2.0.0", False),
    ([], "0.0.1", True),
    (["1.x"], "not-semver", False),
])
def test_ranges(ranges, version, expected):
    assert deps.satisfies(deps.Dependency("db", "r/db", ranges), version) is expected


def test_prereleases_only_when_allowed():
    assert not deps.satisfies(deps.Dependency("db", "r/db", ["1.x"]), "1.3.0-rc.1")
    assert deps.satisfies(deps.Dependency("db", "r/db", ["1.x"], prereleases=True), "1.3.0-rc.1")


def test_the_highest_satisfying_tag_wins():
    dependency = deps.Dependency("db", "r/db", ["1.x"])
    assert deps.best_tag(dependency, ["v1.0.0", "1.4.0", "2.0.0", "latest", "1.10.0", "1.11.0-rc.1"]) == "1.10.0"
    assert deps.best_tag(dependency, ["2.0.0", "latest"]) is None


def test_a_malformed_range_is_one_sentence():
    with pytest.raises(DependencyError, match=r'^dependency db has the version range "=>>1", which is not a SemVer'):
        deps.satisfies(deps.Dependency("db", "r/db", ["=>>1"]), "1.0.0")


def test_a_bundle_outside_the_ranges_is_refused_naming_alias_and_ranges():
    class B:
        name, version = "mysql", "2.0.0"

    with pytest.raises(DependencyError, match=r'^dependency db: bundle mysql from x has version 2.0.0, which does not'
                                              r' satisfy "1.x"\.$'):
        deps.check_version(deps.Dependency("db", "r/db", ["1.x"]), B(), "x")


def test_dependency_options_must_name_declared_aliases():
    from ansible_collections.cnab.runtime.plugins.module_utils import runtime

    graph = [deps.Dependency("mysql", "r/mysql")]
    request = runtime.Request("install", installation="site", dependencies={"redis": {}})
    with pytest.raises(DependencyError, match=r'^the dependencies option names "redis", which is not a dependency of'
                                              r' installation site \(its dependencies: mysql\)\.$'):
        runtime._dependency_options(request, graph)
    request.dependencies = {"mysql": {"params": {}}}
    with pytest.raises(DependencyError, match=r'keys among parameters, credentials, bundle\.$'):
        runtime._dependency_options(request, graph)
    request.dependencies = {"mysql": {"parameters": {"size": "large"}}}
    assert runtime._dependency_options(request, graph) == {"mysql": {"parameters": {"size": "large"}}}
