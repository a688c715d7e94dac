"""The kubernetes claim store and the API emulator it is tested against.

Part one checks the emulator with the official ``kubernetes`` client's typed API: the
answers the store relies on (409 on a stale resourceVersion, Status objects, label
selectors, pagination, 422 for an oversized Secret) have the real API server's shape.
Part two checks what the contract tests cannot: the store's requests, its limits and
its sentences when the API refuses or goes away.
"""

import base64
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import kubernetes
import pytest
from kubernetes.client import ApiException
from stores import holding_child, write_after_resuming
from stores_kubernetes import REPO, kubeconfig_text

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import kubernetes as kstore
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, LockTimeout
from tests.k8s_emulator import ApiError, Emulator
from tests.k8s_emulator.cluster import LEASES, SECRETS

NS = "cnab"
TOKEN = "t0ken"
BUNDLE = Bundle(json.load(open(os.path.join(REPO, "examples", "hello", "bundle.json"))))


@pytest.fixture
def emulator():
    server = Emulator(token=TOKEN)
    server.start()
    server.cluster.create_namespace(NS)
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(emulator, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_text(emulator.url, TOKEN))
    return str(path)


@pytest.fixture
def options(kubeconfig):
    return {"backend": "kubernetes", "kubeconfig": kubeconfig, "namespace": NS, "lease_seconds": 3}


@pytest.fixture
def store(options):
    return open_store(options)


@pytest.fixture
def api(emulator):
    """The official client's typed APIs, talking to the emulator."""
    configuration = kubernetes.client.Configuration()
    configuration.host = emulator.url
    configuration.api_key = {"authorization": "Bearer " + TOKEN}
    client = kubernetes.client.ApiClient(configuration)
    return kubernetes.client.CoreV1Api(client), kubernetes.client.CoordinationV1Api(client)


def _status(exc):
    return json.loads(exc.body)


def _secret(name, labels=None, data=None, **extra):
    body = {"metadata": {"name": name, "labels": labels or {}},
            "data": {k: base64.b64encode(v).decode() for k, v in (data or {}).items()}}
    body.update(extra)
    return body


def _connection_reset(*args, **kwargs):
    """A commit cut off: the service went away after the record was written."""
    raise ConnectionResetError(104, "Connection reset by peer")


def _record(store, name, status=model.STATUS_SUCCEEDED, outputs=None, sensitive=()):
    claim = model.new_claim(name, "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(), {"modifies": True})
    store.write_claim(name, claim, {"password": "pw-" + name} if sensitive else {})
    store.write_result(name, model.new_result(claim, model.STATUS_RUNNING), {}, ())
    result = model.new_result(claim, status, None, {n: {} for n in (outputs or {})})
    store.write_result(name, result, outputs or {}, set(sensitive))
    return claim, result


# -- the emulator, through the official client ----------------------------------------------


def test_stale_resource_version_is_a_409_conflict(api):
    core, coordination = api
    created = core.create_namespaced_secret(NS, _secret("s", data={"k": b"1"}))
    first = created.metadata.resource_version
    body = _secret("s", data={"k": b"2"})
    body["metadata"]["resourceVersion"] = first
    second = core.replace_namespaced_secret("s", NS, body).metadata.resource_version
    assert int(second) > int(first)
    body["data"]["k"] = base64.b64encode(b"3").decode()
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("s", NS, body)  # still carries the first version
    status = _status(caught.value)
    assert caught.value.status == 409 and status["reason"] == "Conflict" and status["code"] == 409
    assert status["message"] == ('Operation cannot be fulfilled on secrets "s": the object has been modified; '
                                 "please apply your changes to the latest version and try again")
    del body["metadata"]["resourceVersion"]  # no precondition: an unconditional update
    assert core.replace_namespaced_secret("s", NS, body).data == {"k": base64.b64encode(b"3").decode()}

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 5, "renewTime": now}}
    version = coordination.create_namespaced_lease(NS, lease).metadata.resource_version
    lease["metadata"]["resourceVersion"] = version
    lease["spec"]["holderIdentity"] = "b"
    coordination.replace_namespaced_lease("l", NS, lease)
    lease["spec"]["holderIdentity"] = "c"
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("l", NS, lease)
    assert caught.value.status == 409
    assert _status(caught.value)["details"] == {"name": "l", "group": "coordination.k8s.io", "kind": "leases"}
    del lease["metadata"]["resourceVersion"]  # Leases, unlike Secrets, refuse unconditional updates
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("l", NS, lease)
    assert caught.value.status == 422 and _status(caught.value)["message"] == (
        'leases.coordination.k8s.io "l" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be '
        "specified for an update")
    # ...and an update of a Lease that does not exist creates it, whatever version it names.
    gone = {"metadata": {"name": "gone", "resourceVersion": "12"}, "spec": {"holderIdentity": "d"}}
    assert coordination.replace_namespaced_lease("gone", NS, gone).spec.holder_identity == "d"
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("gone", NS, _secret("gone"))
    assert caught.value.status == 404


