"""values: parameters, credentials, fingerprints, outputs and masking, on a synthetic bundle."""

import base64
import hashlib
import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK, ActionInfo, Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CredentialError, ParameterError

INSTALL = ActionInfo("install", modifies=True, stateless=False)
UNINSTALL = ActionInfo("uninstall", modifies=True, stateless=False)
HELP = ActionInfo("help", modifies=False, stateless=True)

DOCUMENT = {
    "schemaVersion": "v1.2.0",
    "name": "acme",
    "version": "1.0.0",
    "invocationImages": [{"image": "acme:1", "imageType": "docker"}],
    "definitions": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
        "count": {"type": "integer"},
        "text": {"type": "string"},
        "password": {"type": "string", "minLength": 8, "writeOnly": True},
        "pin": {"type": "integer", "maximum": 9999, "writeOnly": True},
        "flag": {"type": "boolean", "default": False},
        "config": {"type": "object", "default": {"tier": "dev"}, "additionalProperties": False,
                   "properties": {"tier": {"type": "string", "enum": ["dev", "prod"]}}},
        "summary": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}}},
        "note": {"type": "string", "default": "none"},
        "token": {"type": "object", "writeOnly": True, "required": ["token"],
                  "properties": {"token": {"type": "string", "pattern": "^tok_"}}},
    },
    "parameters": {
        "port": {"definition": "port", "destination": {"env": "PORT"}},
        "name": {"definition": "text", "destination": {"env": "NAME", "path": "etc/app/name"}},
        "password": {"definition": "password", "required": True, "applyTo": ["install", "upgrade"],
                     "destination": {"env": "PASSWORD", "path": "/etc/app/password"}},
        "pin": {"definition": "pin", "destination": {"env": "PIN"}},
        "flag": {"definition": "flag", "destination": {"env": "FLAG"}},
        "config": {"definition": "config", "destination": {"path": "/etc/app/config.json"}},
        "count": {"definition": "count", "required": True, "applyTo": ["scale"], "destination": {"env": "COUNT"}},
    },
    "credentials": {
        "always": {"env": "ALWAYS", "required": True},
        "token": {"env": "TOKEN", "required": True, "applyTo": ["install"]},
        "kubeconfig": {"path": "/root/.kube/config"},
    },
    "outputs": {
        "summary": {"definition": "summary", "path": "/cnab/app/outputs/summary"},
        "note": {"definition": "note", "path": "/cnab/app/outputs/note"},
        "blob": {"definition": "text", "path": "/cnab/app/outputs/blob"},
        "secret": {"definition": "password", "path": "/cnab/app/outputs/secret"},
        "api_token": {"definition": "token", "path": "/cnab/app/outputs/api_token", "applyTo": ["rotate"]},
        "scaled": {"definition": "count", "path": "/cnab/app/outputs/scaled", "applyTo": ["scale"]},
    },
    "actions": {"scale": {"modifies": True}, "rotate": {"modifies": True}, "help": {"stateless": True}},
}


@pytest.fixture
def bundle():
    return Bundle(json.loads(json.dumps(DOCUMENT)))


# ---- parameters -----------------------------------------------------------------------------


def test_defaults_fill_in_and_parameters_without_default_are_left_out(bundle):
    assert v.resolve_parameters(bundle, {}) == {"port": 8080, "flag": False, "config": {"tier": "dev"}}


@pytest.mark.parametrize("given,name,expected", [
    ({"port": 9000}, "port", 9000),
    ({"port": None}, "port", 8080),
    ({"name": "x"}, "name", "x"),
    ({"config": {"tier": "prod"}}, "config", {"tier": "prod"}),
])
def test_given_values_win_over_defaults(bundle, given, name, expected):
    assert v.resolve_parameters(bundle, given)[name] == expected


def test_unknown_parameter_is_refused_by_name(bundle):
    with pytest.raises(ParameterError) as info:
        v.resolve_parameters(bundle, {"port": 1, "nope": 2, "zap": 3})
    message = str(info.value)
    assert '"nope", "zap"' in message and "acme" in message and "port" in message


