"""Fuzz what the claim stores read: claims, results, sensitive parameters, output files, ids.

Each example records a valid installation in a local store (or, in a second property, in the
kubernetes store against the in-repository API emulator), then attacks the stored files: a
field of a claim or result replaced by a hostile id (paths, absolute paths, NUL, near-ULIDs) or
by any JSON value, a record's bytes replaced (invalid JSON, deep nesting), a record under
another file name, an output file with a hostile name, a file or directory replaced by a link
to a canary outside the store. Property: reading the installation (as cnab_claim_info does) and
copying it to an empty store (as cnab_claim_copy does) either work or fail with a CnabError of
one sentence; never another exception, and nothing is written outside the destination store
(nothing at all when the copy is refused), while the canary stays as it was.
"""

import atexit
import base64
import hashlib
import json
import os
import sys
import tempfile
import uuid

import pytest
from fuzzing import EXAMPLES, LONG_RUN, RUN, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.cnab.runtime.plugins.module_utils import identifiers, lookup, transfer
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import KubernetesStore, index_name, record_name
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError

BUNDLE = Bundle({
    "schemaVersion": "v1.2.0", "name": "fuzzed", "version": "0.1.0",
    "invocationImages": [{"image": "example.com/fuzzed:0.1.0", "imageType": "docker"}],
    "definitions": {"string": {"type": "string"}, "secret": {"type": "string", "writeOnly": True}},
    "parameters": {"greeting": {"definition": "string", "destination": {"env": "GREETING"}},
                   "password": {"definition": "secret", "destination": {"env": "PASSWORD"}}},
    "outputs": {"message": {"definition": "string", "path": "/cnab/app/outputs/message"},
                "token": {"definition": "secret", "path": "/cnab/app/outputs/token"}},
})
HOSTILE_IDS = ["../../../../planted", "../planted", "/planted-absolute", "..", ".", "", "a/b", "planted\x00x",
               "0" * 25 + "U", "8" + "0" * 25, "0" * 27, "0" * 25, "x" * 300, " 01ARZ3NDEKTSV4RRFFQ69G5FAV",
               "01ARZ3NDEKTSV4RRFFQ69G5FA/"]
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                           lambda children: st.one_of(st.lists(children, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), children, max_size=4)),
                           max_leaves=12)
hostile_values = st.one_of(st.sampled_from(HOSTILE_IDS), json_values, st.text(max_size=40))
# Paths inside a record where a hostile value goes.
CLAIM_FIELDS = [("id",), ("installation",), ("revision",), ("action",), ("bundle",), ("parameters",), ("custom",),
                ("created",), ("bundleReference",), ("custom", model.RUNTIME_KEY),
                ("custom", model.RUNTIME_KEY, "relocationMapping"), ("custom", model.RUNTIME_KEY, "sensitiveParameters"),
                ("custom", model.RUNTIME_KEY, "modifies"), ("bundle", "outputs"), ("bundle", "outputs", "message"),
                ("bundle", "parameters"), ("bundle", "definitions"), ("bundle", "definitions", "string"),
                ("bundle", "definitions", "string", "type"), ("bundle", "name"), ("parameters", "greeting")]
RESULT_FIELDS = [("id",), ("claimId",), ("status",), ("outputs",), ("outputs", "message"), ("message",), ("created",)]
DEEP = b"[" * 100000 + b"]" * 100000


def _record(root_or_store):
    """A valid installation ``app``: (claim, results), with plain and sensitive outputs."""
    store = root_or_store if not isinstance(root_or_store, str) else LocalStore(root_or_store)
    claim = model.new_claim("app", "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(),
                            {"modifies": True, "sensitiveParameters": ["password"], "relocationMapping": {}})
    store.write_claim("app", claim, {"password": "pw"})
    running = model.new_result(claim, model.STATUS_RUNNING)
    store.write_result("app", running, {}, ())
    final = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {}, "token": {}})
    store.write_result("app", final, {"message": b"hello", "token": b"tok"}, {"token"})
    return claim, [running, final]


def _set(document, path, value):
    target = document
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value


