"""k8s_api.Connection's verbs and sentences, and the namespace preparing both setup modules share,
against the in-repository API emulator (tests/k8s_emulator): 404 and 409 are answers, not failures,
and every sentence names the connection's user."""

import os
import socket
import sys

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import k8s_api
from ansible_collections.cnab.runtime.plugins.module_utils.claims import indexed, model
from ansible_collections.cnab.runtime.plugins.module_utils.claims import setup as claims_setup
from ansible_collections.cnab.runtime.plugins.module_utils.claims.kubernetes import KubernetesStore, store_errors
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import setup as driver_setup
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError, DriverError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if REPO not in sys.path:
    sys.path.append(REPO)  # for tests.k8s_emulator; appended so that it shadows nothing

from tests.k8s_emulator import ApiError, Emulator  # noqa: E402
from tests.k8s_emulator.cluster import ROLE_BINDINGS, SECRETS  # noqa: E402

TOKEN = "k8s-api-unit-token"
DRIVER = "the kubernetes driver"


@pytest.fixture
def emulator():
    server = Emulator(token=TOKEN)
    server.start()
    server.cluster.create_namespace("ns")
    yield server
    server.stop()


def _connect(url, error=DriverError, subject=DRIVER, namespace="ns", **extra):
    return k8s_api.Connection({"host": url, "api_key": TOKEN, "namespace": namespace}, error, subject,
                              "driver_options.", **extra)


def _secret(name, labels=None, **data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels or {}},
            "data": data}


def test_paths_name_the_connection_namespace(emulator):
    api = _connect(emulator.url, namespace="a b")
    assert api.namespace == "a b"
    assert api.path("v1", "secrets") == "/api/v1/namespaces/a%20b/secrets"
    assert api.path("batch/v1", "jobs", "j/1") == "/apis/batch/v1/namespaces/a%20b/jobs/j%2F1"
    assert api.path("v1", "namespaces", "x", namespaced=False) == "/api/v1/namespaces/x"
    assert _connect(emulator.url, namespace=None).namespace == "cnab"


def test_get_gives_none_for_a_missing_object_and_raises_the_rest(emulator):
    api = _connect(emulator.url)
    secrets = api.path("v1", "secrets")
    assert api.get(secrets, "absent") is None
    emulator.cluster.create(SECRETS, "ns", _secret("here", key="dg=="))
    assert api.get(secrets, "here")["data"] == {"key": "dg=="}
    emulator.fault = lambda method, path, query: ApiError(403, "Forbidden", "secrets is forbidden")
    with pytest.raises(api.api_exception) as caught:
        api.get(secrets, "here")
    assert caught.value.status == 403


def test_create_gives_none_when_the_name_is_taken(emulator):
    api = _connect(emulator.url)
    secrets = api.path("v1", "secrets")
    created = api.create(secrets, _secret("one", key="MQ=="))
    assert created["metadata"]["name"] == "one" and created["metadata"]["resourceVersion"]
    assert api.create(secrets, _secret("one", key="Mg==")) is None
    assert emulator.cluster.get(SECRETS, "ns", "one")["data"] == {"key": "MQ=="}  # the first one stays


def test_create_in_a_missing_namespace_raises_the_sentence_given_or_the_api_error(emulator):
    def gone(namespace):
        return ClaimStoreError("namespace %s is gone." % namespace)

    api = _connect(emulator.url, ClaimStoreError, "the kubernetes claim store", "nowhere", missing_namespace=gone)
    with pytest.raises(ClaimStoreError, match=r"^namespace nowhere is gone\.$"):
        api.create(api.path("v1", "secrets"), _secret("one"))
    plain = _connect(emulator.url, namespace="nowhere")
    with pytest.raises(plain.api_exception) as caught:
        plain.create(plain.path("v1", "secrets"), _secret("one"))
    assert caught.value.status == 404


def test_replace_gives_none_when_the_object_changed_since_it_was_read(emulator):
    api = _connect(emulator.url)
    secrets = api.path("v1", "secrets")
    read = api.create(secrets, _secret("idx", key="MQ=="))
    newer = api.replace(secrets, dict(read, data={"key": "Mg=="}))
    assert newer["data"] == {"key": "Mg=="}
    assert newer["metadata"]["resourceVersion"] != read["metadata"]["resourceVersion"]
    assert api.replace(secrets, dict(read, data={"key": "Mw=="})) is None  # read's version is stale
    assert emulator.cluster.get(SECRETS, "ns", "idx")["data"] == {"key": "Mg=="}


