"""Masking (issue 16, items 3 and 10): every encoding a runtime or tool writes a secret in, short
secrets as whole tokens, outputs holding a secret input, the masking of a run that failed early,
and control characters in destination paths (item 8)."""

import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import lookup, runtime, transfer
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK as M
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.bundle_validation import validate_bundle_document
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
from ansible_collections.cnab.runtime.plugins.module_utils.errors import (
    BundleValidationError,
    DriverError,
    ParameterError,
)
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME, PASSWORD, TOKEN

SECRET = 'a<b>&c"d\\e\u00e9\tf\x00g\U0001f600-Q7'


# ---- encodings -------------------------------------------------------------------------------
# The expected texts are what Go 1.22 and Python write for SECRET (Go's documented rules:
# strconv.Quote escapes \a\b\f\n\r\t\v, other C0 bytes and DEL as \xNN, non-printable runes as
# \u/\U; QuoteToASCII also every non-ASCII rune; encoding/json escapes <, > and & as \u003c ...).

GO_QUOTE = 'a<b>&c\\"d\\\\e\u00e9\\tf\\x00g\U0001f600-Q7'
GO_QUOTE_ASCII = 'a<b>&c\\"d\\\\e\\u00e9\\tf\\x00g\\U0001f600-Q7'
GO_JSON = 'a\\u003cb\\u003e\\u0026c\\"d\\\\e\u00e9\\tf\\u0000g\U0001f600-Q7'


@pytest.mark.parametrize("printed", [
    SECRET,
    json.dumps(SECRET)[1:-1],  # Python's default: \u00e9, a surrogate pair for the emoji
    json.dumps(SECRET, ensure_ascii=False)[1:-1],
    json.dumps(json.dumps(SECRET)[1:-1])[1:-1],  # JSON inside a JSON string
    GO_QUOTE,
    GO_QUOTE_ASCII,
    'a<b>&c\\"d\\\\e\\u00E9\\tf\\x00g\\U0001F600-Q7',  # upper-case hex digits
    GO_JSON,
    GO_JSON.replace("\\u003c", "\\u003C").replace("\\u003e", "\\u003E"),
    SECRET.replace("\u00e9", "\\xc3\\xa9"),  # the UTF-8 bytes of a rune, as %q writes bytes
    json.dumps(SECRET).replace("\\u00e9", "\\u00E9")[1:-1],
], ids=["raw", "json-ascii", "json", "json-in-json", "go-quote", "go-quote-ascii", "go-quote-upper", "go-json",
        "go-json-upper", "utf8-bytes", "json-upper"])
def test_every_encoding_of_a_secret_is_masked(printed):
    masker = v.Masker([SECRET])
    assert masker.mask("before %s after" % printed) == "before %s after" % M
    assert masker.finds("x%sy" % printed)


def test_encoded_forms_hold_each_encoding_in_both_hex_cases():
    forms = v.encoded_forms(SECRET)
    for form in (SECRET, GO_QUOTE, GO_QUOTE_ASCII, GO_JSON, json.dumps(SECRET)[1:-1],
                 json.dumps(SECRET)[1:-1].replace("\\u00e9", "\\u00E9").replace("\\ud83d\\ude00", "\\uD83D\\uDE00")):
        assert form in forms, form


def test_upper_case_forms_change_only_the_hex_digits_of_escapes():
    forms = v.encoded_forms("\u00e9abc\x00def")
    assert "\\u00E9abc\\u0000def" in forms and "\\u00e9abc\\x00def" in forms
    assert not any("ABC" in form or "DEF" in form for form in forms)


def test_the_secrets_handed_to_ansible_cover_the_go_quoting_of_a_nul():
    secrets = v.Masker(["canary-tok\x00tail"]).secrets
    assert "canary-tok\\x00tail" in secrets and "canary-tok\\u0000tail" in secrets and "canary-tok\x00tail" in secrets


def test_other_text_is_left_alone():
    masker = v.Masker([SECRET, "s3cr3t-value"])
    text = 'nothing here: a<b> \\u003c s3cr3t-valu "s3cr3t\\u002dvalue"'
    assert masker.mask(text) == text and not masker.finds(text)


def test_a_value_beyond_the_pattern_limit_is_masked_by_its_exact_forms():
    big = {"key": "x" * 5000 + "<tail>"}
    masker = v.Masker([big])
    assert masker.mask("got " + json.dumps(big)) == "got " + M
    assert masker.mask("got " + json.dumps(big["key"]).replace("<", "\\u003c").replace(">", "\\u003e")) == 'got "%s"' % M


# ---- short secrets -----------------------------------------------------------------------------