@st.composite
def attacks(draw):
    """A list of attacks, each a tuple the example applies to its freshly recorded store."""
    chosen = []
    for unused in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["claim-field", "result-field", "record-bytes", "rename", "output-name",
                                    "output-content", "sensitive", "link"]))
        if how == "claim-field":
            chosen.append((how, draw(st.sampled_from(CLAIM_FIELDS)), draw(hostile_values)))
        elif how == "result-field":
            chosen.append((how, draw(st.sampled_from(RESULT_FIELDS)), draw(hostile_values), draw(st.integers(0, 1))))
        elif how == "record-bytes":
            raw = draw(st.one_of(st.binary(max_size=64), st.just(DEEP), st.just(b"null"), st.just(b'"x"'),
                                 json_values.map(lambda v: json.dumps(v).encode())))
            chosen.append((how, draw(st.sampled_from(["claims", "results"])), raw))
        elif how == "rename":
            chosen.append((how, draw(st.sampled_from(["claims", "results"])),
                           draw(st.sampled_from(["..json", "x.json", model.new_ulid() + ".json", "a b.json",
                                                 "0" * 25 + "U.json", ".json"]))))
        elif how == "output-name":
            chosen.append((how, draw(st.sampled_from(["outputs", "sensitive"])),
                           draw(st.sampled_from(["..x", "-x", ".hidden", "a b", "message", "x" * 200, "x" * 201, "é"]))))
        elif how == "output-content":
            chosen.append((how, draw(st.sampled_from(["object", "integer", ["string", "null"], "string"])),
                           draw(st.one_of(st.binary(max_size=32), st.just(DEEP)))))
        elif how == "sensitive":
            chosen.append((how, draw(json_values)))
        else:
            chosen.append((how, draw(st.sampled_from(["lock", "claims", "results", "outputs", "sensitive",
                                                      "claim-file", "output-file", "installation"]))))
    return chosen


def _apply(root, canary, claim, results, attack):
    home = os.path.join(root, "installations", "app")
    how = attack[0]
    if how == "claim-field":
        document = json.loads(json.dumps(claim))
        _set(document, attack[1], attack[2])
        _write(os.path.join(home, "claims", claim["id"] + ".json"), json.dumps(document).encode())
    elif how == "result-field":
        result = results[attack[3]]
        document = json.loads(json.dumps(result))
        _set(document, attack[1], attack[2])
        _write(os.path.join(home, "results", result["id"] + ".json"), json.dumps(document).encode())
    elif how == "record-bytes":
        directory = os.path.join(home, attack[1])
        _write(os.path.join(directory, sorted(os.listdir(directory))[0]), attack[2])
    elif how == "rename":
        directory = os.path.join(home, attack[1])
        os.rename(os.path.join(directory, sorted(os.listdir(directory))[0]), os.path.join(directory, attack[2]))
    elif how == "output-name":
        directory = os.path.join(home, attack[1], results[1]["id"])
        os.makedirs(directory, exist_ok=True)
        _write(os.path.join(directory, attack[2]), b"planted output")
    elif how == "output-content":  # the output read as JSON (its definition's type) holds anything
        document = json.loads(json.dumps(claim))
        document["bundle"]["definitions"]["string"]["type"] = attack[1]
        _write(os.path.join(home, "claims", claim["id"] + ".json"), json.dumps(document).encode())
        _write(os.path.join(home, "outputs", results[1]["id"], "message"), attack[2])
    elif how == "sensitive":
        _write(os.path.join(home, "sensitive", claim["id"] + ".parameters.json"), json.dumps(attack[1]).encode())
    else:
        where = {"lock": "lock", "claims": "claims", "results": "results", "outputs": "outputs",
                 "sensitive": "sensitive", "claim-file": os.path.join("claims", claim["id"] + ".json"),
                 "output-file": os.path.join("outputs", results[1]["id"], "message"), "installation": ""}[attack[1]]
        path = os.path.join(home, where).rstrip(os.sep)
        target = os.path.join(canary, "file") if attack[1] in ("lock", "claim-file", "output-file") else canary
        if os.path.isdir(path) and not os.path.islink(path):
            os.rename(path, path + "-moved")
        elif os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)


def _write(path, data):
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "wb") as handle:
        handle.write(data)


def snapshot(directory):
    """Every path under ``directory`` (links not followed) with its content digest."""
    found = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            if os.path.islink(path):
                found[path] = "link:" + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[path] = hashlib.sha256(handle.read()).hexdigest()
            else:
                found[path] = "dir"
    return found


def _clean(exc):
    """A CnabError of one sentence; a MalformedRecord is the end of one (the store adds its start)."""
    message = str(exc) if isinstance(exc, CnabError) else "the store could not read it: %s." % exc
    assert message and message.endswith(".") and "\n" not in message, repr(message)
    assert len(message) < 2000, message[:200]
    assert "Traceback" not in message and "object has no attribute" not in message, message