def test_errors_are_status_objects(api):
    core, coordination = api
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_secret("nope", NS)
    assert caught.value.status == 404
    assert _status(caught.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "nope" not found', "reason": "NotFound", "details": {"name": "nope", "kind": "secrets"},
        "code": 404,
    }
    with pytest.raises(ApiException) as caught:
        coordination.read_namespaced_lease("nope", NS)
    assert _status(caught.value)["message"] == 'leases.coordination.k8s.io "nope" not found'
    with pytest.raises(ApiException) as caught:
        core.read_namespace("absent")
    assert _status(caught.value)["message"] == 'namespaces "absent" not found'
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret("absent", _secret("s"))
    assert caught.value.status == 404 and _status(caught.value)["details"] == {"name": "absent", "kind": "namespaces"}

    core.create_namespaced_secret(NS, _secret("s"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret(NS, _secret("s"))
    assert caught.value.status == 409 and _status(caught.value)["reason"] == "AlreadyExists"
    assert _status(caught.value)["message"] == 'secrets "s" already exists'
    with pytest.raises(ApiException) as caught:
        core.create_namespace({"metadata": {"name": NS}})
    assert caught.value.status == 409 and _status(caught.value)["message"] == 'namespaces "cnab" already exists'
    assert core.list_namespace().items[0].metadata.name == NS

    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret(NS, label_selector="a in (")
    assert caught.value.status == 400 and _status(caught.value)["reason"] == "BadRequest"

    assert core.delete_namespaced_secret("s", NS)["status"] == "Success"
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_secret("s", NS)
    assert caught.value.status == 404


def test_label_selectors(api):
    core, unused = api
    for name, labels in (("a1", {"app": "a", "tier": "1"}), ("a2", {"app": "a", "tier": "2"}),
                         ("b1", {"app": "b", "tier": "1"}), ("none", {})):
        core.create_namespaced_secret(NS, _secret(name, labels))

    def names(selector):
        return [s.metadata.name for s in core.list_namespaced_secret(NS, label_selector=selector).items]

    assert names("app=a") == names("app==a") == ["a1", "a2"]
    assert names("app!=a") == ["b1", "none"]  # != also matches objects without the label
    assert names("app=a,tier=2") == ["a2"]  # comma is AND
    assert names("tier in (1, 3)") == ["a1", "b1"]
    assert names("tier notin (1)") == ["a2", "none"]
    assert names("app") == ["a1", "a2", "b1"]
    assert names("!app") == ["none"]
    assert names("app in (a,b),!tier") == []
    assert names("") == ["a1", "a2", "b1", "none"]
    for bad in ("app=a b", "app in ()", "app=" + "x" * 64, "=a", "app in (a"):
        with pytest.raises(ApiException) as caught:
            names(bad)
        assert caught.value.status == 400, bad


def test_list_pagination(api):
    core, unused = api
    for index in range(7):
        core.create_namespaced_secret(NS, _secret("s%d" % index, {"page": "yes"}))
    core.create_namespaced_secret(NS, _secret("other"))
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_secret(NS, label_selector="page=yes", limit=3, _continue=token)
        seen += [s.metadata.name for s in page.items]
        pages += 1
        token = page.metadata.var_continue if hasattr(page.metadata, "var_continue") else page.metadata._continue
        if not token:
            break
    assert pages == 3 and seen == ["s%d" % i for i in range(7)]
    unfiltered = core.list_namespaced_secret(NS, limit=5)
    assert len(unfiltered.items) == 5 and unfiltered.metadata.remaining_item_count == 3
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret(NS, _continue="not-a-token")
    assert caught.value.status == 400


def test_secret_validation(api):
    core, unused = api
    core.create_namespaced_secret(NS, _secret("max", data={"a": b"x" * (1024 * 1024 - 1), "b": b"y"}))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret(NS, _secret("big", data={"a": b"x" * (1024 * 1024), "b": b"y"}))
    status = _status(caught.value)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'Secret "big" is invalid: data: Too long: must have at most 1048576 bytes'
    assert status["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "data",
                                            "message": "Too long: must have at most 1048576 bytes"}]
    for body in (_secret("Upper"), _secret("ok", {"k": "v" * 64}), _secret("ok", {"bad key!": "v"}),
                 _secret("ok", data={"bad/key": b"v"})):
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_secret(NS, body)
        assert caught.value.status == 422, body
    core.create_namespaced_secret(NS, _secret("frozen", data={"k": b"1"}, immutable=True))
    body = _secret("frozen", data={"k": b"2"}, immutable=True)
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_secret("frozen", NS, body)
    assert caught.value.status == 422 and "field is immutable" in _status(caught.value)["message"]


def test_lease_times_are_micro_times(api):
    unused, coordination = api
    whole_second = {"metadata": {"name": "l"}, "spec": {"renewTime": "2030-01-01T00:00:00+00:00"}}
    with pytest.raises(ApiException) as caught:  # a real API server refuses it too: RFC3339Micro wants 6 digits
        coordination.create_namespaced_lease(NS, whole_second)
    assert caught.value.status == 400
    created = coordination.create_namespaced_lease(NS, {"metadata": {"name": "l"}, "spec": {
        "renewTime": "2030-01-01T02:00:00.000001+02:00", "leaseDurationSeconds": 1}})
    assert created.spec.renew_time == datetime.datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=datetime.timezone.utc)


