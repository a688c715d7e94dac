"""Bundle shapes real tools write, through cnab_install ad hoc on the Docker engine: Porter v1's
schemaVersion "1.2.0" and an applyTo naming an undeclared action run (with a warning); versions
that are not CNAB 1.x and unsupported extensions are refused in one sentence, before anything runs."""

import json
import os

import pytest
from support import HELLO, store_files

WARNING = ('parameter "greeting" of bundle "hello" applies to "non-applicable-action", which the bundle does not'
           " declare as an action")


def _bundle_dir(tmp_path, edit):
    with open(os.path.join(HELLO, "bundle.json")) as handle:
        document = json.load(handle)
    edit(document)
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "bundle.json").write_text(json.dumps(document))
    return str(target)


def _porter_shaped(document):
    document["schemaVersion"] = "1.2.0"  # cnab-go's default, so every `porter build` v1
    document["parameters"]["greeting"]["applyTo"] = ["install", "upgrade", "non-applicable-action"]


def test_porter_schema_version_and_loose_apply_to_install_in_four_steps(ansible, tmp_path):
    args = {"installation": "porter-forms", "bundle": _bundle_dir(tmp_path, _porter_shaped)}
    steps = [ansible.adhoc("cnab_install", args, flag) if flag else ansible.adhoc("cnab_install", args)
             for flag in ("--check", None, None, "--check")]
    assert [(r.get("failed", False), r["changed"]) for r, _unused in steps] == [
        (False, True), (False, True), (False, False), (False, False)], [raw for _unused, raw in steps]
    assert steps[1][0]["operation"] == "install" and steps[1][0]["outputs"]["message"].startswith("Hello")
    # The warning comes with the runs that do something, not with the no-ops.
    assert [WARNING in " ".join(raw.split()) for _unused, raw in steps] == [True, True, False, False]


@pytest.mark.parametrize("schema_version", ["v99.98", "99.99", "2.0.0"])
def test_a_schema_version_that_is_not_cnab_1_is_refused_in_one_sentence(ansible, tmp_path, schema_version):
    bundle = _bundle_dir(tmp_path, lambda d: d.update(schemaVersion=schema_version))
    result, raw = ansible.adhoc("cnab_install", {"installation": "bad-version", "bundle": bundle})
    assert result.get("failed") is True, raw
    assert result["msg"] == (f'bundle.json is invalid at schemaVersion: "{schema_version}" is not a CNAB 1.x schema'
                             " version such as v1.2.0 or 1.2.0.")
    assert not any("/claims/" in p for p in store_files(ansible.home))


def test_unsupported_extensions_are_all_named_in_one_sentence(ansible, tmp_path):
    bundle = _bundle_dir(tmp_path, lambda d: d.update(requiredExtensions=["donuts", "org.getporter.dependencies@v2"]))
    result, raw = ansible.adhoc("cnab_install", {"installation": "bad-ext", "bundle": bundle})
    assert result.get("failed") is True, raw
    assert result["msg"] == ('bundle "hello" requires the extensions "donuts" and "org.getporter.dependencies@v2", which'
                             " cnab.runtime does not support.")
    assert not any("/claims/" in p for p in store_files(ansible.home))