@pytest.mark.parametrize("given,name,shown", [
    ({"port": 70000}, "port", "70000"),
    ({"port": 0}, "port", "0"),
    ({"config": {"tier": "qa"}}, "config", "qa"),
    ({"flag": "maybe"}, "flag", "maybe"),
])
def test_invalid_public_value_is_named_and_shown(bundle, given, name, shown):
    with pytest.raises(ParameterError) as info:
        v.resolve_parameters(bundle, given)
    assert '"%s"' % name in str(info.value) and shown in str(info.value)


@pytest.mark.parametrize("given,name,secret", [
    ({"password": "hunter2"}, "password", "hunter2"),
    ({"pin": 123456}, "pin", "123456"),
])
def test_invalid_sensitive_value_is_named_but_never_shown(bundle, given, name, secret):
    with pytest.raises(ParameterError) as info:
        v.resolve_parameters(bundle, given)
    assert '"%s"' % name in str(info.value)
    assert secret not in str(info.value)


def test_validation_can_be_skipped(bundle):
    assert v.resolve_parameters(bundle, {"port": 70000}, validate=False)["port"] == 70000


@pytest.mark.parametrize("name,given,expected", [
    ("port", "8080", 8080),
    ("port", " 42 ", 42),
    ("flag", "true", True),
    ("config", '{"tier": "prod"}', {"tier": "prod"}),
    ("name", "8080", "8080"),  # a string definition keeps the string
    ("name", "true", "true"),
])
def test_strings_are_read_as_json_for_non_string_definitions(bundle, name, given, expected):
    value = v.resolve_parameters(bundle, {name: given})[name]
    assert value == expected and type(value) is type(expected)


def test_uncoercible_string_fails_validation(bundle):
    with pytest.raises(ParameterError, match='"port"'):
        v.resolve_parameters(bundle, {"port": "eighty"})


@pytest.mark.parametrize("action,values,missing", [
    ("install", {}, "password"),
    ("upgrade", {}, "password"),
    ("scale", {"password": "long-enough"}, "count"),
])
def test_required_parameters_follow_apply_to(bundle, action, values, missing):
    with pytest.raises(ParameterError) as info:
        v.check_required_parameters(bundle, action, values)
    assert '"%s"' % missing in str(info.value) and '"%s"' % action in str(info.value)


@pytest.mark.parametrize("action,values", [
    ("uninstall", {}),  # password applies to install/upgrade only, count to scale only
    ("install", {"password": "long-enough"}),
    ("scale", {"count": 2}),
])
def test_required_parameters_satisfied(bundle, action, values):
    v.check_required_parameters(bundle, action, values)


def test_parameter_destinations(bundle):
    values = v.resolve_parameters(bundle, {"password": "s3cret-pass", "pin": 1234})
    env, files = v.parameter_destinations(bundle, "install", values)
    assert env == {"PORT": "8080", "NAME": "", "PASSWORD": "s3cret-pass", "PIN": "1234", "FLAG": "false"}
    assert files == {
        "/etc/app/name": "",  # no value, no default: injected as ""
        "/etc/app/password": "s3cret-pass",
        "/etc/app/config.json": '{"tier":"dev"}',  # compact JSON text
    }


def test_parameter_destinations_skip_parameters_that_do_not_apply(bundle):
    env, files = v.parameter_destinations(bundle, "scale", {"count": 3, "password": "s3cret-pass"})
    assert env["COUNT"] == "3" and "PASSWORD" not in env and "/etc/app/password" not in files
    env, _unused = v.parameter_destinations(bundle, "install", {"count": 3})
    assert "COUNT" not in env


@pytest.mark.parametrize("value,text", [
    ("plain", "plain"),
    (8080, "8080"),
    (1.5, "1.5"),
    (False, "false"),
    (None, "null"),
    ({"b": [1, 2], "a": {"x": None}}, '{"a":{"x":null},"b":[1,2]}'),
    (["x", 1], '["x",1]'),
])
def test_to_text(value, text):
    assert v.to_text(value) == text