def test_bearer_token_and_merge_patch(emulator, api):
    core, unused = api
    request = urllib.request.Request(emulator.url + "/api/v1/namespaces/cnab/secrets")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 401 and json.loads(caught.value.read())["reason"] == "Unauthorized"
    with urllib.request.urlopen(emulator.url + "/version") as answer:  # open to everyone, as on clusters
        assert json.loads(answer.read())["major"] == "1"
    core.create_namespaced_secret(NS, _secret("p", {"a": "1"}))
    patched = core.patch_namespaced_secret("p", NS, {"metadata": {"labels": {"a": None, "b": "2"}}})
    assert patched.metadata.labels == {"b": "2"}


def test_command_line_server():
    child = subprocess.Popen([sys.executable, "-m", "tests.k8s_emulator", "--port", "0", "--namespace", "cnab"],
                             cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        url = child.stdout.readline().split()[-1]
        with urllib.request.urlopen(url + "/api/v1/namespaces/cnab") as answer:
            assert json.loads(answer.read())["status"]["phase"] == "Active"
    finally:
        child.terminate()
        assert child.wait(10) == 0


# -- the store ------------------------------------------------------------------------------


def test_installation_is_read_by_name_never_listed(emulator, store):
    """One GET of the index, one GET per record: the cost does not grow with the store."""
    first, first_result = _record(store, "app")
    _record(store, "other")
    second, second_result = _record(store, "app", status=model.STATUS_FAILED)
    emulator.requests.clear()
    installation = store.installation("app")
    assert [c["id"] for c in installation.claims] == [first["id"], second["id"]]
    assert [r["status"] for r in installation.results[second["id"]]] == ["running", "failed"]
    assert all(r["method"] == "GET" and not r["query"] for r in emulator.requests)  # no list, no selector
    paths = [r["path"].rsplit("/", 1)[1] for r in emulator.requests]
    assert paths[0] == "cnab-index-app" and len(paths) == 1 + 2 + 4  # the index, 2 claims, 4 results
    assert set(paths[1:]) == {kstore.record_name("claim", c["id"]) for c in (first, second)} | {
        kstore.record_name("result", r["id"]) for rs in installation.results.values() for r in rs}
    emulator.requests.clear()
    assert store.installation("unknown").exists is False
    assert [r["path"].rsplit("/", 1)[1] for r in emulator.requests] == ["cnab-index-unknown"]
    emulator.requests.clear()
    assert store.installation_names() == ["app", "other"]
    assert [r["query"].get("labelSelector") for r in emulator.requests] == [
        "app.kubernetes.io/managed-by=cnab.runtime,cnab.io/record=index"]


def test_records_stay_labelled_and_the_index_commits_them(api, options):
    """Every object of an installation is found with its label; a record whose commit never
    happened is invisible to reads, and writing it again adopts it."""
    core, unused = api
    store = open_store(options)
    claim, result = _record(store, "app", outputs={"message": b"hi"})
    labelled = core.list_namespaced_secret(NS, label_selector="cnab.io/installation=app").items
    assert sorted(s.metadata.labels["cnab.io/record"] for s in labelled) == [
        "claim", "index", "outputs", "result", "result"]
    index = next(s for s in labelled if s.metadata.labels["cnab.io/record"] == "index")
    assert not index.immutable and all(s.immutable for s in labelled if s is not index)
    assert json.loads(base64.b64decode(index.data["index.json"])) == {
        "claims": [claim["id"]], "results": sorted(r["id"] for r in store.installation("app").results[claim["id"]])}
    # A run that created its record but lost the API server before the commit:
    orphan = model.new_claim("app", "upgrade", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    writer = open_store(options)
    writer._commit = _connection_reset
    with pytest.raises(ClaimStoreError, match="Connection reset by peer"):
        writer.write_claim("app", orphan, {})
    assert core.read_namespaced_secret(kstore.record_name("claim", orphan["id"]), NS).immutable
    assert [c["id"] for c in store.installation("app").claims] == [claim["id"]]
    store.write_claim("app", orphan, {})  # the same record again: adopted, committed
    assert [c["id"] for c in store.installation("app").claims] == [claim["id"], orphan["id"]]
    changed = dict(orphan, id=model.new_ulid())
    writer._commit = _connection_reset
    with pytest.raises(ClaimStoreError):
        writer.write_claim("app", changed, {})
    with pytest.raises(ClaimStoreError, match=r"Secret cnab-claim-\w+ already exists; records are never overwritten"):
        store.write_claim("app", dict(changed, action="uninstall"), {})  # same id, other content: refused


def test_layout_and_sensitive_values_apart(api, store):
    core, unused = api
    claim, result = _record(store, "app", outputs={"message": b"hello", "secret": b"s3cr3t"}, sensitive=("secret",))
    secrets = {s.metadata.name: s for s in core.list_namespaced_secret(NS).items}
    ids = claim["id"].lower(), result["id"].lower()
    assert {n for n in secrets if n.startswith("cnab-")} >= {
        "cnab-claim-%s" % ids[0], "cnab-parameters-%s" % ids[0], "cnab-outputs-%s" % ids[1],
        "cnab-sensitive-outputs-%s" % ids[1], "cnab-result-%s" % ids[1]}
    shareable = core.list_namespaced_secret(NS, label_selector="cnab.io/record in (claim,result,outputs)").items
    assert len(shareable) == 4  # the claim, two results, the plain outputs
    text = json.dumps([{k: base64.b64decode(v).decode() for k, v in s.data.items()} for s in shareable])
    assert "hello" in text and "s3cr3t" not in text and "pw-app" not in text
    assert all(s.immutable and s.metadata.labels["app.kubernetes.io/managed-by"] == "cnab.runtime"
               for s in shareable)


def test_odd_and_long_names_are_hashed_in_labels_and_lease_names(api, store):
    core, coordination = api
    names = ["App_1", "app_1", "x" * 200, "trailing-", "a.b.c"]
    for name in names:
        _record(store, name)
        with store.lock(name, 1):
            assert store.lock_holder(name)["pid"] == os.getpid()
    assert store.installation_names() == sorted(names)
    for name in names:
        assert len(store.installation(name).claims) == 1
    labels = {s.metadata.labels["cnab.io/installation"] for s in core.list_namespaced_secret(NS).items
              if s.metadata.labels and "cnab.io/installation" in s.metadata.labels}
    assert labels == {"App_1", "app_1", "a.b.c"} | {kstore.label_value("x" * 200), kstore.label_value("trailing-")}
    assert kstore.label_value("trailing-").startswith("h-") and len(kstore.label_value("x" * 200)) == 42
    leases = sorted(item.metadata.name for item in coordination.list_namespaced_lease(NS).items)
    assert "cnab-lock-a.b.c" in leases and len(leases) == len(names)
    # A Secret labelled as "app_1" but written for another installation is not app_1's.
    core.create_namespaced_secret(NS, {"metadata": {"name": "forged", "labels": {
        "app.kubernetes.io/managed-by": "cnab.runtime", "cnab.io/installation": "app_1", "cnab.io/record": "claim"},
        "annotations": {"cnab.io/installation": "someone-else"}}, "data": {}})
    assert len(store.installation("app_1").claims) == 1


def test_records_are_never_overwritten(store):
    claim, unused = _record(store, "app")
    with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store in namespace cnab could not write a claim "
                                              r"of installation app: Secret cnab-claim-\w+ already exists; records "
                                              r"are never overwritten\.$"):
        store.write_claim("app", claim, {})


def test_oversized_record_is_refused_with_a_sentence(emulator, store, monkeypatch):
    claim, unused = _record(store, "app")
    big = {"blob": b"x" * (1024 * 1024 + 1)}
    before = len(emulator.cluster.list(SECRETS, NS)["items"])
    emulator.requests.clear()
    with pytest.raises(ClaimStoreError, match=r"could not write a result of installation app: cnab-outputs-\w+ would "
                                              r"hold 1\.00 MiB, too large for one Kubernetes Secret \(at most 1 MiB\)\.$"):
        store.write_result("app", model.new_result(claim, "succeeded"), big, ())
    assert not [r for r in emulator.requests if r["method"] == "POST"]  # refused before sending anything
    # Should a server allow less than this store assumes, its 422 is the same kind of sentence.
    monkeypatch.setattr(kstore, "MAX_SECRET_DATA", 10 * 1024 * 1024)
    with pytest.raises(ClaimStoreError, match=r"cnab-outputs-\w+ is too large for one Kubernetes Secret: Secret "
                                              r"\"cnab-outputs-\w+\" is invalid: data: Too long: must have at most "
                                              r"1048576 bytes \(HTTP 422 Invalid\)\.$"):
        store.write_result("app", model.new_result(claim, "succeeded"), big, ())
    assert len(emulator.cluster.list(SECRETS, NS)["items"]) == before
    assert store.installation("app").status == "installed"


def test_missing_namespace_is_a_sentence_and_never_created(emulator, options):
    store = open_store(dict(options, namespace="absent"))
    expected = ("^the kubernetes claim store cannot work in namespace absent: namespace absent does not exist; "
                r"create it \(roles/cnab_claims does\)")
    for call in (lambda: store.installation("app"), store.installation_names, store.fingerprint_key,
                 lambda: _record(store, "app")):
        with pytest.raises(ClaimStoreError, match=expected):
            call()
    with pytest.raises(ClaimStoreError, match=expected):
        with store.lock("app", 1):
            pass
    assert not emulator.cluster.namespace_exists("absent")


def test_configuration_sentences(emulator, options, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store has no cluster to talk to: set "
                                              r"claim_store\.kubeconfig \(K8S_AUTH_KUBECONFIG or KUBECONFIG\), or "
                                              r"claim_store\.host and api_key \(K8S_AUTH_HOST, K8S_AUTH_API_KEY\)"):
        open_store({"backend": "kubernetes"})
    with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store could not load kubeconfig /nowhere: "):
        open_store({"backend": "kubernetes", "kubeconfig": "/nowhere"})
    with pytest.raises(ClaimStoreError, match=r"could not load kubeconfig .* \(context nope\): .*nope"):
        open_store(dict(options, context="nope"))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(kubeconfig_text(emulator.url, TOKEN))
    assert open_store({"backend": "kubernetes", "namespace": NS}).installation_names() == []

    by_host = {"backend": "kubernetes", "namespace": NS, "host": emulator.url + "/", "api_key": TOKEN}
    assert open_store(by_host).installation_names() == []
    with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store in namespace cnab could not list "
                                              r"installations: Unauthorized \(HTTP 401 Unauthorized\)\.$"):
        open_store(dict(by_host, api_key="wrong")).installation_names()


