"""bundle.json validation: our schema and rules, checked against the official CNAB schema.

The official schema files are a test oracle only. Set CNAB_SPEC_DIR to the
folder holding ``schema/`` and ``examples/`` (default: ``$CNAB_SHARED/cnab-spec``,
the shared directory resolved by tests/shared_dir.py).
"""

import copy
import json
import os
import pathlib
import random
import subprocess
import sys

import jsonschema
import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import bundle_validation
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_schema import BUNDLE_SCHEMA
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import (
    validate_bundle_document,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleValidationError,
    CnabError,
    UnsupportedExtensionError,
)
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED

SPEC_DIR = pathlib.Path(os.environ.get("CNAB_SPEC_DIR", SHARED / "cnab-spec"))
SPEC_BUNDLE_SCHEMA = SPEC_DIR / "schema" / "bundle.schema.json"
EXAMPLES = sorted((SPEC_DIR / "examples").glob("*-bundle.json"))
NO_SPEC = f"official CNAB schema not found under {SPEC_DIR} (set CNAB_SPEC_DIR)"
needs_spec = pytest.mark.skipif(not SPEC_BUNDLE_SCHEMA.is_file(), reason=NO_SPEC)

# A small valid bundle, written for these tests (independent of the spec files).
BASE = {
    "schemaVersion": "v1.2.0",
    "name": "acme.demo",
    "version": "1.0.0",
    "invocationImages": [{"image": "example/demo:1.0.0", "imageType": "docker"}],
    "actions": {"io.cnab.status": {"modifies": False, "stateless": False}},
    "definitions": {"port": {"type": "integer", "minimum": 1}, "text": {"type": "string"}},
    "parameters": {
        "port": {"definition": "port", "destination": {"env": "PORT"}, "applyTo": ["install"]},
        "config": {"definition": "text", "destination": {"path": "/etc/demo/config"}},
    },
    "credentials": {"token": {"env": "TOKEN"}, "kubeconfig": {"path": "/root/.kube/config"}},
    "outputs": {"url": {"definition": "text", "path": "/cnab/app/outputs/url", "applyTo": ["io.cnab.status"]}},
    "custom": {"com.example.note": {"any": ["json", 1, None]}},
}


def _assert_one_sentence(message):
    assert "\n" not in message and message.endswith("."), message
    assert message.startswith(("bundle.json is invalid", 'bundle "')), message