@pytest.mark.parametrize("path,expected", [
    ("etc/app/name", "/etc/app/name"),
    ("/etc/app/name", "/etc/app/name"),
    ("../../etc/passwd", "/etc/passwd"),
    ("/cnab/app/../app/config", "/cnab/app/config"),
])
def test_relative_destination_paths_are_rooted_at_slash(bundle, path, expected):
    bundle.document["parameters"]["name"]["destination"] = {"path": path}
    _unused, files = v.parameter_destinations(bundle, "install", {"name": "x"})
    assert files[expected] == "x"
    assert sorted(files) == sorted([expected, "/etc/app/config.json", "/etc/app/password"])


@pytest.mark.parametrize("path", ["/cnab/app/outputs/x", "cnab/app/outputs", "/cnab/app/x/../outputs/y"])
def test_destination_under_outputs_is_refused(bundle, path):
    bundle.document["parameters"]["name"]["destination"] = {"path": path}
    with pytest.raises(ParameterError, match='parameter "name"'):
        v.parameter_destinations(bundle, "install", {"name": "x"})


def test_split_and_mask_sensitive_parameters(bundle):
    values = {"port": 1, "password": "s3cret-pass", "pin": 7}
    public, sensitive = v.split_sensitive(bundle, values)
    assert public == {"port": 1} and sensitive == {"password": "s3cret-pass", "pin": 7}
    assert v.masked_parameters(bundle, values) == {"port": 1, "password": SENSITIVE_MASK, "pin": SENSITIVE_MASK}


# ---- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("source,expected", [
    ("tok", "tok"),
    ({"value": "tok"}, "tok"),
    ({"value": 123}, "123"),
    (42, "42"),
])
def test_read_credential_literal(source, expected):
    assert v.read_credential("c", source) == expected


def test_read_credential_from_env(monkeypatch):
    monkeypatch.setenv("CNAB_TEST_TOKEN", "from-env")
    assert v.read_credential("c", {"env": "CNAB_TEST_TOKEN"}) == "from-env"


def test_read_credential_from_missing_env(monkeypatch):
    monkeypatch.delenv("CNAB_TEST_MISSING", raising=False)
    with pytest.raises(CredentialError, match='"c".*CNAB_TEST_MISSING'):
        v.read_credential("c", {"env": "CNAB_TEST_MISSING"})