@pytest.mark.parametrize("secret, text, expected", [
    ("t", 'action "install" of installation short failed: api_token=t', 'action "install" of installation short'
     ' failed: api_token=%s' % M),
    ("t", "t", M),
    ("t", "line\\nt\\n", "line\\n%s\\n" % M),  # after an escaped line break, as in JSON logs
    ("80", "port 8080, then 80 and :80/", "port 8080, then %s and :%s/" % (M, M)),
    ("yes", "eyes: yes; yesterday", "eyes: %s; yesterday" % M),
    (1, "revision 1 of 10 (id 01M8)", "revision %s of 10 (id 01M8)" % M),
    ("<", "a<b < c", "a%sb %s c" % (M, M)),  # no letter or digit: masked wherever it is
], ids=["one-char", "alone", "after-escape", "port", "word", "number", "punctuation"])
def test_short_secrets_are_masked_only_as_whole_tokens(secret, text, expected):
    assert v.Masker([secret]).mask(text) == expected


def test_short_secrets_are_not_handed_to_substring_masking_and_are_named_in_a_warning():
    masker = v.Masker()
    masker.add("t", 'credential "api_token"')
    masker.add("long-enough", 'credential "other"')
    masker.add({"pin": 42, "user": "admin-1"}, 'parameter "login"')
    assert "t" not in masker.secrets and "42" not in masker.secrets and "long-enough" in masker.secrets
    assert masker.short_values == ["42", "t"]
    warnings = v.weak_secret_warnings(masker)
    assert len(warnings) == 2
    assert warnings[0].startswith('credential "api_token" is shorter than %d characters, so it cannot be masked '
                                  "reliably" % v.MIN_SECRET_LENGTH)
    assert warnings[1].startswith('parameter "login" is shorter')


def test_combined_masker_keeps_both_sets_and_their_labels():
    one, two = v.Masker(), v.Masker()
    one.add("first-secret")
    two.add("ab", 'output "x"')
    both = one.combined(two)
    assert both.mask("first-secret ab") == "%s %s" % (M, M)
    assert both.weak == {'output "x"'}


# ---- outputs that hold a secret input ----------------------------------------------------------

def test_output_holding_a_secret_loses_its_digest():
    masker = v.Masker(["tok-1234"])
    outputs = {"plain": b"nothing", "copy": b"token=tok-1234",
               "escaped": json.dumps({"t": "tok-1234<"}).encode(), "declared": b"tok-1234"}
    metadata = {name: {"contentDigest": "sha256:x", "generatedByBundle": "true"} for name in outputs}
    found = v.outputs_holding_secrets(outputs, metadata, {"declared"}, masker)
    assert found == {"copy", "escaped"}
    assert "contentDigest" not in metadata["copy"] and "contentDigest" in metadata["plain"]
    assert "contentDigest" in metadata["declared"]  # not ours to change: it is declared sensitive


def test_a_secret_copied_into_a_plain_output_is_stored_and_returned_as_sensitive(h, driver, tmp_path):
    driver.outputs = lambda op: {"/cnab/app/outputs/endpoint": ("http://u:%s@showcase" % TOKEN).encode(),
                                 "/cnab/app/outputs/summary": json.dumps({"port": 1, "replicas": 1, "tier": "dev",
                                                                          "action": PASSWORD}).encode(),
                                 "/cnab/app/outputs/admin_secret": b"declared"}
    response = h.install()
    assert response.outputs["endpoint"] == M and response.outputs["summary"] == M
    assert sorted(w for w in response.warnings if w.startswith("output ")) == [
        v.secret_output_warning("endpoint"), v.secret_output_warning("summary")]
    shared = {path: content for path, content in h.files().items() if "/sensitive/" not in path}
    assert not any(TOKEN.encode() in c or PASSWORD.encode() in c for c in shared.values()), sorted(shared)
    info = lookup.describe_installation(h.store, NAME)
    assert info["outputs"]["endpoint"] == M and info["outputs"]["summary"] == M
    assert info["sensitive_outputs"] == ["admin_secret", "endpoint", "summary"]
    revealed = lookup.describe_installation(h.store, NAME, reveal=True)
    assert TOKEN in revealed["outputs"]["endpoint"]
    # A copy to another store keeps them apart from the shareable records too.
    destination = LocalStore(str(tmp_path / "copy"))
    transfer.copy_installations(h.store, destination, [NAME], 5)
    copied = lookup.describe_installation(destination, NAME)
    assert copied["outputs"]["endpoint"] == M and copied["sensitive_outputs"] == info["sensitive_outputs"]


def test_a_plain_output_without_secrets_keeps_its_digest_and_stays_plain(h, driver):
    h.install()
    info = lookup.describe_installation(h.store, NAME)
    assert info["outputs"]["endpoint"] == "http://showcase:8080"
    assert info["sensitive_outputs"] == ["admin_secret"]


