"""The identifier rules, the record readers, and what the local store refuses to follow."""

import json
import os

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers, transfer
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ActionError, ClaimStoreError
from ansible_collections.cnab.runtime.tests.shared_dir import SHARED

PORTER_HOME = os.path.join(SHARED, "realworld", "porter", "porter_home_v0")
BUNDLE = Bundle({"schemaVersion": "v1.2.0", "name": "b", "version": "1.0.0",
                 "outputs": {"message": {"definition": "string", "path": "/cnab/app/outputs/message"}},
                 "definitions": {"string": {"type": "string"}}})


@pytest.mark.parametrize("value", [model.new_ulid(), model.new_ulid().lower(), "01G1VJGY43HT3KZN82DS6DDPWI",
                                   "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
def test_ulids_are_record_ids(value):
    assert identifiers.is_record_id(value)


@pytest.mark.parametrize("value", ["../../../../X", "/etc/passwd", "..", "", "1", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
                                   "01ARZ3NDEKTSV4RRFFQ69G5FAU", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAV\n",
                                   "01ARZ3NDEKTSV4RRFFQ69G5F\x00V", 26, None])
def test_anything_else_is_not(value):
    assert not identifiers.is_record_id(value)
    assert identifiers.id_problem(value)


def test_every_id_of_the_real_porter_home_is_a_record_id():
    if not os.path.isdir(PORTER_HOME):
        pytest.fail("the real-world fixtures are missing: set CNAB_SHARED to the shared directory")
    ids = set()
    for base, unused, files in os.walk(PORTER_HOME):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(base, name)) as handle:
                    document = json.load(handle)
                ids.update(document[k] for k in ("id", "claimId", "revision") if isinstance(document.get(k), str))
    assert len(ids) > 20 and all(identifiers.is_record_id(i) for i in ids), sorted(ids)


@pytest.mark.parametrize("name", ["..", ".", "a/b", "-a", "", "a" * 254, "a\x00b", None])
def test_installation_names_keep_one_rule(name):
    assert not identifiers.is_installation_name(name)
    with pytest.raises(ActionError, match="installation name"):
        identifiers.check_installation_name(name)


def _claim(installation="app", **changes):
    claim = model.new_claim(installation, "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(), {"modifies": True})
    claim.update(changes)
    return claim


@pytest.mark.parametrize("changes, fragment", [
    ({"custom": "a string"}, "its custom is not a JSON object"),
    ({"bundle": None}, "its bundle is missing"),
    ({"bundle": "a string"}, "its bundle is not a JSON object"),
    ({"parameters": "a string"}, "its parameters is not a JSON object"),
    ({"parameters": [1]}, "its parameters is not a JSON object"),
    ({"custom": {model.RUNTIME_KEY: {"relocationMapping": []}}}, "relocationMapping is not a JSON object"),
    ({"custom": {model.RUNTIME_KEY: {"sensitiveParameters": [1]}}}, "sensitiveParameters is not a list of strings"),
    ({"bundle": {"outputs": {"message": "x"}}}, "outputs entry 'message' is not a JSON object"),
    ({"installation": "victim"}, "it names installation 'victim', not 'app'"),
    ({"id": "../../x"}, "its id '../../x' is not a ULID"),
    ({"action": 1}, "its action is not a non-empty string"),
], ids=["custom", "bundle-missing", "bundle-string", "parameters-string", "parameters-list", "relocation-list",
        "sensitive-names", "bundle-outputs", "installation", "id", "action"])
def test_claims_of_the_wrong_shape_are_refused_naming_the_record(changes, fragment):
    with pytest.raises(model.MalformedRecord, match="^claims/x.json is refused: ") as caught:
        model.read_claim(_claim(**changes), "app", "claims/x.json")
    assert fragment in str(caught.value)


def test_a_record_must_hold_the_id_its_location_names():
    claim = _claim()
    with pytest.raises(model.MalformedRecord, match="not the claim"):
        model.read_claim(claim, "app", "claims/x.json", model.new_ulid())
    assert model.read_claim(claim, "app", "claims/x.json", claim["id"]) is claim


def test_deep_records_are_refused_without_recursion_error():
    with pytest.raises(model.MalformedRecord, match="nested"):
        model.load_record(b"[" * 200000 + b"]" * 200000, "claims/x.json")
    with pytest.raises(model.MalformedRecord, match="more than 110 levels"):
        model.load_record(b"[" * 120 + b"]" * 120, "claims/x.json")


# ---- the local store --------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path):
    store = LocalStore(str(tmp_path / "store"))
    claim = _claim()
    store.write_claim("app", claim, {"password": "pw"})
    result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {}})
    store.write_result("app", result, {"message": b"hello"}, ())
    return store, claim, result