def test_api_refusals_are_sentences(emulator, store):
    def forbid(method, path, query):
        if "/secrets" in path:
            return ApiError(403, "Forbidden", 'secrets is forbidden: User "bob" cannot get resource "secrets" in '
                                              'API group "" in the namespace "cnab"')
        if path == "/api/v1/namespaces/cnab":  # not allowed to read namespaces: the store carries on
            return ApiError(403, "Forbidden", "namespaces is forbidden")
        return None

    emulator.fault = forbid
    with pytest.raises(ClaimStoreError) as caught:
        store.installation("app")
    assert str(caught.value) == (
        'the kubernetes claim store in namespace cnab could not read installation app: secrets is forbidden: User '
        '"bob" cannot get resource "secrets" in API group "" in the namespace "cnab" (HTTP 403 Forbidden).')
    emulator.fault = None
    assert store.installation("app").exists is False


def test_api_server_going_away_mid_write(emulator, store):
    claim, unused = _record(store, "app", status=model.STATUS_RUNNING)
    posts = []
    stopper = threading.Thread(target=emulator.stop)

    def die_at_the_second_post(method, path, query):
        if method == "POST":
            posts.append(path)
            if len(posts) == 2:  # the outputs went in; the result is cut off, then the server is gone
                stopper.start()
                return "drop"
        return None

    emulator.fault = die_at_the_second_post
    final = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"message": {}})
    with pytest.raises(ClaimStoreError) as caught:
        store.write_result("app", final, {"message": b"hi"}, ())
    stopper.join()
    message = str(caught.value)
    assert message.startswith("the kubernetes claim store in namespace cnab could not write a result of installation "
                              "app: cannot reach the API server at %s (" % emulator.url), message
    assert message.endswith(").") and "\n" not in message

    started = time.monotonic()
    for call in (lambda: store.installation("app"), lambda: store.lock_holder("app")):
        with pytest.raises(ClaimStoreError, match=r"cannot reach the API server at .* \(Connection refused\)\.$"):
            call()
    assert time.monotonic() - started < 2  # fails fast

    # The same API server comes back: the result that was cut off is not there, half or whole.
    revived = Emulator(port=emulator.port, cluster=emulator.cluster, token=TOKEN)
    revived.start()
    try:
        installation = store.installation("app")
        assert [r["status"] for r in installation.results[claim["id"]]] == ["running", "running"]
        assert final["id"] not in json.dumps(installation.results)
        with store.lock("app", 1):  # and the store works again on the same connection pool
            pass
    finally:
        revived.stop()


