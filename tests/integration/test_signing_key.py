"""cnab_signing_key through Ansible: four steps, file modes, formats, and secrets kept out of output."""

import os
import stat

import pytest
from support import Ansible

from ansible_collections.cnab.runtime.plugins.module_utils.signing import keys

PASSPHRASE = "pass-phrase-7f3a"  # unique, so that finding it in the output is meaningful


@pytest.fixture
def runner(collections_path, tmp_path):
    return Ansible(collections_path, str(tmp_path / "cnab-home"))


@pytest.mark.parametrize("key_format", ["cosign", "pkcs8"])
def test_four_steps_make_the_pair_once(runner, tmp_path, key_format):
    path = str(tmp_path / "keys" / "cosign.key")
    args = {"path": path, "passphrase": PASSPHRASE, "format": key_format}
    steps = []
    for flags in (["--check"], [], [], ["--check"]):
        result, output = runner.adhoc("cnab_signing_key", args, *flags)
        assert not result.get("failed"), output
        assert PASSPHRASE not in output
        steps.append(result)
    assert [step["changed"] for step in steps] == [True, True, False, False]
    public = str(tmp_path / "keys" / "cosign.pub")
    assert steps[0]["created"] == [path, public] and steps[0]["fingerprint"] is None
    assert steps[1]["created"] == [path, public]
    assert steps[2]["created"] == [] and steps[2]["updated"] == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    fingerprint = keys.load_public_key(public).fingerprint
    assert steps[1]["fingerprint"] == steps[2]["fingerprint"] == steps[3]["fingerprint"] == fingerprint
    assert keys.load_private_key(path, PASSPHRASE).fingerprint == fingerprint
    with open(path, "rb") as handle:
        head = handle.readline()
    assert head == (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" if key_format == "cosign"
                    else b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")


def test_a_lost_public_key_is_rewritten_and_a_loose_mode_fixed(runner, tmp_path):
    path = str(tmp_path / "signer.pem")
    runner.env["CNAB_SIGNING_KEY_PASSWORD"] = PASSPHRASE  # the environment fallback
    first, output = runner.adhoc("cnab_signing_key", {"path": path})
    assert first["changed"] and first["public_key"] == path + ".pub", output
    os.unlink(path + ".pub")
    os.chmod(path, 0o644)
    check, _output = runner.adhoc("cnab_signing_key", {"path": path}, "--check")
    assert check["changed"] and check["created"] == [path + ".pub"] and check["updated"] == [path]
    assert not os.path.exists(path + ".pub")
    again, _output = runner.adhoc("cnab_signing_key", {"path": path})
    assert again["changed"] and again["fingerprint"] == first["fingerprint"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert keys.load_public_key(path + ".pub").fingerprint == first["fingerprint"]


def test_wrong_passphrase_and_orphan_public_key_fail_with_one_sentence(runner, tmp_path):
    path = str(tmp_path / "cosign.key")
    runner.adhoc("cnab_signing_key", {"path": path, "passphrase": PASSPHRASE})
    result, output = runner.adhoc("cnab_signing_key", {"path": path, "passphrase": "not-it-91c2"})
    assert result["failed"] and result["msg"] == "signing key %s cannot be decrypted: the passphrase is wrong." % path
    assert "not-it-91c2" not in output
    orphan = str(tmp_path / "other.key")
    with open(str(tmp_path / "other.pub"), "w") as handle:
        handle.write("x")
    result, _output = runner.adhoc("cnab_signing_key", {"path": orphan})
    assert result["failed"] and "exists but its private key" in result["msg"]
    assert not os.path.exists(orphan)
