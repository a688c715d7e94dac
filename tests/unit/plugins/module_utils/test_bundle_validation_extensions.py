"""schemaVersion forms, applyTo warnings, and the extension registry: each known extension's
schema, the tolerances real (Porter-written) bundles need, its refusals, and the public readers
(parameter_sources, is_file_parameter, docker_settings)."""

import copy
import json
import pathlib
import sys

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import bundle_validation as bv
from ansible_collections.cnab.runtime.plugins.module_utils import extension_schemas
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import (
    ParameterSource,
    bundle_warnings,
    docker_settings,
    is_file_parameter,
    parameter_sources,
    validate_bundle_document,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleValidationError,
    CnabError,
    UnsupportedExtensionError,
)
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED


# A Porter-shaped bundle: porter-state wired by a parameter source, a file parameter, an output.
BASE = {
    "schemaVersion": "1.2.0",
    "name": "porterish",
    "version": "0.1.0",
    "invocationImages": [{"image": "example/porterish:0.1.0", "imageType": "docker"}],
    "actions": {"status": {"modifies": False}},
    "definitions": {
        "porter-state": {"$comment": "porter-internal", "type": "string", "contentEncoding": "base64"},
        "file": {"type": "string", "contentEncoding": "base64"},
        "string": {"type": "string"},
    },
    "parameters": {
        "porter-state": {"definition": "porter-state", "destination": {"path": "/porter/state.tgz"}},
        "kubeconfig": {"definition": "file", "destination": {"path": "/home/nonroot/.kube/config"}},
        "encoded": {"definition": "file", "destination": {"env": "ENCODED"}},
        "name": {"definition": "string", "destination": {"env": "NAME"}},
        "connstr": {"definition": "string", "destination": {"env": "CONNSTR"}},
    },
    "outputs": {
        "porter-state": {"definition": "porter-state", "path": "/cnab/app/outputs/porter-state"},
        "msg": {"definition": "string", "path": "/cnab/app/outputs/msg"},
    },
    "custom": {},
}


def _with(required=(), **custom):
    doc = copy.deepcopy(BASE)
    doc["custom"].update({key.replace("__", "."): value for key, value in custom.items()})
    if required:
        doc["requiredExtensions"] = list(required)
    return doc


def _doc(required, custom):
    doc = copy.deepcopy(BASE)
    doc["custom"].update(custom)
    doc["requiredExtensions"] = list(required)
    return doc


@pytest.fixture
def all_supported(monkeypatch):
    monkeypatch.setattr(bv, "SUPPORTED_EXTENSIONS", frozenset(bv.KNOWN_EXTENSIONS))


def _refused(doc, error=BundleValidationError):
    with pytest.raises(error) as info:
        validate_bundle_document(doc)
    message = str(info.value)
    assert "\n" not in message and message.endswith("."), message
    return message


# --- schemaVersion ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.2.0", "1.2.0", "v1.0.0", "1.0.0", "v1.1.0", "1.0.1", "v1.0.0-WD", "1.0.0-WD",
                                     "v1.0.0-CR", "1.2.0-CR", "v1", "1", "v1.2", "1.2", "1.2.0+build.7"])
def test_every_cnab_1_schema_version_form_is_accepted(version):
    validate_bundle_document(dict(copy.deepcopy(BASE), schemaVersion=version))


@pytest.mark.parametrize("version", ["v99.98", "99.99", "2.0.0", "v2", "v10.0.0", "10.0", "0.9.0", "1.2.3.4", "",
                                     "v", "1.x", "cnab-core-1.2.0", "v1.2.0\n", "V1.2.0"])
def test_schema_versions_that_are_not_cnab_1_are_refused_in_one_sentence(version):
    message = _refused(dict(copy.deepcopy(BASE), schemaVersion=version))
    assert message == (f"bundle.json is invalid at schemaVersion: {json.dumps(version)} is not a CNAB 1.x schema"
                       " version such as v1.2.0 or 1.2.0.")


# --- applyTo -----------------------------------------------------------------------