def test_read_credential_from_path(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    assert v.read_credential("c", {"path": str(tmp_path / "token")}) == "from-file\n"
    with pytest.raises(CredentialError, match='"c"'):
        v.read_credential("c", {"path": str(tmp_path / "absent")})


@pytest.mark.parametrize("source", [{}, {"file": "/x"}, {"value": "a", "env": "B"}])
def test_read_credential_bad_form(source):
    with pytest.raises(CredentialError, match='credential "c" must be'):
        v.read_credential("c", source)


def test_resolve_credentials_reads_declared_ones_and_ignores_others(bundle):
    given = {"always": {"value": "a"}, "token": "t", "undeclared": "u", "kubeconfig": None}
    assert v.resolve_credentials(bundle, INSTALL, given) == {"always": "a", "token": "t"}


@pytest.mark.parametrize("action,given,missing", [
    (INSTALL, {}, "always"),
    (INSTALL, {"always": "a"}, "token"),
    (UNINSTALL, {"token": "t"}, "always"),
])
def test_missing_required_credential_is_named(bundle, action, given, missing):
    with pytest.raises(CredentialError) as info:
        v.resolve_credentials(bundle, action, given)
    assert '"%s"' % missing in str(info.value) and '"%s"' % action.name in str(info.value)


def test_credential_required_only_for_its_actions(bundle):
    assert v.resolve_credentials(bundle, UNINSTALL, {"always": "a"}) == {"always": "a"}


def test_stateless_actions_need_no_credentials(bundle):
    assert v.resolve_credentials(bundle, HELP, {}) == {}


def test_credential_destinations_follow_apply_to(bundle):
    values = {"always": "a", "token": "t", "kubeconfig": "kc"}
    env, files = v.credential_destinations(bundle, "install", values)
    assert env == {"ALWAYS": "a", "TOKEN": "t"} and files == {"/root/.kube/config": "kc"}
    env, _unused = v.credential_destinations(bundle, "uninstall", values)
    assert env == {"ALWAYS": "a"}


# ---- fingerprints ---------------------------------------------------------------------------


def test_fingerprint_is_keyed_and_order_independent():
    mapping = {"a": 1, "b": {"y": 2, "x": [1, 2]}}
    reordered = {"b": {"x": [1, 2], "y": 2}, "a": 1}
    fp = v.fingerprint(b"k1", mapping)
    assert fp == v.fingerprint(b"k1", reordered)
    assert fp != v.fingerprint(b"k2", mapping)
    assert fp != v.fingerprint(b"k1", {"a": 2, "b": {"y": 2, "x": [1, 2]}})
    assert fp != hashlib.sha256(json.dumps(mapping, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert len(fp) == 64


# ---- outputs --------------------------------------------------------------------------------

SUMMARY = b'{"port": 8080}'


def _files(**by_name):
    return {"/cnab/app/outputs/" + name: content for name, content in by_name.items()}


def test_collect_outputs(bundle):
    files = _files(summary=SUMMARY, blob=b"\xff\x00\xfe", secret=b"long-secret-value", scaled=b"3")
    values, metadata, problems = v.collect_outputs(bundle, "install", files)
    assert problems == []
    assert values == {"summary": SUMMARY, "note": b"none", "blob": b"\xff\x00\xfe", "secret": b"long-secret-value"}
    assert metadata["note"] == {"generatedByBundle": "false", "contentDigest": "sha256:" + hashlib.sha256(b"none").hexdigest()}
    assert metadata["summary"] == {"generatedByBundle": "true",
                                   "contentDigest": "sha256:" + hashlib.sha256(SUMMARY).hexdigest()}
    assert "scaled" not in values  # applies to "scale" only


def test_empty_output_has_no_content_digest(bundle):
    _unused, metadata, _unused = v.collect_outputs(bundle, "install", _files(summary=SUMMARY, blob=b"", secret=b"long-secret-value"))
    assert metadata["blob"] == {"generatedByBundle": "true"}


@pytest.mark.parametrize("action,files,name", [
    ("install", _files(blob=b"x", secret=b"long-secret-value"), "summary"),
    ("scale", {}, "scaled"),
])
def test_missing_output_without_default_is_a_problem(bundle, action, files, name):
    values, _unused, problems = v.collect_outputs(bundle, action, files)
    assert name not in values
    assert any('"%s"' % name in p and "/cnab/app/outputs/%s" % name in p for p in problems)


@pytest.mark.parametrize("content", [b'{"port": "x"}', b"{}", b"not json", b"[1]"])
def test_object_outputs_are_validated_as_json(bundle, content):
    files = _files(summary=content, blob=b"x", secret=b"long-secret-value")
    values, _unused, problems = v.collect_outputs(bundle, "install", files)
    assert len(problems) == 1 and problems[0].startswith('output "summary" is invalid')
    assert values["summary"] == content  # kept, so the user can see what the bundle wrote


def test_string_output_constraint_is_checked(bundle):
    files = _files(summary=SUMMARY, blob=b"x", secret=b"short")
    _unused, _unused, problems = v.collect_outputs(bundle, "install", files)
    assert len(problems) == 1 and '"secret"' in problems[0]


def test_invalid_sensitive_output_problem_does_not_show_the_value(bundle):
    files = {"/cnab/app/outputs/api_token": b'{"token": "tok-9f8e7d"}'}
    _unused, _unused, problems = v.collect_outputs(bundle, "rotate", files)
    problem = [p for p in problems if '"api_token"' in p]
    assert problem and "is invalid" in problem[0]
    assert "tok-9f8e7d" not in problem[0]


@pytest.mark.parametrize("name,content,expected", [
    ("summary", SUMMARY, {"port": 8080}),
    ("summary", b"not json", "not json"),
    ("scaled", b"3", 3),
    ("note", b"42", "42"),
    ("blob", "héllo".encode(), "héllo"),
    ("blob", b"\xff\x00\xfe", base64.b64encode(b"\xff\x00\xfe").decode()),
    ("undeclared", b"\x80", base64.b64encode(b"\x80").decode()),
])
def test_output_value(bundle, name, content, expected):
    assert v.output_value(bundle, name, content) == expected


# ---- masking --------------------------------------------------------------------------------

M = SENSITIVE_MASK


@pytest.mark.parametrize("secrets,text,expected", [
    (["abc", "abcdef"], "x abcdef y abc", "x %s y %s" % (M, M)),
    (["abcdef", "abc"], "abcdefabc", M + M),
    ([b"tok-bytes"], "got tok-bytes.", "got %s." % M),
    ([123456], "pin=123456", "pin=" + M),
    ([{"k": "v"}], 'doc={"k":"v"}', "doc=" + M),
    (["tok\n"], "the tok is here", "the %s is here" % M),
    (["", None], "unchanged text", "unchanged text"),
    ([], "unchanged text", "unchanged text"),
])
def test_masker(secrets, text, expected):
    assert v.Masker(secrets).mask(text) == expected


def test_masker_ignores_empty_and_orders_longest_first():
    masker = v.Masker(["", "abcd", "abcdef"])
    masker.add(None)
    masker.add(b"")
    assert masker.secrets == ["abcdef", "abcd"]


OBJECT_SECRET = {"password": "s3cr3t-x"}


@pytest.mark.parametrize("printed", [
    '{"password": "s3cr3t-x"}',  # json.dumps, Python's and most tools' default spacing
    '{"password":"s3cr3t-x"}',  # compact
    '{\n  "password": "s3cr3t-x"\n}',  # indented
], ids=["spaced", "compact", "indented"])
@pytest.mark.parametrize("secret", [OBJECT_SECRET, json.dumps(OBJECT_SECRET), b'{"password":"s3cr3t-x"}'],
                         ids=["dict", "json text", "output bytes"])
def test_object_secret_is_masked_whole_in_every_json_layout(secret, printed):
    assert v.Masker([secret]).mask("got %s." % printed) == "got %s." % M


def test_each_string_leaf_of_an_object_secret_is_masked_alone():
    masker = v.Masker([{"db": {"user": "admin-u1", "password": "s3cr3t-x"}, "hosts": ["h-9a.example"]}])
    assert masker.mask("user=admin-u1 pw=s3cr3t-x host=h-9a.example") == "user=%s pw=%s host=%s" % (M, M, M)


def test_secret_with_quote_and_backslash_is_masked_when_json_escaped():
    secret = 'pa"ss\\w0rd'
    masker = v.Masker([secret])
    assert masker.mask(json.dumps({"password": secret})) == '{"password": "%s"}' % M
    assert masker.mask("raw: " + secret) == "raw: " + M


def test_secret_containing_another_is_masked_whole():
    inner, outer = "s3cr3t-x", "derived-s3cr3t-x-out"
    for order in ([inner, outer], [outer, inner]):
        assert v.Masker(order).mask("a %s b %s" % (outer, inner)) == "a %s b %s" % (M, M)


# ---- sensitivity of nested schemas ----------------------------------------------------------

NESTED_WRITE_ONLY = {
    "properties": {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True}}},
    "items": {"type": "array", "items": {"type": "string", "writeOnly": True}},
    "anyOf": {"anyOf": [{"type": "integer"}, {"type": "string", "writeOnly": True}]},
    "deep": {"type": "object", "properties": {"db": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"key": {"writeOnly": True}}}}}},
}


@pytest.mark.parametrize("definition", list(NESTED_WRITE_ONLY.values()), ids=list(NESTED_WRITE_ONLY))
def test_nested_write_only_makes_parameter_and_output_sensitive(bundle, definition):
    bundle.document["definitions"]["nested"] = definition
    bundle.document["parameters"]["name"]["definition"] = "nested"
    bundle.document["outputs"]["blob"]["definition"] = "nested"
    assert bundle.is_sensitive_parameter("name") and bundle.is_sensitive_output("blob")


@pytest.mark.parametrize("definition", [
    {"type": "object", "properties": {"password": {"type": "string"}}},
    {"type": "object", "default": {"writeOnly": True}},  # a value that looks like a schema is data
    {"type": "string", "enum": [{"writeOnly": True}]},
])
def test_schema_without_write_only_is_not_sensitive(bundle, definition):
    bundle.document["definitions"]["nested"] = definition
    bundle.document["parameters"]["name"]["definition"] = "nested"
    bundle.document["outputs"]["blob"]["definition"] = "nested"
    assert not bundle.is_sensitive_parameter("name") and not bundle.is_sensitive_output("blob")