def check_store(sandbox, chosen):
    source_root = os.path.join(sandbox, "source")
    destination_root = os.path.join(sandbox, "deep", "deeper", "destination")
    canary = os.path.join(sandbox, "canary")
    os.makedirs(canary)
    os.makedirs(os.path.dirname(destination_root))
    _write(os.path.join(canary, "file"), b"canary content")
    claim, results = _record(source_root)
    for attack in sorted(chosen, key=lambda a: a[0] == "link"):  # links last: they move what others attack
        try:
            _apply(source_root, canary, claim, results, attack)
        except OSError:
            pass  # an earlier attack renamed or replaced what this one attacks
    before = snapshot(sandbox)
    RUN["store records"] += 1
    source, destination = LocalStore(source_root), LocalStore(destination_root)
    try:
        info = lookup.describe_installation(source, "app", history=True)
        json.dumps(info)  # what the module returns serialises
        RUN["store records read"] += 1
    except CnabError as exc:
        _clean(exc)
    try:
        copied = transfer.copy_installations(source, destination, ["app"], 5)
    except CnabError as exc:
        _clean(exc)
        assert not os.path.exists(destination_root) or snapshot(destination_root) == {}, "a refused copy wrote"
        copied = None
    after = snapshot(sandbox)
    outside = {p: d for p, d in after.items() if p != destination_root and not p.startswith(destination_root + os.sep)}
    assert outside == before
    if copied:
        RUN["store records copied"] += 1
        copy = destination.installation("app")
        for record in copy.claims + [r for rs in copy.results.values() for r in rs]:
            assert identifiers.is_record_id(record["id"])
        assert all(c["installation"] == "app" for c in copy.claims)


@fuzz_settings()
@given(chosen=attacks())
def test_hostile_store_records_are_read_or_refused_and_nothing_is_written(tmp_path_factory, chosen):
    check_store(str(tmp_path_factory.mktemp("store")), chosen)


@fuzz_settings(examples=max(EXAMPLES // 3, 20))
@given(document=json_values, kind=st.sampled_from(["claim", "result", "parameters"]))
def test_any_json_value_as_a_record_is_read_or_refused(document, kind):
    try:
        if kind == "claim":
            model.read_claim(document, "app", "claims/x.json")
            model.Installation("app", [document], [])
        elif kind == "result":
            model.read_result(document, "results/x.json")
            model.Installation("app", [], [document])
        else:
            model.read_sensitive_parameters(document, "sensitive/x.json")
    except model.MalformedRecord as exc:
        _clean(exc)


# ---- the kubernetes store: the index Secret and the record Secrets ------------------------------

_EMULATOR = {}


def _cluster():
    """The in-repository API emulator (started once) and a kubeconfig for it."""
    if not _EMULATOR:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))))
        if repo not in sys.path:
            sys.path.append(repo)
        from tests.k8s_emulator import Emulator

        server = Emulator(port=0, token="fuzz-token")
        url = server.start()
        atexit.register(server.stop)
        handle, path = tempfile.mkstemp(prefix="cnab-fuzz-kubeconfig-")
        with os.fdopen(handle, "w") as config:
            config.write("apiVersion: v1\nkind: Config\nclusters:\n- name: e\n  cluster: {server: '%s'}\nusers:\n"
                         "- name: u\n  user: {token: fuzz-token}\ncontexts:\n- name: e\n  context: {cluster: e, user: u}\n"
                         "current-context: e\n" % url)
        atexit.register(os.unlink, path)
        _EMULATOR.update(server=server, kubeconfig=path)
    return _EMULATOR["server"].cluster, _EMULATOR["kubeconfig"]


@st.composite
def secret_attacks(draw):
    chosen = []
    for unused in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["index", "index-ids", "claim-field", "result-field", "record-bytes",
                                    "parameters", "output-key"]))
        if how == "index":
            chosen.append((how, draw(json_values)))
        elif how == "index-ids":
            chosen.append((how, draw(st.sampled_from(["claims", "results"])),
                           draw(st.lists(hostile_values, min_size=1, max_size=3))))
        elif how == "claim-field":
            chosen.append((how, draw(st.sampled_from(CLAIM_FIELDS)), draw(hostile_values)))
        elif how == "result-field":
            chosen.append((how, draw(st.sampled_from(RESULT_FIELDS)), draw(hostile_values), draw(st.integers(0, 1))))
        elif how == "record-bytes":
            chosen.append((how, draw(st.sampled_from(["claim", "result"])),
                           draw(st.one_of(st.binary(max_size=64), st.just(DEEP), st.just(b"[1]")))))
        elif how == "parameters":
            chosen.append((how, draw(json_values)))
        else:
            chosen.append((how, draw(st.sampled_from(["..x", "-x", ".hidden", "x" * 201, "_"]))))
    return chosen