def test_apply_to_may_name_an_action_the_bundle_does_not_declare_and_is_reported_as_a_warning():
    doc = copy.deepcopy(BASE)
    doc["parameters"]["name"]["applyTo"] = ["install", "non-applicable-action"]
    doc["outputs"]["msg"]["applyTo"] = ["status", "deploy", "scale"]
    validate_bundle_document(doc)
    assert bundle_warnings(doc) == [
        'parameter "name" of bundle "porterish" applies to "non-applicable-action", which the bundle does not'
        " declare as an action",
        'output "msg" of bundle "porterish" applies to "deploy" and "scale", which the bundle does not declare as'
        " an action",
    ]
    assert Bundle(doc).warnings() == bundle_warnings(doc)


def test_apply_to_naming_declared_and_built_in_actions_gives_no_warning():
    doc = copy.deepcopy(BASE)
    doc["parameters"]["name"]["applyTo"] = ["install", "upgrade", "uninstall", "status"]
    assert bundle_warnings(doc) == []


@pytest.mark.parametrize("doc", [None, [], {"parameters": "x"}, {"parameters": {"p": {"applyTo": "install"}}},
                                 {"actions": [], "outputs": {"o": {"applyTo": [1, "x"]}}}], ids=repr)
def test_bundle_warnings_never_fail_on_a_malformed_document(doc):
    warnings = bundle_warnings(doc)
    assert warnings == ([] if not (isinstance(doc, dict) and "actions" in doc) else [
        'output "o" of bundle null applies to "x", which the bundle does not declare as an action'])


def test_the_runtime_returns_the_apply_to_warning_with_the_result(h):
    document = json.loads(pathlib.Path(h.bundles["showcase"]).read_text())
    document["parameters"]["port"]["applyTo"] = ["install", "non-applicable-action"]
    h.write_bundle("loose-apply-to", document)
    response = h.install(bundle="loose-apply-to")
    assert response.operation == "install"
    assert ('parameter "port" of bundle "%s" applies to "non-applicable-action", which the bundle does not declare'
            " as an action" % document["name"]) in response.warnings


# --- required extensions -----------------------------------------------------------------


def test_unknown_required_extension_keeps_its_one_sentence_refusal():
    message = _refused(_with(["donuts"]), UnsupportedExtensionError)
    assert message == 'bundle "porterish" requires the extension "donuts", which cnab.runtime does not support.'


def test_the_refusal_names_every_unsupported_extension_once_in_one_sentence(monkeypatch):
    monkeypatch.setattr(bv, "SUPPORTED_EXTENSIONS", frozenset({bv.FILE_PARAMETERS}))
    doc = _with([bv.FILE_PARAMETERS, "donuts", bv.DEPENDENCIES, "donuts", bv.DOCKER])
    message = _refused(doc, UnsupportedExtensionError)
    assert message == ('bundle "porterish" requires the extensions "donuts", "io.cnab.dependencies" and'
                       ' "io.cnab.docker", which cnab.runtime does not support.')


def test_supported_extensions_list_nothing_the_runtime_does_not_know():
    assert bv.SUPPORTED_EXTENSIONS <= set(bv.KNOWN_EXTENSIONS)
    # v1 dependencies run (runtime._execute_graph); Porter's v2 stays refused.
    assert set(bv.DEPENDENCY_EXTENSIONS) & bv.SUPPORTED_EXTENSIONS == {bv.DEPENDENCIES}


@pytest.mark.parametrize("name", [bv.PARAMETER_SOURCES, bv.DOCKER, bv.DEPENDENCIES, bv.DEPENDENCIES_V2])
def test_a_required_extension_without_configuration_is_refused(name, all_supported):
    message = _refused(_with([name]))
    assert message == (f'bundle "porterish" requires the extension "{name}", but its custom section holds no'
                       " configuration for it.")


@pytest.mark.parametrize("name", [bv.PARAMETER_SOURCES, bv.DEPENDENCIES, bv.DEPENDENCIES_V2])
def test_null_is_no_configuration_for_a_required_extension_that_needs_one(name, all_supported):
    assert "holds no configuration" in _refused(_doc([name], {name: None}))