def test_delete_says_whether_there_was_an_object(emulator):
    api = _connect(emulator.url)
    secrets = api.path("v1", "secrets")
    api.create(secrets, _secret("doomed"))
    assert api.delete(secrets, "doomed") is True
    assert api.get(secrets, "doomed") is None
    assert api.delete(secrets, "doomed") is False


def test_list_pages_through_the_items_a_selector_matches(emulator, monkeypatch):
    monkeypatch.setattr(k8s_api, "PAGE", 2)
    api = _connect(emulator.url)
    secrets = api.path("v1", "secrets")
    for index in range(5):
        api.create(secrets, _secret("s%d" % index, {"pick": "yes" if index != 2 else "no"}))
    emulator.requests.clear()
    assert sorted(item["metadata"]["name"] for item in api.list(secrets, "pick=yes")) == ["s0", "s1", "s3", "s4"]
    pages = [r for r in emulator.requests if r["method"] == "GET"]
    assert len(pages) == 2 and all(r["query"]["limit"] == "2" for r in pages)
    assert len(list(api.list(secrets))) == 5


def test_errors_name_the_subject_given_when_the_connection_was_made(emulator):
    api = _connect(emulator.url)
    emulator.fault = lambda method, path, query: ApiError(403, "Forbidden", 'secrets "x" is forbidden')
    with pytest.raises(DriverError) as caught:
        with api.errors("could not read Secret x"):
            api.get(api.path("v1", "secrets"), "x")
    assert str(caught.value) == ('the kubernetes driver could not read Secret x: secrets "x" is forbidden '
                                 '(HTTP 403 Forbidden).')
    assert isinstance(caught.value.__cause__, api.api_exception)

    store = _connect(emulator.url, ClaimStoreError, "the kubernetes claim store")
    with pytest.raises(ClaimStoreError, match=r"^the kubernetes claim store could not read Secret x: "):
        with store.errors("could not read Secret x"):
            store.get(store.path("v1", "secrets"), "x")
    assert str(store.sentence("cannot be prepared")) == "the kubernetes claim store cannot be prepared."

    with pytest.raises(KeyError):  # not a request's failure: passes as it is
        with api.errors("could not read Secret x"):
            raise KeyError("x")


def test_an_unreachable_server_is_a_sentence_naming_the_subject():
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % unused.getsockname()[1]
    api = _connect(url)
    with pytest.raises(DriverError) as caught:
        with api.errors("could not read Secret x"):
            api.get(api.path("v1", "secrets"), "x")
    assert str(caught.value) == ("the kubernetes driver could not read Secret x: cannot reach the API server at %s "
                                 "(Connection refused)." % url)


def test_the_kubernetes_store_and_its_setup_word_failures_in_one_place(emulator):
    """``store_errors`` (over ``Connection.errors``) is the claim store's one translation: the store's
    ``_errors`` and cnab_claim_store's preparing give the same sentence for the same failure."""
    options = {"host": emulator.url, "api_key": TOKEN, "namespace": "ns"}
    store = KubernetesStore(options)
    api = k8s_api.Connection(options, ClaimStoreError, "the kubernetes claim store", "claim_store.")
    head = "the kubernetes claim store in namespace ns could not read x: "
    failures = [
        (ValueError("Expecting value"), "a stored object is malformed (ValueError: Expecting value)."),
        (KeyError("data"), "a stored object is malformed (KeyError: 'data')."),
        (indexed.Refused("Secret s belongs to another installation"), "Secret s belongs to another installation."),
        (model.MalformedRecord("Secret s", "it holds no claim.json"), "Secret s is refused: it holds no claim.json."),
        (__import__("urllib3").exceptions.LocationParseError("h:x"),  # a ValueError, but the transport's
         "cannot reach the API server at %s (Failed to parse: h:x)." % emulator.url),
    ]
    for failure, tail in failures:
        for errors in (store._errors, lambda doing: store_errors(api, doing)):
            with pytest.raises(ClaimStoreError) as caught:
                with errors("read x"):
                    raise failure
            assert str(caught.value) == head + tail
            assert caught.value.__cause__ is failure
    own = ClaimStoreError("the kubernetes claim store cannot work in namespace ns: it is gone.")
    for errors in (store._errors, lambda doing: store_errors(api, doing)):
        with pytest.raises(ClaimStoreError) as caught:  # its own sentences pass as they are
            with errors("read x"):
                raise own
        assert caught.value is own
    with pytest.raises(RuntimeError):  # and what is none of these is not a sentence
        with store._errors("read x"):
            raise RuntimeError("bug")


