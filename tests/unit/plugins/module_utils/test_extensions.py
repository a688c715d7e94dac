"""extensions.py: the extension readers the decision path uses, one rule each, shared with validation."""

from ansible_collections.cnab.runtime.plugins.module_utils import bundle_validation, extensions, values


def test_the_readers_are_one_rule_whoever_names_them():
    assert values.is_file_parameter is extensions.is_file_parameter
    assert bundle_validation.is_file_parameter is extensions.is_file_parameter
    assert bundle_validation.docker_settings is extensions.docker_settings
    assert bundle_validation.ParameterSource is extensions.ParameterSource


def test_null_is_no_value_but_for_io_cnab_docker():
    doc = {"custom": {extensions.DOCKER: None, extensions.PARAMETER_SOURCES: None, extensions.DEPENDENCIES: None}}
    assert extensions.extension_value(doc, extensions.DOCKER) == {}
    assert extensions.extension_value(doc, extensions.PARAMETER_SOURCES) is extensions.ABSENT
    assert extensions.extension_value(doc, extensions.DEPENDENCIES) is extensions.ABSENT
    assert extensions.extension_value({"custom": []}, extensions.DOCKER) is extensions.ABSENT


def test_unchecked_parameter_sources_read_what_the_checked_reader_returns():
    doc = {"parameters": {"state": {"definition": "s"}},
           "custom": {extensions.PARAMETER_SOURCES: {
               "state": {"priority": ["output"], "sources": {"output": {"name": "state"}}},
               "undeclared": {"sources": {"output": {"name": "x"}}}}}}
    expected = {"state": (extensions.ParameterSource("output", "state"),)}
    assert extensions.parameter_sources(doc) == expected
    assert bundle_validation.parameter_sources(doc) == expected