def test_known_extensions_the_runtime_neither_needs_nor_supports_are_not_read():
    # Porter's explain fixtures carry "io.cnab.dependencies": null (no dependencies); the value of an
    # extension neither required nor supported is ignored.
    validate_bundle_document(_doc([], {bv.DEPENDENCIES: None, bv.DEPENDENCIES_V2: "junk"}))


def test_a_dependencies_value_present_but_not_required_is_validated_as_the_runtime_reads_it():
    assert 'custom["io.cnab.dependencies"]' in _refused(_doc([], {bv.DEPENDENCIES: [1, 2]}))


def test_a_supported_extension_present_but_not_required_is_still_validated(all_supported):
    assert 'custom["io.cnab.docker"]' in _refused(_doc([], {bv.DOCKER: {"privileged": "yes"}}))


# --- sh.porter.file-parameters ----------------------------------------------------------


@pytest.mark.parametrize("custom", [{bv.FILE_PARAMETERS: {}}, {}, {bv.FILE_PARAMETERS: None}], ids=repr)
def test_file_parameters_needs_no_value(custom, all_supported):
    validate_bundle_document(_doc([bv.FILE_PARAMETERS], custom))


@pytest.mark.parametrize("value", ["yes", [], 1, True])
def test_file_parameters_value_must_be_an_object(value, all_supported):
    message = _refused(_doc([bv.FILE_PARAMETERS], {bv.FILE_PARAMETERS: value}))
    assert message == 'bundle.json is invalid at custom["sh.porter.file-parameters"]: it must be an object.'


def test_file_parameters_are_base64_strings_with_a_path_in_bundles_that_support_them():
    required = _doc([bv.FILE_PARAMETERS], {bv.FILE_PARAMETERS: {}})
    assert is_file_parameter(required, "kubeconfig") and is_file_parameter(Bundle(required), "porter-state")
    assert not is_file_parameter(required, "encoded")  # an env destination: a plain base64 string
    assert not is_file_parameter(required, "name")  # no contentEncoding
    assert not is_file_parameter(required, "missing")
    # Not required and not built by Porter: a base64 string like any other.
    assert not is_file_parameter(copy.deepcopy(BASE), "kubeconfig")
    # Built by Porter (custom "sh.porter"): Porter always treated these as files.
    assert is_file_parameter(_doc([], {"sh.porter": {"manifestDigest": "x"}}), "kubeconfig")


# --- io.cnab.parameter-sources ------------------------------------------------------------

STATE = {"priority": ["output"], "sources": {"output": {"name": "porter-state"}}}
FROM_DEPENDENCY = {"priority": ["dependencies.output"],
                   "sources": {"dependencies.output": {"dependency": "db", "name": "connstr"}}}
DEPENDS_ON_DB = {"sequence": ["db"], "requires": {"db": {"bundle": "localhost:5000/mydb:v0.1.0"}}}


def test_parameter_sources_are_parsed_in_priority_order(all_supported):
    sources = {
        "porter-state": STATE,
        "name": {"priority": ["output", "dependencies.output"],
                 "sources": {"dependencies.output": {"dependency": "db", "name": "n"}, "output": {"name": "msg"}}},
        "connstr": {"sources": {"output": {"name": "msg"}}},
    }
    doc = _doc([bv.PARAMETER_SOURCES], {bv.PARAMETER_SOURCES: sources})
    assert parameter_sources(Bundle(doc)) == {
        "porter-state": (ParameterSource("output", "porter-state"),),
        "name": (ParameterSource("output", "msg"), ParameterSource("dependencies.output", "n", "db")),
        "connstr": (ParameterSource("output", "msg"),),
    }
    assert parameter_sources(copy.deepcopy(BASE)) == {}
    assert parameter_sources(_doc([], {bv.PARAMETER_SOURCES: None})) == {}


def test_an_output_source_is_accepted(all_supported):
    validate_bundle_document(_doc([bv.PARAMETER_SOURCES], {bv.PARAMETER_SOURCES: {"porter-state": STATE}}))


