"""RegistryClient's reading of a Docker config file (``registry_auth.docker_config``): inline ``auth``, then
the registry's ``credHelpers`` program, then ``credsStore``, name after name; an ``identitytoken`` becomes the
token. The reading is the collection's own: it needs no oras-py (the registry tests in tests/integration run
it against real registries)."""

import base64
import json
import os
import sys

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient

REGISTRY = "registry.example.com:5000"


def _basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@pytest.fixture
def helpers(tmp_path, monkeypatch):
    """docker-credential-good answers for REGISTRY (and logs each host asked), docker-credential-bad fails."""
    directory = tmp_path / "bin"
    directory.mkdir()
    asked = tmp_path / "asked"
    good = directory / "docker-credential-good"
    good.write_text('#!/bin/sh\nread host\necho "$host" >> %s\ncase "$host" in %s) ;; *) exit 1 ;; esac\n'
                    'echo \'{"Username":"helped","Secret":"s3cret"}\'\n' % (asked, REGISTRY))
    bad = directory / "docker-credential-bad"
    bad.write_text("#!/bin/sh\necho no >&2\nexit 3\n")
    for program in (good, bad):
        program.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (directory, os.environ["PATH"]))
    monkeypatch.setitem(sys.modules, "oras", None)  # any import of oras-py now fails
    monkeypatch.setitem(sys.modules, "oras.auth", None)
    return asked


def _credentials(tmp_path, config, **options):
    directory = tmp_path / ("config-%d" % len(list(tmp_path.iterdir())))
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config))
    client = RegistryClient(dict(options, docker_config=str(directory)), REGISTRY)
    return client._basic_credentials(), client.options["token"]


def test_inline_auth_comes_before_any_helper(helpers, tmp_path):
    inline = _basic("inline", "pw")
    config = {"auths": {REGISTRY: {"auth": inline}}, "credHelpers": {REGISTRY: "good"}, "credsStore": "good"}
    assert _credentials(tmp_path, config) == (inline, None)
    assert not helpers.exists()


def test_the_registry_helper_then_the_store_answer(helpers, tmp_path):
    helped = _basic("helped", "s3cret")
    assert _credentials(tmp_path, {"credHelpers": {REGISTRY: "good"}, "credsStore": "bad"}) == (helped, None)
    # a failing or missing helper is passed over for the store
    assert _credentials(tmp_path, {"credHelpers": {REGISTRY: "bad"}, "credsStore": "good"}) == (helped, None)
    assert _credentials(tmp_path, {"credHelpers": {REGISTRY: "absent"}, "credsStore": "good"}) == (helped, None)
    # an entry without ``auth`` is no answer either
    assert _credentials(tmp_path, {"auths": {REGISTRY: {}}, "credsStore": "good"}) == (helped, None)
    assert helpers.read_text().split() == [REGISTRY] * 4


def test_names_are_tried_in_turn_and_nothing_found_is_anonymous(helpers, tmp_path):
    inline = _basic("by-url", "pw")
    assert _credentials(tmp_path, {"auths": {"https://" + REGISTRY: {"auth": inline}}}) == (inline, None)
    # the store is asked for the name, then for its https:// form; it knows neither
    assert _credentials(tmp_path, {"auths": {"other.example.com": {"auth": inline}}, "credsStore": "bad"}) == (
        None, None)
    assert _credentials(tmp_path, {"credHelpers": {"other.example.com": "good"}}) == (None, None)
    assert not helpers.exists()


def test_an_identity_token_becomes_the_token_unless_one_is_given(helpers, tmp_path):
    config = {"auths": {REGISTRY: {"identitytoken": "refresh-me"}}}
    assert _credentials(tmp_path, config) == (None, "refresh-me")
    assert _credentials(tmp_path, config, token="given") == (None, "given")
    helped = dict(config, credsStore="good")  # credentials found win; the token is not taken then
    assert _credentials(tmp_path, helped) == (_basic("helped", "s3cret"), None)


def test_explicit_credentials_are_not_looked_up(helpers, tmp_path):
    config = {"auths": {REGISTRY: {"auth": _basic("inline", "pw")}}}
    assert _credentials(tmp_path, config, username="u", password="p") == (_basic("u", "p"), None)