def test_expired_lease_is_taken_over(api, store):
    unused, coordination = api
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    elsewhere = json.dumps({"host": "elsewhere", "pid": 4242, "since": "2030-01-01T00:00:00Z"})
    coordination.create_namespaced_lease(NS, {"metadata": {"name": kstore.lease_name("app")}, "spec": {
        "holderIdentity": elsewhere, "leaseDurationSeconds": 3, "renewTime": stale, "leaseTransitions": 4}})
    assert store.lock_holder("app")["pid"] == 4242
    started = time.monotonic()
    with pytest.raises(LockTimeout, match=r"^installation app is locked by the run of pid 4242 on host elsewhere "
                                          r"\(since 2030-01-01T00:00:00Z\); gave up after waiting 0 seconds "
                                          r"\(raise lock_timeout to wait longer\)\.$"):
        with store.lock("app", 0):
            pass
    with store.lock("app", 5):  # waits out the second that is left
        assert 0.5 < time.monotonic() - started < 3
        lease = coordination.read_namespaced_lease(kstore.lease_name("app"), NS)
        assert json.loads(lease.spec.holder_identity)["pid"] == os.getpid()
        assert lease.spec.lease_transitions == 5 and lease.spec.lease_duration_seconds == 3
    released = coordination.read_namespaced_lease(kstore.lease_name("app"), NS)
    assert released.spec.holder_identity is None and store.lock_holder("app") is None