def test_a_dependency_output_source_of_a_v1_dependency_is_accepted():
    doc = _doc([bv.PARAMETER_SOURCES, bv.DEPENDENCIES],
               {bv.PARAMETER_SOURCES: {"porter-state": STATE, "connstr": FROM_DEPENDENCY}, bv.DEPENDENCIES: DEPENDS_ON_DB})
    assert parameter_sources(doc)["connstr"] == (ParameterSource("dependencies.output", "connstr", "db"),)
    validate_bundle_document(doc)


def test_a_dependency_output_source_of_an_undeclared_dependency_is_refused(all_supported):
    doc = _doc([bv.DEPENDENCIES], {bv.PARAMETER_SOURCES: {"connstr": FROM_DEPENDENCY}, bv.DEPENDENCIES: {
        "requires": {"other": {"bundle": "localhost:5000/other"}}}})
    message = _refused(doc, UnsupportedExtensionError)
    assert message == ('bundle "porterish" takes parameter "connstr" from the outputs of dependencies that its'
                       ' "io.cnab.dependencies" extension does not declare (parameter source dependencies.output),'
                       " and cnab.runtime runs no other dependencies.")


PARAMETER_SOURCE_REFUSALS = [
    ("undeclared parameter", {"nope": STATE},
     'at custom["io.cnab.parameter-sources"].nope: "nope" is not a parameter of the bundle.'),
    ("undeclared output", {"name": {"priority": ["output"], "sources": {"output": {"name": "nope"}}}},
     'at custom["io.cnab.parameter-sources"].name.sources.output.name: "nope" is not an output of the bundle.'),
    ("priority without its source", {"name": {"priority": ["output", "dependencies.output"],
                                              "sources": {"output": {"name": "msg"}}}},
     'at custom["io.cnab.parameter-sources"].name.priority[1]: "dependencies.output" has no entry in sources.'),
    ("undeclared dependency", {"connstr": FROM_DEPENDENCY},
     'at custom["io.cnab.parameter-sources"].connstr.sources["dependencies.output"].dependency: "db" is not a'
     " dependency the bundle declares."),
    ("unknown source type", {"name": {"priority": ["docker.mount"], "sources": {"docker.mount": {}}}},
     'at custom["io.cnab.parameter-sources"].name.sources: "docker.mount" is not an allowed key.'),
    ("unknown priority", {"name": {"priority": ["docker.mount"], "sources": {"output": {"name": "msg"}}}},
     'at custom["io.cnab.parameter-sources"].name.priority[0]: "docker.mount" is not one of "output",'
     ' "dependencies.output".'),
    ("dependency output without dependency", {"name": {"sources": {"dependencies.output": {"name": "x"}}}},
     'at custom["io.cnab.parameter-sources"].name.sources["dependencies.output"]: it needs "dependency".'),
    ("extra key in an output source", {"name": {"sources": {"output": {"name": "msg", "from": "x"}}}},
     'at custom["io.cnab.parameter-sources"].name.sources.output: "from" is not an allowed key.'),
    ("empty", {}, 'at custom["io.cnab.parameter-sources"]: it must not be empty.'),
    ("not an object", ["porter-state"], 'at custom["io.cnab.parameter-sources"]: it must be an object.'),
    ("empty output name", {"name": {"sources": {"output": {"name": ""}}}},
     'at custom["io.cnab.parameter-sources"].name.sources.output.name: it must not be empty.'),
]


@pytest.mark.parametrize("value,message", [c[1:] for c in PARAMETER_SOURCE_REFUSALS],
                         ids=[c[0] for c in PARAMETER_SOURCE_REFUSALS])
def test_invalid_parameter_sources_are_refused_naming_the_extension(value, message, all_supported):
    assert _refused(_doc([bv.PARAMETER_SOURCES], {bv.PARAMETER_SOURCES: value})) == "bundle.json is invalid " + message


def test_parameter_sources_reader_refuses_a_malformed_value_in_one_sentence():
    with pytest.raises(BundleValidationError, match=r'^bundle.json is invalid at custom\["io.cnab.parameter-sources"\]'):
        parameter_sources(_doc([], {bv.PARAMETER_SOURCES: {"name": {"priority": "output"}}}))


