"""Fuzz bundle.json loading and validation (load_bundle -> Bundle.validate).

Property: every document is either accepted (and then every accessor the runtime uses works on it)
or rejected with a BundleError whose message is one sentence; never another exception, never a
RecursionError or MemoryError, whatever the nesting or the size. Strategies: arbitrary JSON,
valid bundles with fields replaced or perturbed, raw and truncated bytes, very deep nesting and
very large documents.
"""

import json
import string

import pytest
from fuzzing import EXAMPLES, LONG_RUN, RUN, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import BundleError

BASE = {
    "schemaVersion": "v1.2.0",
    "name": "fuzzed",
    "version": "0.1.0",
    "invocationImages": [{"image": "cnab-tests/fuzzed:0.1.0", "imageType": "docker"}],
    "definitions": {"string": {"type": "string"}, "secret": {"type": "string", "writeOnly": True}},
    "parameters": {"p": {"definition": "string", "destination": {"env": "P"}}},
    "credentials": {"c": {"env": "C"}},
    "outputs": {"o": {"definition": "string", "path": "/cnab/app/outputs/o"}},
    "actions": {"io.cnab.status": {"modifies": False, "stateless": False}},
}
TOP_LEVEL = ["schemaVersion", "name", "version", "description", "keywords", "maintainers", "license",
             "invocationImages", "images", "actions", "parameters", "credentials", "outputs", "definitions",
             "custom", "requiredExtensions", "unknownField"]

# Keys and strings that hit the rules: CNAB_ prefixes, reserved and relative paths, "..", NUL, newlines.
tricky_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", ".", "..", "/", "/cnab", "/cnab/app/run", "/cnab/app/outputs", "/cnab/app/outputs/",
                     "/cnab/app/outputs/../x", "/cnab/app/outputs//a", "CNAB_X", "A=B", "a\0b", "a\nb", "v1",
                     "v1.2.0\n", "1.0.0", "install", "upgrade", "io.cnab.status", "string", "secret", "x/y",
                     "\u2028", "\ud7ff", "\ud800", "x\udfffy", "sha256:" + "0" * 64]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), tricky_text)
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(tricky_text, children, max_size=5)), max_leaves=30)

destinations = st.fixed_dictionaries({}, optional={"env": tricky_text, "path": tricky_text})
parameter = st.fixed_dictionaries({"definition": st.one_of(st.sampled_from(["string", "secret"]), tricky_text),
                                   "destination": st.one_of(destinations, json_values)},
                                  optional={"applyTo": st.lists(tricky_text, max_size=3), "required": json_values,
                                            "description": json_values})
credential = st.fixed_dictionaries({}, optional={"env": tricky_text, "path": tricky_text, "required": st.booleans(),
                                                 "applyTo": st.lists(tricky_text, max_size=3)})
output = st.fixed_dictionaries({"definition": st.sampled_from(["string", "secret", "missing"]), "path": tricky_text},
                               optional={"applyTo": st.lists(tricky_text, max_size=3)})
image = st.fixed_dictionaries({"image": tricky_text},
                              optional={"imageType": tricky_text, "contentDigest": tricky_text, "size": json_values,
                                        "labels": json_values, "mediaType": tricky_text})
schema_like = st.recursive(
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["string", "integer", "object", "array", "bogus", 3]),
                                        "writeOnly": json_values, "default": json_values, "minimum": json_values,
                                        "pattern": st.sampled_from(["^a+$", "(", "[", "\\"]), "$ref": tricky_text}),
    lambda children: st.fixed_dictionaries({}, optional={"properties": st.dictionaries(tricky_text, children,
                                                                                       max_size=3),
                                                         "items": children, "anyOf": st.lists(children, max_size=3)}),
    max_leaves=10)
FIELD_VALUES = {
    "invocationImages": st.lists(st.one_of(image, json_values), max_size=3),
    "images": st.dictionaries(tricky_text, st.one_of(image, json_values), max_size=3),
    "parameters": st.dictionaries(tricky_text, st.one_of(parameter, json_values), max_size=4),
    "credentials": st.dictionaries(tricky_text, st.one_of(credential, json_values), max_size=4),
    "outputs": st.dictionaries(tricky_text, st.one_of(output, json_values), max_size=4),
    "definitions": st.dictionaries(st.sampled_from(["string", "secret", "x"]) | tricky_text,
                                   st.one_of(schema_like, json_values), max_size=4),
    "actions": st.dictionaries(tricky_text, st.one_of(json_values, st.fixed_dictionaries(
        {}, optional={"modifies": json_values, "stateless": json_values})), max_size=3),
    "requiredExtensions": st.lists(tricky_text, max_size=3),
}


@st.composite
def mutated_bundles(draw):
    document = json.loads(json.dumps(BASE))
    for field in draw(st.lists(st.sampled_from(TOP_LEVEL), min_size=1, max_size=4, unique=True)):
        how = draw(st.sampled_from(["drop", "any", "shaped"]))
        if how == "drop":
            document.pop(field, None)
        elif how == "shaped" and field in FIELD_VALUES:
            document[field] = draw(FIELD_VALUES[field])
        else:
            document[field] = draw(json_values)
    return document