def test_a_driver_error_quoting_a_secret_in_go_syntax_is_masked_in_the_result_record(h, driver):
    """3b: how Docker and runc quote a refused environment variable, whatever the driver, in the record."""
    token = "canary-K9X3\x00tail"
    driver.raises = DriverError('Docker could not run x: environment variable value can\'t contain null(\\x00): '
                                '"API_TOKEN=canary-K9X3\\x00tail": unknown.')
    with pytest.raises(DriverError):
        h.install(credentials={"api_token": token})  # the adapter masks the message (module-level test)
    failed = [r for results in h.installation().results.values() for r in results if r["status"] == "failed"]
    assert len(failed) == 1 and '"API_TOKEN=%s"' % M in failed[0]["message"]
    for path, content in h.files().items():
        assert b"K9X3" not in content, path


# ---- masking a run that failed before its inputs were resolved ---------------------------------

def test_a_broken_bundle_masks_every_given_parameter(h, driver):
    h.install()
    broken = h.tmp_path / "broken.json"
    broken.write_text('{"name": broken')
    names, masker = runtime.sensitive_inputs(h.request("upgrade", bundle=str(broken),
                                                       parameters={"admin_password": PASSWORD, "port": 8081}))
    assert names is None
    assert masker.mask("%s and 8081" % PASSWORD) == "%s and %s" % (M, M)


def test_a_readable_bundle_and_the_recorded_claim_say_which_parameters_are_secret(h, driver):
    h.install()
    document = json.loads(open(h.bundles["showcase"]).read())
    document["definitions"]["password"].pop("writeOnly")  # the new bundle forgot it; the claim remembers
    h.write_bundle("forgetful", document)
    request = h.request("upgrade", bundle="forgetful", parameters={"admin_password": PASSWORD, "port": 8081})
    names, masker = runtime.sensitive_inputs(request)
    assert names == ["admin_password"]
    assert masker.mask("%s 8081" % PASSWORD) == "%s 8081" % M
    names, _masker = runtime.sensitive_inputs(h.request("upgrade", bundle=None,
                                                        parameters={"admin_password": PASSWORD, "port": 1}))
    assert names == ["admin_password"]


def test_a_parameter_an_earlier_claim_recorded_as_sensitive_stays_masked(h, driver):
    """The new bundle forgot writeOnly and fails validation later: the run still masks the value."""
    h.install()
    document = json.loads(open(h.bundles["showcase"]).read())
    document["definitions"]["password"].pop("writeOnly")
    document["version"] = "not-semver"
    h.write_bundle("forgetful-invalid", document)
    learned = []
    with pytest.raises(BundleValidationError):
        runtime.execute(h.request("upgrade", bundle="forgetful-invalid", parameters={"admin_password": PASSWORD},
                                  credentials={"api_token": TOKEN}),
                        on_secrets=lambda masker, names: learned.append((masker, names)))
    masker, names = learned[-1]
    assert names == ["admin_password"]
    assert masker.mask("pw=%s" % PASSWORD) == "pw=" + M


def test_a_registry_bundle_masks_every_given_parameter(h, driver):
    names, _masker = runtime.sensitive_inputs(h.request("install", bundle="127.0.0.1:9/bundles/app:1.0",
                                                        parameters={"port": 8081}))
    assert names is None


# ---- control characters in destination paths (item 8) -----------------------------------------

SHOWCASE_LIKE = {
    "schemaVersion": "v1.2.0", "name": "paths", "version": "1.0.0",
    "invocationImages": [{"image": "example/paths:1", "imageType": "docker"}],
    "definitions": {"text": {"type": "string"}},
    "parameters": {"p": {"definition": "text", "destination": {"path": "/etc/p"}}},
    "credentials": {"c": {"path": "/etc/c"}},
    "outputs": {"o": {"definition": "text", "path": "/cnab/app/outputs/o"}},
}


@pytest.mark.parametrize("where, path", [
    (where, path) for where in ("parameter", "credential")
    for path in ("/cnab/claim.json\x00", "/cnab/app/outputs\x00", "/etc/a\nb", "/etc/\x7fx", "/etc/\x85x")
] + [("output", "/cnab/app/outputs/o" + end) for end in ("\x00", "\x00/../../claim.json", "\x7f", "\x9b")])
def test_validation_refuses_control_characters_in_destination_paths(where, path):
    document = json.loads(json.dumps(SHOWCASE_LIKE))
    if where == "parameter":
        document["parameters"]["p"]["destination"]["path"] = path
    elif where == "credential":
        document["credentials"]["c"]["path"] = path
    else:
        document["outputs"]["o"]["path"] = path
    with pytest.raises(BundleValidationError) as raised:
        validate_bundle_document(document)
    assert "holds a control character (such as NUL or a line break)" in str(raised.value)
    assert str(raised.value).count(". ") == 0


def test_the_runtime_never_hands_a_control_character_path_to_a_driver():
    document = json.loads(json.dumps(SHOWCASE_LIKE))
    document["parameters"]["p"]["destination"]["path"] = "/cnab/claim.json\x00"
    with pytest.raises(ParameterError, match=r'parameter "p" path "/cnab/claim.json\\u0000" holds a control'):
        v.parameter_destinations(Bundle(document), "install", {"p": "x"})