def test_object_names_are_checked_with_the_callers_error():
    assert k8s_api.check_object_name("cnab-driver.1", "service_account", DriverError) == "cnab-driver.1"
    for bad in ("CI_bot", "-x", "x" * 254, "", None):
        assert not k8s_api.is_object_name(bad)
        with pytest.raises(DriverError, match="^service_account .* is not a valid Kubernetes name"):
            k8s_api.check_object_name(bad, "service_account", DriverError)


def test_each_setup_names_itself_in_the_shared_sentences(emulator):
    """The RoleBinding refusal is written once (k8s_api) and names whichever user prepares."""
    emulator.cluster.create(ROLE_BINDINGS, "ns", {"metadata": {"name": "acct"},
                                                  "roleRef": {"kind": "ClusterRole", "name": "edit"}})
    tail = ("in namespace ns cannot be prepared: RoleBinding acct binds ClusterRole edit, not Role acct, and a "
            "RoleBinding's roleRef cannot change; delete it or choose another service_account.")
    options = {"host": emulator.url, "api_key": TOKEN, "namespace": "ns"}
    with pytest.raises(DriverError) as caught:
        driver_setup.prepare_driver(options, "acct")
    assert str(caught.value) == "the kubernetes driver " + tail
    with pytest.raises(ClaimStoreError) as caught:
        claims_setup.prepare_store(dict(options, backend="kubernetes"), "acct")
    assert str(caught.value) == "the kubernetes claim store " + tail


def test_driver_setup_failures_name_the_driver(emulator):
    options = {"host": emulator.url, "api_key": TOKEN, "namespace": "ns"}
    emulator.fault = lambda method, path, query: (
        ApiError(403, "Forbidden", "roles is forbidden") if method == "POST" and path.endswith("/roles") else None)
    with pytest.raises(DriverError) as caught:
        driver_setup.prepare_driver(options)
    assert str(caught.value) == ("the kubernetes driver could not be prepared in namespace ns: could not prepare "
                                 "Role cnab-driver: roles is forbidden (HTTP 403 Forbidden).")
    emulator.fault = None
    with pytest.raises(DriverError, match=r"^the kubernetes driver cannot be prepared in namespace absent: it does "
                                          r"not exist and create_namespace is false"):
        driver_setup.prepare_driver(dict(options, namespace="absent"), create_namespace=False)
    with pytest.raises(DriverError, match="^image_pull_secret 'Bad' is not a valid Kubernetes name"):
        driver_setup.prepare_driver(options, image_pull_secret="Bad")


def test_driver_setup_four_steps_with_a_pull_secret(emulator):
    options = {"host": emulator.url, "api_key": TOKEN, "namespace": "fresh"}
    registry = {"server": "registry.example.com", "username": "robot", "password": "pw"}
    everything = ["Namespace/fresh", "ServiceAccount/cnab-driver", "Role/cnab-driver", "RoleBinding/cnab-driver",
                  "Secret/cnab-registry"]
    assert driver_setup.prepare_driver(options, registry=registry, check_mode=True) == {
        "created": everything, "updated": []}
    assert not emulator.cluster.namespace_exists("fresh")
    assert driver_setup.prepare_driver(options, registry=registry) == {"created": everything, "updated": []}
    assert driver_setup.prepare_driver(options, registry=registry) == {"created": [], "updated": []}
    assert driver_setup.prepare_driver(options, registry=registry, check_mode=True) == {"created": [], "updated": []}
    changed = dict(registry, password="other")
    assert driver_setup.prepare_driver(options, registry=changed, check_mode=True) == {
        "created": [], "updated": ["Secret/cnab-registry"]}
    assert driver_setup.prepare_driver(options, registry=changed) == {"created": [], "updated": ["Secret/cnab-registry"]}
