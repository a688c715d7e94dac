"""cnab_bundle through Ansible: check mode, real run, re-run, check-mode re-run."""

import hashlib
import os

import registries as registry_fixtures
from registries import PASSWORD
from support import HELLO

CHECK = "--check"

registries = registry_fixtures.registries  # a pytest fixture, re-exported
repo_name = registry_fixtures.repo_name  # a pytest fixture, re-exported


def four_steps(ansible, args):
    results, outputs = [], []
    for flags in ((CHECK, "--diff"), ("--diff",), (), (CHECK,)):
        result, out = ansible.adhoc("cnab_bundle", args, *flags)
        assert not result.get("failed"), out
        results.append(result)
        outputs.append(out)
    assert [r["changed"] for r in results] == [True, True, False, False], outputs
    four_steps.outputs = outputs
    return results


def test_push_is_idempotent(ansible, registries, repo_name):
    dest = registries.token.ref(repo_name, "v1")
    results = four_steps(ansible, {"src": HELLO, "dest": dest,
                                   "registry_auth": {"username": "cnab", "password": PASSWORD}})
    check, real, rerun, _recheck = results
    assert check["operation"] == "push" and real["operation"] == "push"
    assert real["digest"] == rerun["digest"] and real["reference"] == "%s@%s" % (dest, real["digest"])
    assert "+%s: %s" % (real["reference"], real["digest"]) in four_steps.outputs[1]  # the diff shown
    assert rerun["transfer"]["bytes_uploaded"] == 0 and not rerun["transfer"]["tag_moved"]
    assert PASSWORD not in str(results)


def test_archive_is_idempotent_and_pull_writes_the_stored_bytes(ansible, registries, repo_name, tmp_path):
    pushed, out = ansible.adhoc("cnab_bundle", {"src": HELLO, "dest": registries.open.ref(repo_name, "v1")})
    assert pushed["changed"], out
    tgz = str(tmp_path / "hello.tgz")
    archived = four_steps(ansible, {"src": pushed["reference"], "dest": tgz, "compression": "fast"})[1]
    assert archived["digest"] == pushed["digest"] and os.path.isfile(tgz)
    pulled, out = ansible.adhoc("cnab_bundle", {"src": pushed["reference"], "dest": str(tmp_path / "pulled")})
    assert pulled["changed"] and pulled["operation"] == "pull", out
    with open(tmp_path / "pulled" / "bundle.json", "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == pushed["bundle_digest"][7:]


def test_failure_is_one_sentence_without_secrets(ansible, registries, repo_name):
    result, out = ansible.adhoc("cnab_bundle", {"src": HELLO, "dest": registries.basic.ref(repo_name, "v1"),
                                                "registry_auth": {"username": "cnab", "password": "sekrit-wrong"}})
    assert result.get("failed") and "refused" in result["msg"] and registries.basic.host in result["msg"]
    assert "sekrit-wrong" not in out


def test_an_unchanged_push_needs_neither_oras_nor_jsonschema(ansible, registries, repo_name, tmp_path):
    """What keeps an unchanged re-push cheap: oras-py (which imports jsonschema) is loaded only to read
    a Docker config file or a bearer challenge, so the re-push succeeds with both made unimportable."""
    args = {"src": HELLO, "dest": registries.open.ref(repo_name, "v1")}
    first, out = ansible.adhoc("cnab_bundle", args)
    assert first.get("changed") is True, out
    shim = tmp_path / "shim"
    for package in ("oras", "jsonschema"):
        (shim / package).mkdir(parents=True)
        (shim / package / "__init__.py").write_text('raise ImportError("no module named %s (test shim)")\n' % package)
    ansible.env["PYTHONPATH"] = str(shim)
    again, out = ansible.adhoc("cnab_bundle", args)
    assert again.get("changed") is False and again.get("failed") is not True, out
    assert again["digest"] == first["digest"]
