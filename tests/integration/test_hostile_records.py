"""Claim stores with hostile records (issue 16, items 1, 5, 6 and 7), through the modules.

A record is recorded through the store, then replaced behind its back (tampering.py): ids that
are paths, a claim naming another installation, records of the wrong shape, and in the local
store links where files belong. Every module refuses in one sentence naming the record, and
nothing is written anywhere: not outside the destination store, not into another installation,
not through a link.
"""

import json
import os
from pathlib import Path

import pytest
from stores import BACKENDS, local_options, options_for
from support import HELLO, HERE
from tampering import record_installation, replace_record


def _one_sentence(msg):
    return msg.endswith(".") and msg.count(". ") == 0 and "Traceback" not in msg and "object has no attribute" not in msg


def _files(root):
    return sorted(str(p) for p in Path(root).rglob("*")) if os.path.exists(root) else []


# -- item 1: cnab_claim_copy writes nothing outside its destination --------------------------------


def _hostile_copies(tmp_path):
    """(name, kind, edit): each edit turns a recorded record into a hostile one."""
    absolute = str(tmp_path / "absolute" / "planted")
    return [
        ("traversal", "result", lambda record: dict(record, id="../../../../planted")),
        ("absolute", "result", lambda record: dict(record, id=absolute)),
        ("claim-traversal", "claim", lambda record: dict(record, id="../../../../planted")),
        ("other-installation", "claim", lambda record: dict(record, installation="victim")),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["traversal", "absolute", "claim-traversal", "other-installation"])
def test_claim_copy_of_a_hostile_source_writes_nothing(ansible, tmp_path, backend, variant):
    source = options_for(backend, tmp_path)
    claim, result = record_installation(source)
    name, kind, edit = next(v for v in _hostile_copies(tmp_path) if v[0] == variant)
    replace_record(source, "app", kind, (claim if kind == "claim" else result)["id"],
                   edit(claim if kind == "claim" else result))
    destination = {"backend": "local", "path": str(tmp_path / "deep" / "deeper" / "copy")}
    before = [p for p in _files(tmp_path) if "cnab-home" not in p]

    outcome, raw = ansible.adhoc("cnab_claim_copy", {"source": source, "destination": destination,
                                                     "installations": ["app"]})

    assert outcome.get("failed") is True, raw
    assert _one_sentence(outcome["msg"]) and "is refused" in outcome["msg"], outcome["msg"]
    assert [p for p in _files(tmp_path) if "cnab-home" not in p] == before, "the copy wrote something"
    assert not os.path.exists(os.path.join(destination["path"], "installations", "victim"))


def test_claim_copy_checks_every_installation_before_the_first_write(ansible, tmp_path):
    """A good installation named first is not copied either when a later one is refused."""
    source = local_options(tmp_path)
    record_installation(source, "good")
    claim, unused = record_installation(source, "bad")
    replace_record(source, "bad", "claim", claim["id"], dict(claim, installation="good"))
    destination = {"backend": "local", "path": str(tmp_path / "copy")}
    outcome, raw = ansible.adhoc("cnab_claim_copy", {"source": source, "destination": destination,
                                                     "installations": ["good", "bad"]})
    assert outcome.get("failed") is True and _one_sentence(outcome["msg"]), raw
    assert "installation 'good', not 'bad'" in outcome["msg"], outcome["msg"]
    assert _files(destination["path"]) == []


# -- item 7: cnab_claim_info reads no file outside the store ------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_claim_info_refuses_a_result_id_that_is_an_absolute_path(ansible, tmp_path, backend):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "message").write_text("canary-outside-the-store")
    store = options_for(backend, tmp_path)
    unused, result = record_installation(store)
    replace_record(store, "app", "result", result["id"], dict(result, id=str(outside)))

    outcome, raw = ansible.adhoc("cnab_claim_info", {"installation": "app", "claim_store": store})

    assert "canary-outside-the-store" not in raw
    assert outcome.get("failed") is True and _one_sentence(outcome["msg"]), raw
    assert "is not a ULID" in outcome["msg"], outcome["msg"]


# -- item 6: the local store follows no link ---------------------------------------------------


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_linked_lock_file_is_refused_and_its_target_kept(ansible, tmp_path, link):
    store = local_options(tmp_path)
    record_installation(store)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious content\n")
    lock = Path(store["path"], "installations", "app", "lock")
    if lock.exists():
        lock.unlink()
    (os.symlink if link == "symlink" else os.link)(str(victim), str(lock))

    outcome, raw = ansible.adhoc("cnab_upgrade", {"installation": "app", "bundle": HELLO, "claim_store": store,
                                                  "parameters": {"greeting": "again"}})

    assert victim.read_text() == "precious content\n", "the lock truncated the file it links to"
    assert outcome.get("failed") is True and _one_sentence(outcome["msg"]), raw
    assert "installations/app/lock" in outcome["msg"], outcome["msg"]


def test_a_linked_record_directory_is_not_followed(ansible, tmp_path):
    store = local_options(tmp_path)
    record_installation(store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outputs = Path(store["path"], "installations", "app", "outputs")
    for entry in outputs.iterdir():
        (elsewhere / entry.name).mkdir()
        (elsewhere / entry.name / "message").write_text("canary-through-a-link")
        for item in entry.iterdir():
            item.unlink()
        entry.rmdir()
    outputs.rmdir()
    outputs.symlink_to(elsewhere)

    outcome, raw = ansible.adhoc("cnab_claim_info", {"installation": "app", "claim_store": store})

    assert "canary-through-a-link" not in raw
    assert outcome.get("failed") is True and "symbolic link" in outcome["msg"] and _one_sentence(outcome["msg"]), raw


# -- item 5: records of the wrong shape are refused in one sentence -----------------------------


def _runtime(claim, **fields):
    custom = dict(claim["custom"]["cnab.runtime"], **fields)
    return dict(claim, custom={"cnab.runtime": custom})


TAMPERED_CLAIMS = {
    "custom-string": lambda c: dict(c, custom="a string"),
    "bundle-missing": lambda c: {k: v for k, v in c.items() if k != "bundle"},
    "bundle-string": lambda c: dict(c, bundle="a string"),
    "parameters-string": lambda c: dict(c, parameters="a string"),
    "parameters-list": lambda c: dict(c, parameters=["greeting"]),
    "relocation-list": lambda c: _runtime(c, relocationMapping=["example.com/a:1"]),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_tampered_records_are_refused_by_every_module(ansible, tmp_path, backend):
    store = options_for(backend, tmp_path)
    for variant, edit in TAMPERED_CLAIMS.items():
        claim, unused = record_installation(store, variant)
        replace_record(store, variant, "claim", claim["id"], edit(claim))
    claim, unused = record_installation(store, "sensitive-list")
    replace_record(store, "sensitive-list", "parameters", claim["id"], [1])
    out = tmp_path / "results.json"
    names = sorted(TAMPERED_CLAIMS)
    run = ansible.playbook(HERE + "/playbooks/tampered.yml", extra_vars={
        "store": store, "bundle": HELLO, "out": str(out),
        "info_names": names, "install_names": names, "upgrade_names": names + ["sensitive-list"]})
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    assert sum(len(r) for r in results.values()) == 3 * len(names) + 1
    for module, runs in results.items():
        for outcome in runs:
            where = "%s on %s" % (module, outcome["item"])
            assert outcome.get("failed") is True, (where, outcome)
            assert _one_sentence(outcome["msg"]) and "is refused" in outcome["msg"], (where, outcome["msg"])
            assert "pw-" not in json.dumps(outcome), where