def test_unrequired_parameter_sources_are_not_cross_checked_and_unusable_entries_are_left_out(all_supported):
    # Porter's explain fixture: a source naming an output the bundle does not declare, extension not required.
    doc = _doc([], {bv.PARAMETER_SOURCES: {"name": {"priority": ["output"], "sources": {"output": {"name": "test"}}},
                                           "ghost": STATE}})
    validate_bundle_document(doc)
    assert parameter_sources(doc) == {"name": (ParameterSource("output", "test"),)}


# --- io.cnab.docker -----------------------------------------------------------------------


@pytest.mark.parametrize("value,privileged", [(None, False), ({}, False), ({"privileged": False}, False),
                                              ({"privileged": True}, True)], ids=repr)
def test_docker_values_porter_writes_are_accepted(value, privileged, all_supported):
    doc = _doc([bv.DOCKER], {bv.DOCKER: value})
    validate_bundle_document(doc)
    assert docker_settings(Bundle(doc)) == {"privileged": privileged}


def test_docker_settings_are_none_when_the_bundle_does_not_require_docker():
    assert docker_settings(_doc([], {bv.DOCKER: {"privileged": True}})) is None


@pytest.mark.parametrize("value,message", [
    ({"privileged": "true"}, 'at custom["io.cnab.docker"].privileged: it must be a boolean.'),
    ({"privileged": True, "network": "host"}, 'at custom["io.cnab.docker"]: "network" is not an allowed key.'),
    ([], 'at custom["io.cnab.docker"]: it must be an object.'),
    (False, 'at custom["io.cnab.docker"]: it must be an object.'),
], ids=repr)
def test_invalid_docker_values_are_refused_naming_the_extension(value, message, all_supported):
    assert _refused(_doc([bv.DOCKER], {bv.DOCKER: value})) == "bundle.json is invalid " + message


# --- io.cnab.dependencies and org.getporter.dependencies@v2 -------------------------------


@pytest.mark.parametrize("value", [
    {"requires": {"db": {"bundle": "localhost:5000/mydb:v0.1.0"}}},
    DEPENDS_ON_DB,  # "sequence" at the top, as Porter writes it
    {"requires": {"mysql": {"bundle": "localhost:5000/mysql:v0.1.4", "name": "mysql"}}, "sequence": ["mysql"]},
    {"requires": {"m": {"bundle": "somecloud/mysql", "version": {"prereleases": True, "ranges": ["5.7.x"]}}}},
], ids=["spec", "sequence", "name (Porter v0.38)", "version"])
def test_dependencies_values_real_bundles_hold_are_accepted(value, all_supported):
    validate_bundle_document(_doc([bv.DEPENDENCIES], {bv.DEPENDENCIES: value}))


@pytest.mark.parametrize("value,message", [
    ([{"sequence": ["mysql"], "requires": {"bundle": "azure/mysql"}}], 'at custom["io.cnab.dependencies"]: it must'
     " be an object."),
    ({"requires": {"db": {"version": {"ranges": ["1.x"]}}}}, 'at custom["io.cnab.dependencies"].requires.db: it'
     ' needs "bundle".'),
    ({"requires": {"db": {"bundle": "x", "version": "1.x"}}}, 'at custom["io.cnab.dependencies"].requires.db.version:'
     " it must be an object."),
    ({"requires": {"db": {"bundle": "x"}}, "sequence": ["db", "web"]}, 'at custom["io.cnab.dependencies"]'
     '.sequence[1]: "web" is not a key of requires.'),
    ({"requires": {"db": {"bundle": "x"}}, "order": ["db"]}, 'at custom["io.cnab.dependencies"]: "order" is not an'
     " allowed key."),
    ({"requires": {}}, 'at custom["io.cnab.dependencies"].requires: it must not be empty.'),
], ids=["array form (101.03)", "no bundle", "v2 version string", "sequence alias", "extra key", "empty requires"])
def test_invalid_dependencies_values_are_refused_naming_the_extension(value, message, all_supported):
    assert _refused(_doc([bv.DEPENDENCIES], {bv.DEPENDENCIES: value})) == "bundle.json is invalid " + message