def check_document_bytes(tmp_path, raw):
    """Load and validate ``raw``; accepted bundles must be usable, rejections clean."""
    path = tmp_path / "bundle.json"
    path.write_bytes(raw)
    RUN["bundle documents"] += 1
    try:
        bundle = load_bundle(str(tmp_path))
        bundle.validate()
    except BundleError as exc:
        message = str(exc)
        assert message and message.endswith(".") and "\n" not in message, repr(message)
        assert len(message) < 4000, message[:200]
        assert "Traceback" not in message
        return False
    RUN["accepted bundle documents"] += 1
    # Accepted: what the runtime asks of a bundle must work, or fail with a clean error of its own
    # (a bundle whose only invocation image has another imageType cannot run on Docker).
    assert bundle.digest.startswith("sha256:")
    try:
        bundle.invocation_image()
    except BundleError as exc:
        assert "has no invocation image" in str(exc)
    for name in bundle.parameters:
        bundle.is_sensitive_parameter(name)
    for name in bundle.outputs:
        bundle.is_sensitive_output(name)
    for name in list(bundle.custom_actions) + ["install", "upgrade", "uninstall"]:
        bundle.action(name)
    return True


def dump(document):
    return json.dumps(document, allow_nan=True).encode("utf-8")


@fuzz_settings()
@given(document=json_values)
def test_arbitrary_json_is_accepted_or_cleanly_rejected(tmp_path_factory, document):
    check_document_bytes(tmp_path_factory.mktemp("doc"), dump(document))


@fuzz_settings()
@given(document=mutated_bundles())
def test_mutated_bundles_are_accepted_or_cleanly_rejected(tmp_path_factory, document):
    check_document_bytes(tmp_path_factory.mktemp("doc"), dump(document))


@fuzz_settings()
@given(raw=st.one_of(st.binary(max_size=200),
                     st.builds(lambda doc, cut: dump(doc)[:cut], mutated_bundles(), st.integers(0, 400)),
                     st.builds(lambda doc, junk: dump(doc) + junk, mutated_bundles(), st.binary(min_size=1, max_size=8))))
def test_raw_and_truncated_bytes_are_cleanly_rejected(tmp_path_factory, raw):
    check_document_bytes(tmp_path_factory.mktemp("doc"), raw)


def nested(depth, kind):
    """JSON text nested ``depth`` levels, built as text so that building it does not recurse."""
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "dict":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"properties":{"x":' * depth + "{}" + "}}" * depth  # a schema nested in a definition


@fuzz_settings(examples=max(EXAMPLES // 10, 20))
@given(depth=st.one_of(st.integers(1, 150), st.integers(150, 3000), st.integers(3000, 200000)),
       kind=st.sampled_from(["list", "dict", "schema"]),
       where=st.sampled_from(["custom", "definitions", "parameters", "root", "description"]))
def test_deeply_nested_documents_are_cleanly_handled(tmp_path_factory, depth, kind, where):
    inner = nested(depth, kind)
    base = dump(BASE).decode()
    if where == "root":
        text = inner
    elif where == "definitions":
        text = base[:-1] + ',"definitions":{"deep":%s}}' % inner
        text = text.replace('"definitions":{"string"', '"unusedDefinitions":{"string"', 1)
    elif where == "parameters":
        text = base[:-1] + ',"parameters":{"p":{"definition":"string","destination":%s}}}' % inner
        text = text.replace('"parameters":{"p":{"definition":"string","destination":{"env":"P"}}}', '"x":1', 1)
    else:
        text = base[:-1] + ',"%s":%s}' % (where, inner)
    check_document_bytes(tmp_path_factory.mktemp("deep"), text.encode())


@fuzz_settings(examples=max(EXAMPLES // 30, 8))
@given(count=st.integers(1, 20000), length=st.integers(0, 4 * 1024 * 1024),
       where=st.sampled_from(["parameters", "outputs", "definitions", "description", "images", "custom"]))
def test_huge_documents_are_cleanly_handled(tmp_path_factory, count, length, where):
    document = json.loads(json.dumps(BASE))
    filler = (string.ascii_letters * (length // 52 + 1))[:length]
    if where == "parameters":
        document["parameters"] = {"p%d" % i: {"definition": "string", "destination": {"env": "P%d" % i}}
                                  for i in range(count)}
        document["parameters"]["p0"]["description"] = filler
    elif where == "outputs":
        document["outputs"] = {"o%d" % i: {"definition": "string", "path": "/cnab/app/outputs/o%d" % i}
                               for i in range(count)}
        document["outputs"]["o%d" % (count - 1)]["path"] = "/cnab/app/outputs/o0"  # a late duplicate when count > 1
    elif where == "definitions":
        document["definitions"] = {"d%d" % i: {"type": "string", "maxLength": i} for i in range(count)}
        document["definitions"]["string"] = {"type": "string", "pattern": filler[:100000] or "x"}
    elif where == "images":
        document["images"] = {"i%d" % i: {"image": "r/i:%d" % i, "size": -1 if i == count - 1 else i}
                              for i in range(count)}
    elif where == "custom":
        document["custom"] = {"k%d" % i: [filler[:1000]] for i in range(count)}
    else:
        document["description"] = filler
    check_document_bytes(tmp_path_factory.mktemp("huge"), dump(document))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "9007199254740992", "-9007199254740992",
                                      '"\\ud800"', '{"\\udc00":1}'])
def test_numbers_canonical_json_cannot_hold_are_rejected_before_the_digest_needs_them(tmp_path, constant):
    # Found by the long run: json.loads accepts these, RFC 8785 cannot write them.
    raw = dump(BASE)[:-1] + b',"custom":{"x":[1,%s]}}' % constant.encode()
    assert check_document_bytes(tmp_path, raw) is False


@pytest.mark.skipif(not LONG_RUN, reason="the long run (make fuzz) checks how many documents it generated")
def test_the_long_run_generated_at_least_10000_documents():
    assert RUN["bundle documents"] >= 10000, RUN
    assert RUN["accepted bundle documents"] > 0, RUN  # the generators reach valid documents too
    print("fuzzed bundle documents:", dict(RUN))
