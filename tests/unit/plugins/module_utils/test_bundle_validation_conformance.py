"""Conformance over the real-world fixtures: every bundle.json (and every bundle embedded in a
claim) listed in ``$CNAB_SHARED/realworld/manifest.json`` gets the verdict its ``expected`` column
names. The fixtures are the oracle (see realworld/SOURCES.md); they are never edited.

The shared directory is resolved by tests/shared_dir.py (CNAB_SHARED, else ``../shared`` next to the
repository: in CI the repository is /work/main, so that is /work/shared). A missing manifest fails the run rather than skipping it.
"""

import json
import re

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import bundle_validation
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError, UnsupportedExtensionError
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED

REALWORLD = SHARED / "realworld"
MANIFEST = REALWORLD / "manifest.json"

VERDICTS = ("valid", "valid+ext", "invalid", "invalid(SHOULD)", "either")
# What the issue counted; the manifest may only grow.
AT_LEAST = 47
GOLDENS = ("config-adapter-mybuns-depsv1.bundle.json", "config-adapter-mybuns-depsv1.bundle.preserveTags.json",
           "config-adapter-mybuns-depsv2.bundle.json", "config-adapter-mybuns-depsv2.bundle.preserveTags.json")
STALE_DEPENDENCIES_EXAMPLE = "../cnab-spec/examples/101.03-bundle.json"
STALE_FORM_REFUSAL = 'bundle.json is invalid at custom["io.cnab.dependencies"]: it must be an object.'
NON_DEPENDENCY_EXTENSIONS = frozenset(bundle_validation.KNOWN_EXTENSIONS) - set(bundle_validation.DEPENDENCY_EXTENSIONS)


def _entries():
    if not MANIFEST.is_file():
        return []
    files = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    return [entry for entry in files if entry["kind"] in ("bundle", "claim")]


ENTRIES = _entries()


def _expected(entry):
    value = entry["expected"] if entry["kind"] == "bundle" else entry["bundle_expected"]
    return value.replace("embedded bundle: ", "")


def _document(entry):
    """The bundle document of a manifest entry, or the one-sentence error loading it gives."""
    path = REALWORLD / entry["file"]
    if entry["kind"] == "claim":
        return json.loads(path.read_text(encoding="utf-8"))["bundle"]
    return load_bundle(str(path)).document


def _verdict(entry):
    """None when the bundle is accepted, else the CnabError refusing it (anything else propagates)."""
    try:
        bundle_validation.validate_bundle_document(_document(entry))
    except CnabError as exc:
        return exc
    return None


def _assert_one_sentence(error):
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message, message
    assert message.endswith("."), message
    return message


def _unsupported_named(message):
    match = re.fullmatch(r'bundle ".*" requires the extensions? (.*), which cnab\.runtime does not support\.', message)
    assert match, message
    return re.findall(r'"([^"]*)"', match.group(1))


def _needs_dependencies(doc):
    """True when ``doc`` needs dependencies the runtime does not run, by today's SUPPORTED_EXTENSIONS:
    it requires a dependency extension that is not supported, or a dependencies.output parameter
    source reads an alias no supported dependency extension (io.cnab.dependencies: the one the
    runtime runs) declares."""
    supported = bundle_validation.SUPPORTED_EXTENSIONS
    required = set(doc.get("requiredExtensions") or ())
    if required & (set(bundle_validation.DEPENDENCY_EXTENSIONS) - supported):
        return True
    custom = doc.get("custom") or {}
    declared = custom.get(bundle_validation.DEPENDENCIES) if bundle_validation.DEPENDENCIES in supported else None
    aliases = set((declared or {}).get("requires") or ()) if isinstance(declared, dict) else set()
    sources = custom.get(bundle_validation.PARAMETER_SOURCES) or {}
    return any(source.get("dependency") not in aliases
               for spec in sources.values()
               for kind, source in (spec.get("sources") or {}).items()
               if kind == bundle_validation.SOURCE_DEPENDENCY_OUTPUT)


@pytest.fixture
def supported(monkeypatch):
    def set_supported(names):
        monkeypatch.setattr(bundle_validation, "SUPPORTED_EXTENSIONS", frozenset(names))
    return set_supported


def _require_manifest():
    if not MANIFEST.is_file():
        pytest.fail(f"{MANIFEST} is missing: the conformance test needs the shared real-world fixtures"
                    " (set CNAB_SHARED to the directory holding realworld/ and cnab-spec/)", pytrace=False)