def test_held_lease_is_renewed_and_excludes_others(emulator, options):
    holder, other = open_store(dict(options, lease_seconds=1)), open_store(options)
    with holder.lock("app", 1):
        renewals = []
        for attempt in range(5):  # 2.5 s: more than twice the lease
            time.sleep(0.5)
            renewals.append(emulator.cluster.get(LEASES, NS, kstore.lease_name("app"))
                            ["spec"]["renewTime"])
            assert other.lock_holder("app")["pid"] == os.getpid(), attempt
        assert len(set(renewals)) >= 4
        with pytest.raises(LockTimeout):
            with other.lock("app", 0.3):
                pass
    with other.lock("app", 0):
        pass


def test_concurrent_takeover_has_one_winner(api, options):
    unused, coordination = api
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=60)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    coordination.create_namespaced_lease(NS, {"metadata": {"name": kstore.lease_name("app")}, "spec": {
        "holderIdentity": "dead", "leaseDurationSeconds": 3, "renewTime": stale}})
    inside, most, lock = [0], [0], threading.Lock()
    start = threading.Barrier(6)

    def run():
        store = open_store(options)
        start.wait()
        with store.lock("app", 20):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=run) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_break_lock_and_the_holder_that_lost_it(options):
    holder, operator = open_store(dict(options, lease_seconds=1)), open_store(options)
    assert operator.break_lock("app") is None
    claim = model.new_claim("app", "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    with holder.lock("app", 1):
        assert operator.break_lock("app")["pid"] == os.getpid()
        assert operator.lock_holder("app") is None
        with operator.lock("app", 1):
            time.sleep(0.8)  # the first holder's keeper finds its lease gone
            # Its keeper saw the lease cleared, or already taken by the operator's run.
            with pytest.raises(ClaimStoreError, match=r"could not write a claim of installation app: it lost the lock "
                                                      r"of installation app to (the run of pid \d+|an operator)"):
                holder.write_claim("app", claim, {})
    assert not holder.installation("app").exists


def test_a_holder_paused_past_its_lease_writes_nothing_after_a_takeover(emulator, options):
    """A holder stopped (SIGSTOP) stops renewing; once its lease expired and another run took
    the lock, its next write is refused, even before its keeper noticed, and the new holder's
    history stays intact."""
    paused_claim = model.new_claim("app", "install", BUNDLE, {}, model.new_ulid(), {"modifies": True})
    child = holding_child(dict(options, lease_seconds=1))
    try:
        os.kill(child.pid, signal.SIGSTOP)
        taker = open_store(options)
        started = time.monotonic()
        with taker.lock("app", 10):  # waits for the paused holder's 1 s lease to expire
            assert time.monotonic() - started > 0.3
            claim, result = _record(taker, "app")
            refusal = write_after_resuming(child, paused_claim)
            history = taker.installation("app")
            assert [c["id"] for c in history.claims] == [claim["id"]]
            assert history.last_result(claim)["id"] == result["id"] and history.installed
            assert taker.lock_holder("app")["pid"] == os.getpid()
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        child.wait()
    assert re.match(r"^the kubernetes claim store in namespace %s could not write a claim of installation app: it "
                    r"lost the lock of installation app to the run of pid %d .*\.$" % (NS, os.getpid()), refusal), refusal
    names = [s["metadata"]["name"] for s in emulator.cluster.list(SECRETS, NS)["items"]]
    assert kstore.record_name("claim", paused_claim["id"]) not in names
    assert kstore.record_name("parameters", paused_claim["id"]) not in names


def test_concurrent_fingerprint_key_creation_yields_one_key(emulator, options):
    racers = 6
    reads, creates = [], threading.Barrier(racers)

    def everyone_reads_before_anyone_creates(method, path, query):
        if method == "GET" and path.endswith("/" + kstore.FINGERPRINT_KEY):
            reads.append(path)
            if len(reads) <= racers:  # what each racer would read if all of them read first
                return SECRETS.not_found(kstore.FINGERPRINT_KEY)
        if method == "POST" and len(reads) <= racers:
            creates.wait(10)  # and then all of them create at once
        return None

    emulator.fault = everyone_reads_before_anyone_creates
    keys = [None] * racers

    def run(index):
        keys[index] = open_store(options).fingerprint_key()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    creates = [r for r in emulator.requests if r["method"] == "POST" and r["path"].endswith("/secrets")]
    assert len(creates) == racers and sorted(r["status"] for r in creates) == [201] + [409] * (racers - 1)
    assert len(set(keys)) == 1 and len(keys[0]) == 32


def _self_signed(directory):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert, private = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(cert), str(private)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_with_ca_cert_and_validate_certs(tmp_path):
    cert, key = _self_signed(tmp_path)
    server = Emulator(token=TOKEN, certfile=cert, keyfile=key)
    server.start()
    server.cluster.create_namespace(NS)
    try:
        options = {"backend": "kubernetes", "namespace": NS, "host": server.url, "api_key": TOKEN}
        assert server.url.startswith("https://")
        with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store in namespace cnab could not list "
                                                  r"installations: .*CERTIFICATE_VERIFY_FAILED.*\.$") as caught:
            open_store(options).installation_names()
        assert "cannot reach the API server at %s ([SSL: CERTIFICATE_VERIFY_FAILED]" % server.url in str(caught.value)
        assert open_store(dict(options, ca_cert=cert)).installation_names() == []
        assert open_store(dict(options, validate_certs=False)).installation_names() == []
    finally:
        server.stop()