def _oracle_validator():
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    meta = DRAFT7.create_resource(jsonschema.Draft7Validator.META_SCHEMA)
    resources = [("http://json-schema.org/draft-07/schema", meta)]
    for path in sorted((SPEC_DIR / "schema").glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        if "$id" in schema:
            resources.append((schema["$id"], DRAFT7.create_resource(schema)))
    # No retrieve function: any reference outside these resources fails instead of fetching.
    registry = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(json.loads(SPEC_BUNDLE_SCHEMA.read_text(encoding="utf-8")), registry=registry)


@pytest.fixture(scope="module")
def oracle():
    if not SPEC_BUNDLE_SCHEMA.is_file():
        pytest.skip(NO_SPEC)
    return _oracle_validator()


@pytest.fixture
def dependencies_supported(monkeypatch):
    monkeypatch.setattr(bundle_validation, "SUPPORTED_EXTENSIONS", frozenset({"io.cnab.dependencies"}))


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


# --- valid documents --------------------------------------------------------


def test_base_bundle_is_valid():
    validate_bundle_document(copy.deepcopy(BASE))


def test_our_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(BUNDLE_SCHEMA)


@pytest.mark.parametrize("schema_version", ["v1", "v1.0.0", "v1.1.0", "v1.2.0", "v1.0.0-WD", "v1.0.0-CR", "v1.2"])
def test_schema_versions_of_cnab_1_are_accepted(schema_version):
    validate_bundle_document(dict(copy.deepcopy(BASE), schemaVersion=schema_version))


@pytest.mark.parametrize("version", ["0.1.2", "v1.2.3", "1.0.0-alpha.1", "1.0.0-0.3.7+build.5", "10.20.30+meta-data"])
def test_semver_versions_are_accepted(version):
    validate_bundle_document(dict(copy.deepcopy(BASE), version=version))


# 101.03's io.cnab.dependencies value is an array, an old form that dependencies.schema.json rejects.
STALE_DEPENDENCIES_EXAMPLE = "101.03-bundle.json"


@needs_spec
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_spec_examples_pass_oracle_and_ours(path, oracle, dependencies_supported):
    doc = _load(path)
    assert list(oracle.iter_errors(doc)) == []
    if path.name == STALE_DEPENDENCIES_EXAMPLE:
        with pytest.raises(BundleValidationError) as info:
            validate_bundle_document(doc)
        assert str(info.value) == 'bundle.json is invalid at custom["io.cnab.dependencies"]: it must be an object.'
    else:
        validate_bundle_document(doc)


@needs_spec
def test_spec_example_with_the_stale_dependencies_array_form_is_refused_in_one_sentence():
    doc = _load(SPEC_DIR / "examples" / "101.03-bundle.json")
    with pytest.raises(BundleValidationError) as info:
        validate_bundle_document(doc)
    assert str(info.value) == 'bundle.json is invalid at custom["io.cnab.dependencies"]: it must be an object.'


def test_at_least_one_spec_example_is_found():
    if not SPEC_BUNDLE_SCHEMA.is_file():
        pytest.skip(NO_SPEC)
    assert len(EXAMPLES) >= 3


# --- differential: ours is never looser than the oracle ----------------------

JUNK = [None, True, False, 0, -1, 1.5, "", "x", "not-a-version-1", "relative/path", "CNAB_ACTION",
        "/cnab/app/outputs/x", "install", [], [1], ["install"], {}, {"x": 1}, {"type": 12}]
EXTRA_KEYS = ["dependencies", "foo", "env", "path", "definition", "destination", "applyTo", "type", "required"]


def _paths(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _mutate(doc, rng):
    doc = copy.deepcopy(doc)
    for _unused in range(rng.choice([1, 1, 1, 2, 3])):
        paths = list(_paths(doc))
        path = rng.choice(paths[1:]) if len(paths) > 1 else ()
        op = rng.choice(["delete", "retype", "add_key", "empty", "retype"])
        if op == "add_key" or not path:
            containers = [p for p in paths if isinstance(_get(doc, p), dict)]
            target = _get(doc, rng.choice(containers))
            target[rng.choice(EXTRA_KEYS)] = copy.deepcopy(rng.choice(JUNK))
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "empty" and isinstance(parent[key], (dict, list)):
            parent[key].clear()
        else:
            parent[key] = copy.deepcopy(rng.choice(JUNK))
    return doc


@needs_spec
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_ours_rejects_whatever_the_oracle_rejects(path, oracle, dependencies_supported):
    rng = random.Random(f"cnab-{path.name}")
    example = _load(path)
    looser, oracle_rejected, ours_rejected = [], 0, 0
    for _unused in range(150):
        doc = _mutate(example, rng)
        oracle_ok = oracle.is_valid(doc)
        oracle_rejected += not oracle_ok
        try:
            validate_bundle_document(doc)
        except BundleValidationError as exc:
            ours_rejected += 1
            _assert_one_sentence(str(exc))
        else:
            if not oracle_ok:
                reason = jsonschema.exceptions.best_match(oracle.iter_errors(doc)).message
                looser.append((json.dumps(doc)[:300], reason))
    assert looser == []
    # Both outcomes must occur, or the comparison proves nothing.
    assert oracle_rejected >= 30 and 150 - oracle_rejected >= 10
    assert ours_rejected >= oracle_rejected


# --- the oracle's quirks that ours fixes ------------------------------------

QUIRKS = [
    ("version", lambda d: d.__setitem__("version", "not-a-version-1")),
    ("invocationImages", lambda d: d.__setitem__("invocationImages", [])),
    ("requiredExtensions", lambda d: d.__setitem__("requiredExtensions", [42])),
    ("destination", lambda d: d["parameters"]["port"].__setitem__("destination", {})),
    ("credential", lambda d: d["credentials"].__setitem__("empty", {"description": "nothing"})),
    ("parameter path", lambda d: d["parameters"]["config"]["destination"].__setitem__("path", "/cnab/app/outputs/c")),
]


@needs_spec
@pytest.mark.parametrize("mutate", [m for _unused, m in QUIRKS], ids=[i for i, _unused in QUIRKS])
def test_oracle_quirks_are_rejected_by_ours(mutate, oracle):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    assert oracle.is_valid(doc)
    with pytest.raises(BundleValidationError):
        validate_bundle_document(doc)


# --- table of invalid documents ---------------------------------------------


def _set(path, value):
    def mutate(doc):
        _get(doc, path[:-1])[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(doc):
        del _get(doc, path[:-1])[path[-1]]
    return mutate


def _deeply_nested(depth):
    def mutate(doc):
        value = node = {}
        for _unused in range(depth):
            node["a"] = {}
            node = node["a"]
        doc["custom"]["com.example.deep"] = value
    return mutate


INVALID = [
    ("unanchored version", _set(("version",), "not-a-version-1"),
     BundleValidationError, 'at version: "not-a-version-1" is not a SemVer 2 version'),
    ("version with trailing newline", _set(("version",), "1.0.0\n"), BundleValidationError, "at version:"),
    ("two-part version", _set(("version",), "1.0"), BundleValidationError, "at version:"),
    ("schemaVersion 2", _set(("schemaVersion",), "v2.0.0"), BundleValidationError, "at schemaVersion:"),
    ("missing name", _delete(("name",)), BundleValidationError, 'it needs "name"'),
    ("name with a tab", _set(("name",), "a\tb"), BundleValidationError, "at name:"),
    ("unknown top-level key", _set(("dependencies",), {}),
     BundleValidationError, '"dependencies" is not an allowed key'),
    ("empty invocationImages", _set(("invocationImages",), []),
     BundleValidationError, "at invocationImages: it needs at least 1 item"),
    ("image without image", _set(("invocationImages", 0), {"imageType": "oci"}),
     BundleValidationError, 'at invocationImages[0]: it needs "image"'),
    ("requiredExtensions item not a string", _set(("requiredExtensions",), [1]),
     BundleValidationError, "at requiredExtensions[0]: it must be a string"),
    ("stateless as a string", _set(("actions", "io.cnab.status", "stateless"), "false"),
     BundleValidationError, 'at actions["io.cnab.status"].stateless: it must be a boolean'),
    ("modifies as a string", _set(("actions", "io.cnab.status", "modifies"), "true"),
     BundleValidationError, "modifies: it must be a boolean"),
    ("destination without env or path", _set(("parameters", "port", "destination"), {}),
     BundleValidationError, 'at parameters.port.destination: it needs "env" or "path".'),
    ("credential without env or path", _set(("credentials", "token"), {"required": True}),
     BundleValidationError, 'at credentials.token: it needs "env" or "path".'),
    ("output path outside outputs", _set(("outputs", "url", "path"), "/tmp/url"),
     BundleValidationError, "at outputs.url.path:"),
    ("output path escaping outputs", _set(("outputs", "url", "path"), "/cnab/app/outputs/../run"),
     BundleValidationError, "at outputs.url.path:"),
    ("output path is the outputs folder", _set(("outputs", "url", "path"), "/cnab/app/outputs/"),
     BundleValidationError, "at outputs.url.path:"),
    ("duplicate output path", _set(("outputs", "again"), {"definition": "text", "path": "/cnab/app/outputs/url"}),
     BundleValidationError, "is already used by outputs.url.path"),
    ("parameter path under outputs", _set(("parameters", "config", "destination", "path"), "/cnab/app/outputs/c"),
     BundleValidationError, "reserved for outputs"),
    ("credential path under outputs", _set(("credentials", "kubeconfig", "path"), "/cnab/app/outputs"),
     BundleValidationError, "reserved for outputs"),
    ("relative parameter path", _set(("parameters", "config", "destination", "path"), "etc/config"),
     BundleValidationError, '"etc/config" is not an absolute path; CNAB would root it at "/", but cnab.runtime'
     ' wants that written out as "/etc/config".'),
    ("relative credential path", _set(("credentials", "kubeconfig", "path"), "kube/config"),
     BundleValidationError, "is not an absolute path"),
    ("parameter path on the run tool", _set(("parameters", "config", "destination", "path"), "/cnab/app/run"),
     BundleValidationError, "reserved by CNAB"),
    ("parameter path on the app directory", _set(("parameters", "config", "destination", "path"), "/cnab/app"),
     BundleValidationError, "reserved by CNAB"),
    ("credential path on the root", _set(("credentials", "kubeconfig", "path"), "/"),
     BundleValidationError, "reserved by CNAB"),
    ("CNAB_ env on a parameter", _set(("parameters", "port", "destination", "env"), "CNAB_ACTION"),
     BundleValidationError, "CNAB_ variables may not be overridden"),
    ("CNAB_ env on a credential", _set(("credentials", "token", "env"), "CNAB_INSTALLATION_NAME"),
     BundleValidationError, "CNAB_ variables may not be overridden"),
    ("env with =", _set(("credentials", "token", "env"), "A=B"), BundleValidationError, "not a valid environment"),
    ("parameter and credential share an env", _set(("credentials", "token", "env"), "PORT"),
     BundleValidationError, 'the env "PORT" is already used by parameters.port.destination.env'),
    ("two parameters share an env", _set(("parameters", "config", "destination", "env"), "PORT"),
     BundleValidationError, 'the env "PORT" is already used'),
    ("parameter and credential share a path", _set(("credentials", "kubeconfig", "path"), "/etc/demo/./config"),
     BundleValidationError, 'the path "/etc/demo/config" is already used by parameters.config.destination.path'),
    ("unknown parameter definition", _set(("parameters", "port", "definition"), "nope"),
     BundleValidationError, 'at parameters.port.definition: "nope" is not a key of definitions'),
    ("unknown output definition", _set(("outputs", "url", "definition"), "nope"),
     BundleValidationError, "at outputs.url.definition:"),
    ("custom action named install", _set(("actions", "install"), {}),
     BundleValidationError, '"install" is a built-in action'),
    ("custom action named uninstall", _set(("actions", "uninstall"), {"modifies": True}),
     BundleValidationError, '"uninstall" is a built-in action'),
    ("unsupported required extension", _set(("requiredExtensions",), ["org.getporter.dependencies@v2"]),
     UnsupportedExtensionError,
     'bundle "acme.demo" requires the extension "org.getporter.dependencies@v2", which cnab.runtime does not'
     ' support.'),
    ("definition type 12", _set(("definitions", "port"), {"type": 12}),
     BundleValidationError, "at definitions.port.type: it is not a valid draft-07 JSON Schema"),
    ("definition with a bad regex", _set(("definitions", "text", "pattern"), "("),
     BundleValidationError, "at definitions.text.pattern: it is not a valid draft-07 JSON Schema"),
    ("definition not a schema", _set(("definitions", "text"), "string"),
     BundleValidationError, "at definitions.text: it must be an object."),
    ("custom nested 5000 deep", _deeply_nested(5000), BundleValidationError, "nested more than"),
    # One normal form (bundle.container_path): a leading "//" is no way around the path rules.
    ("parameter path on bundle.json via //", _set(("parameters", "config", "destination", "path"), "//cnab/bundle.json"),
     BundleValidationError, 'at parameters.config.destination.path: "//cnab/bundle.json" is a path reserved by CNAB.'),
    ("credential path on claim.json via //", _set(("credentials", "kubeconfig", "path"), "//cnab/./claim.json"),
     BundleValidationError, "reserved by CNAB"),
    ("parameter path under outputs via //", _set(("parameters", "config", "destination", "path"), "//cnab/app/outputs/c"),
     BundleValidationError, "reserved for outputs"),
    ("parameter and credential share a path via //", _set(("credentials", "kubeconfig", "path"), "//etc/demo/config"),
     BundleValidationError, 'the path "/etc/demo/config" is already used by parameters.config.destination.path'),
    ("output path with //", _set(("outputs", "url", "path"), "/cnab/app/outputs//url"),
     BundleValidationError, 'at outputs.url.path: "/cnab/app/outputs//url" is not in normal form: write it as'
     ' "/cnab/app/outputs/url".'),
    ("output path with /./", _set(("outputs", "url", "path"), "/cnab/app/outputs/./url"),
     BundleValidationError, 'write it as "/cnab/app/outputs/url"'),
    ("output path with a trailing /", _set(("outputs", "url", "path"), "/cnab/app/outputs/url/"),
     BundleValidationError, 'write it as "/cnab/app/outputs/url"'),
    ("output path with a leading //", _set(("outputs", "url", "path"), "//cnab/app/outputs/url"),
     BundleValidationError, "at outputs.url.path:"),
    ("output path with .. inside outputs", _set(("outputs", "url", "path"), "/cnab/app/outputs/a/../url"),
     BundleValidationError, 'write it as "/cnab/app/outputs/url"'),
    # applyTo entries are action names.
    ("parameter applyTo not a list", _set(("parameters", "port", "applyTo"), "install"),
     BundleValidationError, "at parameters.port.applyTo: it must be an array"),
    ("parameter applyTo entry not a string", _set(("parameters", "port", "applyTo"), [1]),
     BundleValidationError, "at parameters.port.applyTo[0]: it must be a string"),
    ("credential applyTo entry not a string", _set(("credentials", "token", "applyTo"), [None]),
     BundleValidationError, "at credentials.token.applyTo[0]: it must be a string"),
    ("output applyTo entry not a string", _set(("outputs", "url", "applyTo"), [["install"]]),
     BundleValidationError, "at outputs.url.applyTo[0]: it must be a string"),
    ("definition reference to a boolean definition",
     lambda d: (d["definitions"].__setitem__("any", True), d["parameters"]["port"].__setitem__("definition", "any")),
     BundleValidationError, "at definitions.any: it must be an object."),
]

# Names: outputs become claim-store file names (outputs/<resultId>/<name>); the others stay permissive.
BAD_OUTPUT_NAMES = ["/tmp/x", "../../escape", "..", ".", "", ".hidden", "-x", "a/b", "a b", "url\n", "x\0", "é"]
BAD_OTHER_NAMES = ["", "a/b", "/tmp/x", "a\0b", "a\nb", "port\n"]
GOOD_OTHER_NAMES = ["my param", "ÜBER", "a.b-c", "..", "CNAB_X"]


@pytest.mark.parametrize("name", BAD_OUTPUT_NAMES, ids=repr)
def test_output_names_that_are_not_plain_file_names_are_rejected(name):
    doc = copy.deepcopy(BASE)
    doc["outputs"][name] = doc["outputs"].pop("url")
    with pytest.raises(BundleValidationError) as info:
        validate_bundle_document(doc)
    _assert_one_sentence(str(info.value))
    assert f"the output name {json.dumps(name, ensure_ascii=False)} must start with a letter or digit" in str(info.value)


@pytest.mark.parametrize("name", ["url", "URL2", "a.b_c-1", "0"])
def test_plain_output_names_are_accepted(name):
    doc = copy.deepcopy(BASE)
    doc["outputs"][name] = doc["outputs"].pop("url")
    validate_bundle_document(doc)


@pytest.mark.parametrize("section,old", [("parameters", "port"), ("credentials", "token")])
@pytest.mark.parametrize("name", BAD_OTHER_NAMES, ids=repr)
def test_parameter_and_credential_names_must_be_non_empty_without_slash_nul_or_newline(section, old, name):
    doc = copy.deepcopy(BASE)
    doc[section][name] = doc[section].pop(old)
    with pytest.raises(BundleValidationError) as info:
        validate_bundle_document(doc)
    _assert_one_sentence(str(info.value))
    assert f"the {section[:-1]} name {json.dumps(name)} must not be empty" in str(info.value)


@pytest.mark.parametrize("section,old", [("parameters", "port"), ("credentials", "token")])
@pytest.mark.parametrize("name", GOOD_OTHER_NAMES, ids=repr)
def test_parameter_and_credential_names_stay_permissive(section, old, name):
    doc = copy.deepcopy(BASE)
    doc[section][name] = doc[section].pop(old)
    validate_bundle_document(doc)


# Shapes the runtime would crash on (it indexes these as objects): refused with one sentence.
SHAPES = [
    (("parameters",), "abc", "at parameters: it must be an object."),
    (("parameters",), {"p": "x"}, "at parameters.p: it must be an object."),
    (("parameters", "port", "destination"), "x", "at parameters.port.destination: it must be an object."),
    (("definitions",), [], "at definitions: it must be an object."),
    (("definitions",), {"d": True}, "at definitions.d: it must be an object."),
    (("invocationImages",), ["x"], "at invocationImages[0]: it must be an object."),
    (("credentials",), "x", "at credentials: it must be an object."),
    (("credentials",), {"c": "x"}, "at credentials.c: it must be an object."),
    (("outputs",), {"o": "x"}, "at outputs.o: it must be an object."),
    (("actions",), [], "at actions: it must be an object."),
    (("actions",), {"a": "x"}, "at actions.a: it must be an object."),
    (("images",), {"i": "x"}, "at images.i: it must be an object."),
    (("custom",), [], "at custom: it must be an object."),
    (("maintainers",), ["x"], "at maintainers[0]: it must be an object."),
]


@pytest.mark.parametrize("path,value,message", SHAPES, ids=[f"{p[-1]}={v!r}" for p, v, _unused in SHAPES])
def test_shapes_the_runtime_cannot_use_are_rejected(path, value, message):
    doc = copy.deepcopy(BASE)
    _set(path, value)(doc)
    with pytest.raises(BundleValidationError) as info:
        validate_bundle_document(doc)
    assert str(info.value) == "bundle.json is invalid " + message


@pytest.mark.parametrize("mutate,error,fragment", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_documents_are_rejected(mutate, error, fragment):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    with pytest.raises(error) as info:
        validate_bundle_document(doc)
    assert fragment in str(info.value)
    _assert_one_sentence(str(info.value))


@pytest.mark.parametrize("doc", [[], None, 3, 1.5, "bundle", True], ids=repr)
def test_non_object_documents_are_rejected(doc):
    with pytest.raises(BundleValidationError, match="the document must be a JSON object"):
        validate_bundle_document(doc)


def test_supported_extension_is_accepted(monkeypatch):
    monkeypatch.setattr(bundle_validation, "SUPPORTED_EXTENSIONS", frozenset({"io.cnab.docker"}))
    doc = dict(copy.deepcopy(BASE), requiredExtensions=["io.cnab.docker"])
    doc["custom"]["io.cnab.docker"] = {"privileged": True}
    validate_bundle_document(doc)


def test_recursion_error_is_reported_cleanly(monkeypatch):
    def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(jsonschema.Draft7Validator, "iter_errors", explode)
    with pytest.raises(BundleValidationError, match="nested too deeply"):
        validate_bundle_document(copy.deepcopy(BASE))


def test_missing_jsonschema_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(CnabError, match='"jsonschema"') as info:
        validate_bundle_document(copy.deepcopy(BASE))
    assert not isinstance(info.value, BundleValidationError)


def test_importing_the_module_does_not_import_jsonschema():
    code = (
        "import sys\n"
        "import ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation\n"
        "sys.exit('jsonschema' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