def _replace_secret(cluster, namespace, name, data):
    from tests.k8s_emulator.cluster import SECRETS

    secret = cluster.get(SECRETS, namespace, name)
    secret["data"] = {k: base64.b64encode(v).decode("ascii") for k, v in data.items()}
    for field in ("uid", "resourceVersion", "creationTimestamp"):
        secret["metadata"].pop(field, None)
    cluster.delete(SECRETS, namespace, name)  # records are immutable: deleted and created again
    cluster.create(SECRETS, namespace, secret)


def _apply_to_secrets(cluster, namespace, claim, results, attack):
    how = attack[0]
    if how == "index":
        _replace_secret(cluster, namespace, index_name("app"), {"index.json": json.dumps(attack[1]).encode()})
    elif how == "index-ids":
        entries = {"claims": [claim["id"]], "results": [r["id"] for r in results]}
        entries[attack[1]] = entries[attack[1]] + attack[2]
        _replace_secret(cluster, namespace, index_name("app"), {"index.json": json.dumps(entries).encode()})
    elif how in ("claim-field", "result-field"):
        record = claim if how == "claim-field" else results[attack[3]]
        document = json.loads(json.dumps(record))
        _set(document, attack[1], attack[2])
        kind = how.split("-")[0]
        _replace_secret(cluster, namespace, record_name(kind, record["id"]),
                        {kind + ".json": json.dumps(document).encode()})
    elif how == "record-bytes":
        record = claim if attack[1] == "claim" else results[1]
        _replace_secret(cluster, namespace, record_name(attack[1], record["id"]), {attack[1] + ".json": attack[2]})
    elif how == "parameters":
        _replace_secret(cluster, namespace, record_name("parameters", claim["id"]),
                        {"parameters.json": json.dumps(attack[1]).encode()})
    else:
        _replace_secret(cluster, namespace, record_name("outputs", results[1]["id"]),
                        {"message": b"hello", attack[1]: b"planted"})


def check_kubernetes_store(sandbox, chosen):
    from tests.k8s_emulator import ApiError

    cluster, kubeconfig = _cluster()
    namespace = "f" + uuid.uuid4().hex[:12]
    cluster.create_namespace(namespace)
    source = KubernetesStore({"kubeconfig": kubeconfig, "namespace": namespace})
    claim, results = _record(source)
    for attack in chosen:
        try:
            _apply_to_secrets(cluster, namespace, claim, results, attack)
        except ApiError:
            pass  # the API server itself refuses such a Secret
    destination_root = os.path.join(sandbox, "deep", "deeper", "destination")
    os.makedirs(os.path.dirname(destination_root))
    before = snapshot(sandbox)
    RUN["kubernetes store records"] += 1
    source = KubernetesStore({"kubeconfig": kubeconfig, "namespace": namespace})  # nothing cached
    try:
        json.dumps(lookup.describe_installation(source, "app", history=True))
    except CnabError as exc:
        _clean(exc)
    try:
        copied = transfer.copy_installations(source, LocalStore(destination_root), ["app"], 5)
    except CnabError as exc:
        _clean(exc)
        assert not os.path.exists(destination_root) or snapshot(destination_root) == {}, "a refused copy wrote"
        copied = None
    after = snapshot(sandbox)
    assert {p: d for p, d in after.items() if p != destination_root and not p.startswith(destination_root + os.sep)} \
        == before
    if copied:
        RUN["kubernetes store records copied"] += 1
        assert all(c["installation"] == "app" for c in LocalStore(destination_root).installation("app").claims)


@fuzz_settings(examples=max(EXAMPLES // 3, 20))
@given(chosen=secret_attacks())
def test_hostile_kubernetes_records_are_read_or_refused_and_nothing_is_written(tmp_path_factory, chosen):
    check_kubernetes_store(str(tmp_path_factory.mktemp("kstore")), chosen)


def test_the_unattacked_store_reads_and_copies(tmp_path):
    check_store(str(tmp_path / "local"), [])
    assert RUN["store records copied"] >= 1
    check_kubernetes_store(str(tmp_path / "kubernetes"), [])
    assert RUN["kubernetes store records copied"] >= 1


@pytest.mark.skipif(not LONG_RUN, reason="the long run (make fuzz) checks how many stores it generated")
def test_the_long_run_generated_at_least_10000_stores():
    assert RUN["store records"] >= 10000, RUN
    assert RUN["store records read"] > 0 and RUN["store records copied"] > 0, RUN
    print("fuzzed store records:", dict(RUN))