def test_dependencies_v2_values_porter_writes_are_accepted(all_supported):
    value = {"requires": {
        "db": {"bundle": "localhost:5000/mydb:v0.1.0", "sharing": {"group": {}}, "parameters": {"database": "bigdb"}},
        "app": {"bundle": "localhost:5000/myapp:v1.2.3", "version": "1.x",
                "sharing": {"mode": True, "group": {"name": "g"}},
                "credentials": {"db-connstr": "${bundle.dependencies.db.outputs.connstr}"},
                "outputs": {"endpoint": "https://${outputs.port}/myapp"}, "interface": {"id": "x"}}}}
    validate_bundle_document(_doc([bv.DEPENDENCIES_V2], {bv.DEPENDENCIES_V2: value}))


@pytest.mark.parametrize("value,message", [
    ({"requires": {"db": {"bundle": "x", "version": {"ranges": ["1.x"]}}}},
     'at custom["org.getporter.dependencies@v2"].requires.db.version: it must be a string.'),
    ({"requires": {"db": {"bundle": "x", "parameters": {"n": 1}}}},
     'at custom["org.getporter.dependencies@v2"].requires.db.parameters.n: it must be a string.'),
    ({"requires": {"db": {"bundle": "x", "sharing": {"mode": "yes"}}}},
     'at custom["org.getporter.dependencies@v2"].requires.db.sharing.mode: it must be a boolean.'),
    ({"sequence": ["db"]}, 'at custom["org.getporter.dependencies@v2"]: "sequence" is not an allowed key.'),
], ids=["version object", "parameter not a string", "sharing mode", "sequence"])
def test_invalid_dependencies_v2_values_are_refused_naming_the_extension(value, message, all_supported):
    assert _refused(_doc([bv.DEPENDENCIES_V2], {bv.DEPENDENCIES_V2: value})) == "bundle.json is invalid " + message


def test_a_dependency_output_may_name_a_v2_dependency(all_supported):
    doc = _doc([bv.PARAMETER_SOURCES, bv.DEPENDENCIES_V2],
               {bv.PARAMETER_SOURCES: {"connstr": FROM_DEPENDENCY}, bv.DEPENDENCIES_V2: {"requires": {"db": {
                   "bundle": "x"}}}})
    assert "runs no other dependencies" in _refused(doc, UnsupportedExtensionError)


# --- the copied schemas ---------------------------------------------------------------------

COPIES = [
    (extension_schemas.DEPENDENCIES_V1_SCHEMA, "cnab-spec/schema/dependencies.schema.json"),
    (extension_schemas.PARAMETER_SOURCES_SCHEMA, "cnab-spec/schema/parameter-sources.schema.json"),
    (extension_schemas.DOCKER_SCHEMA, "realworld/porter/schema/io-cnab-docker.schema.json"),
]


@pytest.mark.parametrize("schema,origin", COPIES, ids=[c[1] for c in COPIES])
def test_copied_schemas_equal_their_origin(schema, origin):
    path = SHARED / origin
    if not path.is_file():
        pytest.fail(f"{path} is missing (set CNAB_SHARED to the shared fixtures directory)", pytrace=False)
    assert schema == json.loads(path.read_text(encoding="utf-8"))


def test_tolerances_are_added_to_copies_of_the_schemas_not_to_the_originals():
    assert "sequence" not in extension_schemas.DEPENDENCIES_V1_SCHEMA["properties"]
    assert "sequence" in bv.KNOWN_EXTENSIONS[bv.DEPENDENCIES].schema["properties"]
    enum = extension_schemas.PARAMETER_SOURCES_SCHEMA["definitions"]["parameter-source"]["properties"]["priority"]
    assert enum["items"]["enum"] == ["output"]


def test_reading_parameter_sources_without_jsonschema_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(bv.KNOWN_EXTENSIONS[bv.PARAMETER_SOURCES], "_validator", None)
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(CnabError, match='"jsonschema"'):
        parameter_sources(_doc([], {bv.PARAMETER_SOURCES: {"porter-state": STATE}}))