def _path(store, *parts):
    return os.path.join(store.root, "installations", "app", *parts)


def test_a_symlinked_record_directory_is_refused(recorded, tmp_path):
    store = recorded[0]
    os.rename(_path(store, "claims"), str(tmp_path / "claims"))
    os.symlink(str(tmp_path / "claims"), _path(store, "claims"))
    with pytest.raises(ClaimStoreError, match="installations/app/claims is a symbolic link"):
        store.installation("app")


def test_a_symlinked_record_file_is_refused(recorded, tmp_path):
    store, claim, unused = recorded
    target = _path(store, "claims", claim["id"] + ".json")
    os.rename(target, str(tmp_path / "claim.json"))
    os.symlink(str(tmp_path / "claim.json"), target)
    with pytest.raises(ClaimStoreError, match="is a symbolic link"):
        store.installation("app")


def test_a_fifo_among_the_outputs_is_refused_without_blocking(recorded):
    store, unused, result = recorded
    os.mkfifo(_path(store, "outputs", result["id"], "blocked"))
    with pytest.raises(ClaimStoreError, match="is not a regular file"):
        store.output_values("app", result["id"])


def test_a_symlinked_fingerprint_key_is_refused(tmp_path):
    store = LocalStore(str(tmp_path / "store"))
    os.makedirs(store.root)
    (tmp_path / "key").write_bytes(b"k" * 32)
    os.symlink(str(tmp_path / "key"), os.path.join(store.root, "fingerprint.key"))
    with pytest.raises(ClaimStoreError, match="fingerprint.key is a symbolic link"):
        store.fingerprint_key()


def test_sensitive_parameters_of_the_wrong_shape_are_refused(recorded):
    store, claim, unused = recorded
    with open(_path(store, "sensitive", claim["id"] + ".parameters.json"), "w") as handle:
        handle.write("[1]")
    with pytest.raises(ClaimStoreError, match="is refused: it is not a JSON object of parameter values"):
        store.sensitive_parameters("app", claim["id"])


@pytest.mark.parametrize("record_id", ["../../../../X", "/etc", ".."])
def test_ids_given_to_the_store_are_checked_before_they_become_paths(recorded, record_id):
    store, claim, result = recorded
    with pytest.raises(ClaimStoreError, match="is not a ULID"):
        store.output_values("app", record_id)
    with pytest.raises(ClaimStoreError, match="is not a ULID"):
        store.sensitive_parameters("app", record_id)
    with pytest.raises(ClaimStoreError, match="is not a ULID"):
        store.write_result("app", dict(result, id=record_id), {}, ())


def test_a_copy_of_a_result_without_its_claim_is_refused_and_writes_nothing(recorded, tmp_path):
    store, claim, result = recorded
    orphan = dict(model.new_result(claim, model.STATUS_FAILED), claimId=model.new_ulid())
    store.write_result("app", orphan, {}, ())
    destination = LocalStore(str(tmp_path / "copy"))
    with pytest.raises(ClaimStoreError, match="belongs to claim %s, which the source store does not hold"
                       % orphan["claimId"]):
        transfer.copy_installations(store, destination, ["app"], 5)
    assert not os.path.exists(destination.root)