def test_every_bundle_and_claim_of_the_manifest_is_checked():
    _require_manifest()
    files = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    wanted = {entry["file"] for entry in files if entry["kind"] in ("bundle", "claim")}
    assert {entry["file"] for entry in ENTRIES} == wanted
    assert len(wanted) >= AT_LEAST
    assert all(_expected(entry) in VERDICTS for entry in ENTRIES), [_expected(e) for e in ENTRIES]
    # Every verdict kind occurs, or a rule below is never exercised.
    assert {_expected(entry) for entry in ENTRIES} == set(VERDICTS)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_verdict_matches_the_expected_column(entry, supported):
    expected = _expected(entry)
    error = _verdict(entry)
    if expected == "valid":
        assert error is None, str(error)
    elif expected in ("invalid", "invalid(SHOULD)"):
        assert error is not None, "accepted"
        _assert_one_sentence(error)
    elif expected == "either":
        if error is not None:
            _assert_one_sentence(error)
    elif entry["file"] == STALE_DEPENDENCIES_EXAMPLE:
        # Our call, stated in docs/architecture.md: the stale array form is refused in one sentence.
        assert _assert_one_sentence(error) == STALE_FORM_REFUSAL
    else:
        doc = _document(entry)
        required = list(dict.fromkeys(doc["requiredExtensions"]))
        assert required, "valid+ext without requiredExtensions"
        unsupported = [name for name in required if name not in bundle_validation.SUPPORTED_EXTENSIONS]
        if unsupported:
            assert isinstance(error, UnsupportedExtensionError), str(error)
            assert _unsupported_named(_assert_one_sentence(error)) == unsupported
        elif _needs_dependencies(doc):
            assert error is not None and "dependencies" in _assert_one_sentence(error)
        else:
            assert error is None, str(error)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_verdict_with_every_known_extension_supported(entry, supported):
    """Every other check: with all known extensions supported, valid+ext bundles pass unless they
    need dependencies (refused, naming them), and invalid ones stay refused in one sentence."""
    supported(bundle_validation.KNOWN_EXTENSIONS)
    expected = _expected(entry)
    error = _verdict(entry)
    doc = _document(entry) if expected in ("valid", "valid+ext") else None
    unknown = [n for n in (doc or {}).get("requiredExtensions") or () if n not in bundle_validation.KNOWN_EXTENSIONS]
    if entry["file"] == STALE_DEPENDENCIES_EXAMPLE:
        assert error is not None and _assert_one_sentence(error) == STALE_FORM_REFUSAL
    elif expected == "valid" or (expected == "valid+ext" and not unknown and not _needs_dependencies(doc)):
        assert error is None, str(error)
    elif expected == "valid+ext" and not unknown:
        # Validation may pass (the dependencies issue runs them); a refusal must name them.
        assert error is None or "dependencies" in _assert_one_sentence(error)
    elif expected != "either" or error is not None:
        assert error is not None, "accepted"
        _assert_one_sentence(error)


def _golden(name):
    _require_manifest()
    return json.loads((REALWORLD / "porter" / "bundles" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", GOLDENS)
def test_porter_build_goldens_are_refused_for_their_dependency_extension_alone(name, supported):
    doc = _golden(name)
    dependency = [n for n in doc["requiredExtensions"] if n in bundle_validation.DEPENDENCY_EXTENSIONS]
    assert len(dependency) == 1
    supported(NON_DEPENDENCY_EXTENSIONS)
    with pytest.raises(UnsupportedExtensionError) as info:
        bundle_validation.validate_bundle_document(doc)
    assert str(info.value) == f'bundle "mybuns" requires the extension "{dependency[0]}", which cnab.runtime does not support.'


@pytest.mark.parametrize("name", GOLDENS)
def test_porter_build_goldens_pass_every_other_check(name, supported):
    doc = _golden(name)
    supported(bundle_validation.KNOWN_EXTENSIONS)
    if bundle_validation.DEPENDENCIES in doc["requiredExtensions"]:
        # depsv1: the runtime runs io.cnab.dependencies, and the dependency output source reads its alias.
        bundle_validation.validate_bundle_document(doc)
        return
    # depsv2: even declared supported, v2 dependencies are not run, so the source reading one is refused.
    with pytest.raises(UnsupportedExtensionError) as info:
        bundle_validation.validate_bundle_document(doc)
    assert str(info.value) == (
        'bundle "mybuns" takes parameter "mysql-connstr" from the outputs of dependencies that its'
        ' "io.cnab.dependencies" extension does not declare (parameter source dependencies.output), and'
        ' cnab.runtime runs no other dependencies.')
    # Without that source, nothing else in the golden is refused.
    del doc["custom"][bundle_validation.PARAMETER_SOURCES]["mysql-connstr"]
    bundle_validation.validate_bundle_document(doc)


@pytest.mark.parametrize("name", ("build-testdata-wordpress.bundle.json", "explain-dependencies-bundle.json",
                                  "config-adapter-mybuns-depsv1.bundle.json"))
def test_bundles_with_v1_dependencies_validate_as_they_are(name, supported):
    # The depsv1 golden also requires io.cnab.docker, the Docker driver's opt-in (supported on its own).
    supported(bundle_validation.SUPPORTED_EXTENSIONS | {bundle_validation.DOCKER})
    bundle_validation.validate_bundle_document(_golden(name))


def test_the_spec_example_with_the_stale_dependencies_form_is_refused_in_one_sentence(supported):
    _require_manifest()
    entry = next(e for e in ENTRIES if e["file"] == STALE_DEPENDENCIES_EXAMPLE)
    supported(bundle_validation.KNOWN_EXTENSIONS)
    error = _verdict(entry)
    assert error is not None
    assert _assert_one_sentence(error) == STALE_FORM_REFUSAL
