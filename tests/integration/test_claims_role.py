"""The cnab_claims role and the cnab_claim_store module behind it.

Through ansible-playbook, for every backend: a check-mode run reports what it would create and
creates nothing, a run creates it, a second run changes nothing, and hello then installs into the
prepared store (on Kubernetes, in a namespace the role created; the store is then used again with
nothing but the Role's permissions, enforced by the emulator). Directly: the Role grants exactly
the verbs the kubernetes store uses, each of them is needed, and what differs is put right.
"""

import json
import os
import re
import stat
import time
import urllib.request

import kubernetes
import pytest
from kubernetes.client import ApiException
from stores import BACKENDS, options_for
from stores_kubernetes import kubeconfig_text
from support import HELLO, HERE

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.claims import setup as claims_setup
from ansible_collections.cnab.runtime.plugins.module_utils.claims.store import open_store
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ClaimStoreError
from tests.k8s_emulator import ApiError, Emulator
from tests.k8s_emulator.cluster import NAMESPACES, ROLE_BINDINGS, ROLES, SERVICE_ACCOUNTS

PLAYBOOK = os.path.join(HERE, "playbooks", "claims_role.yml")
TOKEN = "claims-admin-token"
ACCOUNT = "cnab-claims"
# What claims/kubernetes.py asks of the API in its namespace (see the table in roles/cnab_claims/README.md).
EXPECTED_RULES = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "list", "update"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
]
BUNDLE = Bundle(json.load(open(os.path.join(HELLO, "bundle.json"))))
_NAMESPACED = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
                         r"(?:/(?P<name>[^/]+))?$")
_CLUSTER = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
_DISCOVERY = ("/version", "/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz")


@pytest.fixture
def emulator():
    """A private API server: tests here enforce RBAC on it with ``fault``."""
    server = Emulator(token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(emulator, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_text(emulator.url, TOKEN))
    return str(path)


def _rbac(cluster, namespace, role, user):
    """A ``fault`` that answers 403 to every request the Role ``role`` in ``namespace`` does not allow,
    as the API server's RBAC authorizer does for a subject bound to that Role only (plus discovery)."""

    def fault(method, path, query):
        if path in _DISCOVERY or path.startswith("/apis/") and path.count("/") <= 3:
            return None  # system:discovery, granted to every authenticated user
        match = _NAMESPACED.match(path)
        namespace_of = match.group("ns") if match else None
        match = match or _CLUSTER.match(path)
        if match is None:
            return ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (user, method.lower(), path))
        group, plural, name = match.group("group") or "", match.group("plural"), match.group("name")
        if plural == "namespaces" and name:
            namespace_of = name  # the authorizer sees a namespace GET in that namespace
        verbs = {"GET": "get" if name else ("watch" if query.get("watch") else "list"), "POST": "create",
                 "PUT": "update", "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}
        verb = verbs[method]
        if namespace_of == namespace and plural != "namespaces":
            try:
                rules = cluster.get(ROLES, namespace, role).get("rules") or []
            except ApiError:
                rules = []
            for rule in rules:
                if (group in rule.get("apiGroups", ()) and plural in rule.get("resources", ())
                        and verb in rule.get("verbs", ())
                        and (not rule.get("resourceNames") or name in rule["resourceNames"])):
                    return None
        qualified = "%s.%s" % (plural, group) if group else plural
        where = 'in the namespace "%s"' % namespace_of if namespace_of else "at the cluster scope"
        return ApiError(403, "Forbidden", '%s%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s'
                        % (qualified, ' "%s"' % name if name else "", user, verb, plural, group, where))

    return fault


def _changed(run):
    match = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", run.stdout)
    assert match, run.stdout + run.stderr
    return int(match.group(1))


# -- through ansible-playbook, for every backend ------------------------------------------------


class _Local:
    def __init__(self, tmp_path):
        self.store = options_for("local", tmp_path)
        self.role_vars = {"cnab_claims_backend": "local", "cnab_claims_path": self.store["path"]}
        self.created = ["directory/" + self.store["path"]]
        self.secrets = ()

    def exists(self):
        if not os.path.isdir(self.store["path"]):
            return False
        assert stat.S_IMODE(os.stat(self.store["path"]).st_mode) == 0o700
        return True

    def snapshot(self):
        return os.stat(self.store["path"]).st_mtime_ns

    def use_with_the_role_only(self, ansible):
        pass


class _Azure:
    def __init__(self, tmp_path):
        from azure.storage.blob import BlobServiceClient

        self.store = options_for("azure_blob", tmp_path)
        self.role_vars = {"cnab_claims_backend": "azure_blob", "cnab_claims_container": self.store["container"],
                          "cnab_claims_connection_string": self.store["connection_string"]}
        self.created = ["container/" + self.store["container"]]
        self.secrets = (re.search(r"AccountKey=([^;]+)", self.store["connection_string"]).group(1),)
        service = BlobServiceClient.from_connection_string(self.store["connection_string"])
        self.container = service.get_container_client(self.store["container"])

    def exists(self):
        return self.container.exists()

    def snapshot(self):
        return self.container.get_container_properties().etag

    def use_with_the_role_only(self, ansible):
        pass


class _Kubernetes:
    def __init__(self, tmp_path, emulator, kubeconfig):
        self.emulator = emulator
        self.namespace = "claims-" + os.urandom(4).hex()  # created by nobody but the role
        self.store = {"backend": "kubernetes", "kubeconfig": kubeconfig, "namespace": self.namespace,
                      "lease_seconds": 3}
        self.role_vars = {"cnab_claims_backend": "kubernetes", "cnab_claims_kubeconfig": kubeconfig,
                          "cnab_claims_namespace": self.namespace}
        self.created = ["Namespace/" + self.namespace] + ["%s/%s" % (kind, ACCOUNT)
                                                          for kind in ("ServiceAccount", "Role", "RoleBinding")]
        self.secrets = (TOKEN,)

    def _objects(self):
        cluster = self.emulator.cluster
        found = []
        for resource in (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS):
            try:
                found.append(cluster.get(resource, self.namespace, ACCOUNT))
            except ApiError:
                pass
        return found

    def exists(self):
        if not self.emulator.cluster.namespace_exists(self.namespace):
            assert not self._objects()
            return False
        assert len(self._objects()) == 3
        return True

    def snapshot(self):
        namespace = self.emulator.cluster.get(NAMESPACES, None, self.namespace)
        return [o["metadata"]["resourceVersion"] for o in [namespace] + self._objects()]

    def use_with_the_role_only(self, ansible):
        """Uninstall hello with nothing but the Role's rights: namespaces GET is forbidden too."""
        self.emulator.requests.clear()
        user = "system:serviceaccount:%s:%s" % (self.namespace, ACCOUNT)
        self.emulator.fault = _rbac(self.emulator.cluster, self.namespace, ACCOUNT, user)
        try:
            result, out = ansible.adhoc("cnab_uninstall", {"installation": "hello-claims", "claim_store": self.store})
        finally:
            self.emulator.fault = None
        assert result.get("changed") and not result.get("failed"), out
        refused = [(r["method"], r["path"]) for r in self.emulator.requests if r["status"] == 403]
        assert set(refused) == {("GET", "/api/v1/namespaces/" + self.namespace)}, refused
        calls = {(r["method"], _NAMESPACED.match(r["path"]).group("plural")) for r in self.emulator.requests
                 if r["status"] < 300 and _NAMESPACED.match(r["path"])}
        assert {("POST", "secrets"), ("PUT", "leases")} <= calls, calls  # it wrote records and took the lock


@pytest.mark.parametrize("backend", BACKENDS)
def test_role_prepares_the_store_and_hello_installs_into_it(ansible, tmp_path, emulator, kubeconfig, backend):
    target = {"local": lambda: _Local(tmp_path), "azure_blob": lambda: _Azure(tmp_path),
              "kubernetes": lambda: _Kubernetes(tmp_path, emulator, kubeconfig)}[backend]()
    extra = dict(target.role_vars, expect_created=target.created, expect_updated=[])

    run = ansible.playbook(PLAYBOOK, "--check", "-v", extra_vars=extra)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _changed(run) == 1
    assert not target.exists(), "check mode created something"
    if backend == "kubernetes":
        assert {r["method"] for r in emulator.requests} == {"GET"}

    run = ansible.playbook(PLAYBOOK, "-v", extra_vars=extra)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _changed(run) == 1
    assert target.exists()
    before = target.snapshot()

    run = ansible.playbook(PLAYBOOK, "-v", extra_vars=dict(extra, expect_created=[]))
    assert run.returncode == 0, run.stdout + run.stderr
    assert _changed(run) == 0
    assert target.snapshot() == before

    run = ansible.playbook(PLAYBOOK, "-v", extra_vars=dict(extra, expect_created=[], install=True,
                                                           store=target.store, hello_bundle=HELLO))
    assert run.returncode == 0, run.stdout + run.stderr
    assert _changed(run) == 1  # the installation; the role changed nothing
    if backend == "local":
        assert os.path.isdir(os.path.join(target.store["path"], "installations", "hello-claims"))
    target.use_with_the_role_only(ansible)
    for secret in target.secrets:
        assert secret not in run.stdout + run.stderr


def test_role_reports_the_module_message_when_secrets_hide_the_task(ansible, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    run = ansible.playbook(PLAYBOOK, "-v", extra_vars={
        "cnab_claims_backend": "local", "cnab_claims_path": str(blocker), "cnab_claims_api_key": "hidden-key-3",
        "expect_created": [], "expect_updated": []})
    assert run.returncode != 0
    assert "the output has been hidden" in run.stdout
    assert "the local claim store at %s cannot be prepared: it exists and is not a directory." % blocker in run.stdout
    assert "hidden-key-3" not in run.stdout + run.stderr


# -- directly: the Role, the verbs and the repairs ------------------------------------------------


def _options(kubeconfig, namespace="cnab", **extra):
    return dict({"backend": "kubernetes", "kubeconfig": kubeconfig, "namespace": namespace, "lease_seconds": 1},
                **extra)


def test_role_rules_are_exactly_the_verbs_the_store_uses(emulator, kubeconfig):
    report = claims_setup.prepare_store(_options(kubeconfig))
    assert report == {"created": ["Namespace/cnab", "ServiceAccount/cnab-claims", "Role/cnab-claims",
                                  "RoleBinding/cnab-claims"], "updated": []}
    cluster = emulator.cluster
    assert cluster.get(ROLES, "cnab", ACCOUNT)["rules"] == EXPECTED_RULES
    assert [dict(rule) for rule in claims_setup.STORE_RULES] == EXPECTED_RULES
    binding = cluster.get(ROLE_BINDINGS, "cnab", ACCOUNT)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": "cnab"}]
    assert cluster.get(SERVICE_ACCOUNTS, "cnab", ACCOUNT)["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "cnab.runtime"}
    assert claims_setup.prepare_store(_options(kubeconfig)) == {"created": [], "updated": []}


def _use(store):
    """Everything the runtime asks of a store: each verb of the Role is used at least once."""
    store.fingerprint_key()  # secrets get, create
    claim = model.new_claim("app", "install", BUNDLE, {"greeting": "hi"}, model.new_ulid(), {"modifies": True})
    with store.lock("app", 5):  # leases get, create; releasing it: update
        store.write_claim("app", claim, {"password": "pw"})  # secrets create (records, the index)
        result = model.new_result(claim, model.STATUS_SUCCEEDED, None, {"out": {}})
        store.write_result("app", result, {"out": b"v"}, set())  # secrets update (the index)
    assert store.installation("app").exists  # secrets get
    assert store.sensitive_parameters("app", claim["id"]) == {"password": "pw"}  # secrets get
    with store.lock("app", 5):  # a free Lease is taken with update
        pass
    assert store.installation_names() == ["app"]  # secrets list


def test_the_role_suffices_and_each_of_its_verbs_is_needed(emulator, kubeconfig):
    user = "system:serviceaccount:cnab:" + ACCOUNT
    claims_setup.prepare_store(_options(kubeconfig))
    emulator.fault = _rbac(emulator.cluster, "cnab", ACCOUNT, user)
    _use(open_store(_options(kubeconfig)))  # the store carries on without namespaces GET
    assert ("GET", "/api/v1/namespaces/cnab", 403) in {(r["method"], r["path"], r["status"])
                                                       for r in emulator.requests}
    for index, rule in enumerate(EXPECTED_RULES):
        for verb in rule["verbs"]:
            emulator.fault = None
            emulator.cluster.delete(NAMESPACES, None, "cnab")
            claims_setup.prepare_store(_options(kubeconfig))
            role = emulator.cluster.get(ROLES, "cnab", ACCOUNT)
            role["rules"][index]["verbs"] = [v for v in rule["verbs"] if v != verb]
            emulator.cluster.replace(ROLES, "cnab", ACCOUNT, role)
            emulator.fault = _rbac(emulator.cluster, "cnab", ACCOUNT, user)
            with pytest.raises(ClaimStoreError) as caught:
                _use(open_store(_options(kubeconfig)))
            assert 'cannot %s resource "%s"' % (verb, rule["resources"][0]) in str(caught.value), (verb, caught.value)
            time.sleep(1.1)  # a Lease left held (release refused) expires
    emulator.fault = None


def test_a_role_that_differs_is_set_back_and_a_binding_gets_the_account(emulator, kubeconfig):
    options = _options(kubeconfig)
    claims_setup.prepare_store(options)
    cluster = emulator.cluster
    role = cluster.get(ROLES, "cnab", ACCOUNT)
    role["rules"] = [dict(role["rules"][0], verbs=["*"])]
    cluster.replace(ROLES, "cnab", ACCOUNT, role)
    binding = cluster.get(ROLE_BINDINGS, "cnab", ACCOUNT)
    binding["subjects"] = [{"kind": "User", "name": "alice"}]
    cluster.replace(ROLE_BINDINGS, "cnab", ACCOUNT, binding)
    tampered = [cluster.get(ROLES, "cnab", ACCOUNT), cluster.get(ROLE_BINDINGS, "cnab", ACCOUNT)]

    assert claims_setup.prepare_store(options, check_mode=True) == {
        "created": [], "updated": ["Role/cnab-claims", "RoleBinding/cnab-claims"]}
    assert [cluster.get(ROLES, "cnab", ACCOUNT), cluster.get(ROLE_BINDINGS, "cnab", ACCOUNT)] == tampered
    assert claims_setup.prepare_store(options) == {"created": [], "updated": ["Role/cnab-claims",
                                                                              "RoleBinding/cnab-claims"]}
    assert cluster.get(ROLES, "cnab", ACCOUNT)["rules"] == EXPECTED_RULES
    assert cluster.get(ROLE_BINDINGS, "cnab", ACCOUNT)["subjects"] == [
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": "cnab"}]

    # Rules in another order, with the verbs in another order, are the same rules.
    role = cluster.get(ROLES, "cnab", ACCOUNT)
    role["rules"] = [dict(rule, verbs=list(reversed(rule["verbs"]))) for rule in reversed(EXPECTED_RULES)]
    cluster.replace(ROLES, "cnab", ACCOUNT, role)
    assert claims_setup.prepare_store(options) == {"created": [], "updated": []}


def test_a_binding_of_another_role_is_refused(emulator, kubeconfig):
    emulator.cluster.create_namespace("cnab")
    emulator.cluster.create(ROLE_BINDINGS, "cnab", {"metadata": {"name": ACCOUNT},
                                                    "roleRef": {"kind": "ClusterRole", "name": "edit"}})
    with pytest.raises(ClaimStoreError) as caught:
        claims_setup.prepare_store(_options(kubeconfig))
    assert str(caught.value) == (
        "the kubernetes claim store in namespace cnab cannot be prepared: RoleBinding cnab-claims binds ClusterRole "
        "edit, not Role cnab-claims, and a RoleBinding's roleRef cannot change; delete it or choose another "
        "service_account.")


def test_namespace_is_created_only_when_allowed(emulator, kubeconfig):
    with pytest.raises(ClaimStoreError) as caught:
        claims_setup.prepare_store(_options(kubeconfig, "absent"), create_namespace=False)
    assert str(caught.value) == (
        "the kubernetes claim store cannot be prepared in namespace absent: it does not exist and create_namespace "
        "is false; create it, or set create_namespace to true.")
    assert not emulator.cluster.namespace_exists("absent")
    emulator.cluster.create_namespace("present")
    assert claims_setup.prepare_store(_options(kubeconfig, "present"), "ci", create_namespace=False) == {
        "created": ["ServiceAccount/ci", "Role/ci", "RoleBinding/ci"], "updated": []}


def test_api_refusals_and_bad_names_are_sentences(emulator, kubeconfig):
    with pytest.raises(ClaimStoreError, match="service_account 'CI_bot' is not a valid Kubernetes name"):
        claims_setup.prepare_store(_options(kubeconfig), "CI_bot")
    emulator.fault = lambda method, path, query: (
        ApiError(403, "Forbidden", 'roles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource '
                                   '"roles" in API group "rbac.authorization.k8s.io" in the namespace "cnab"')
        if method == "POST" and path.endswith("/roles") else None)
    with pytest.raises(ClaimStoreError) as caught:
        claims_setup.prepare_store(_options(kubeconfig))
    assert str(caught.value) == (
        'the kubernetes claim store in namespace cnab could not prepare Role cnab-claims: '
        'roles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "roles" in API group '
        '"rbac.authorization.k8s.io" in the namespace "cnab" (HTTP 403 Forbidden).')


def test_local_directory_mode_is_set_to_0700(tmp_path):
    path = tmp_path / "home"
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    report = claims_setup.prepare_store({"backend": "local", "path": str(path)}, check_mode=True)
    assert report == {"created": [], "updated": ["directory/%s" % path]}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert claims_setup.prepare_store({"backend": "local", "path": str(path)})["updated"] == ["directory/%s" % path]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert claims_setup.prepare_store({"backend": "local", "path": str(path)}) == {"created": [], "updated": []}


# -- the emulator's ServiceAccounts, Roles and RoleBindings, through the official client ---------------


def test_emulator_serves_service_accounts_roles_and_bindings(emulator):
    configuration = kubernetes.client.Configuration()
    configuration.host = emulator.url
    configuration.api_key = {"authorization": "Bearer " + TOKEN}
    client = kubernetes.client.ApiClient(configuration)
    core, rbac = kubernetes.client.CoreV1Api(client), kubernetes.client.RbacAuthorizationV1Api(client)
    emulator.cluster.create_namespace("ns")

    core.create_namespaced_service_account("ns", {"metadata": {"name": "sa"}})
    assert [a.metadata.name for a in core.list_namespaced_service_account("ns").items] == ["sa"]
    role = rbac.create_namespaced_role("ns", {"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]})
    role.rules[0].verbs.append("list")
    assert rbac.replace_namespaced_role("r", "ns", role).rules[0].verbs == ["get", "list"]
    rbac.create_namespaced_role_binding("ns", {"metadata": {"name": "b"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [
        {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]})
    binding = rbac.read_namespaced_role_binding("b", "ns")
    assert binding.subjects[0].name == "sa" and binding.role_ref.name == "r"
    assert [b.metadata.name for b in rbac.list_namespaced_role_binding("ns").items] == ["b"]

    binding.role_ref.name = "other"
    with pytest.raises(ApiException) as caught:
        rbac.replace_namespaced_role_binding("b", "ns", binding)
    status = json.loads(caught.value.body)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "roleRef"
    with pytest.raises(ApiException) as caught:
        rbac.create_namespaced_role("ns", {"metadata": {"name": "bad"}, "rules": [{"resources": ["secrets"], "verbs": []}]})
    assert [c["field"] for c in json.loads(caught.value.body)["details"]["causes"]] == [
        "rules[0].verbs", "rules[0].apiGroups"]
    with pytest.raises(ApiException) as caught:
        rbac.read_namespaced_role("missing", "ns")
    assert json.loads(caught.value.body)["message"] == 'roles.rbac.authorization.k8s.io "missing" not found'

    rbac.delete_namespaced_role_binding("b", "ns")
    rbac.delete_namespaced_role("r", "ns")
    core.delete_namespaced_service_account("sa", "ns")
    assert not rbac.list_namespaced_role("ns").items and not core.list_namespaced_service_account("ns").items
    # Discovery (the SDK's discovery calls add a trailing slash, which the emulator does not serve).
    discovered = {}
    for path in ("/apis", "/api/v1", "/apis/rbac.authorization.k8s.io/v1"):
        request = urllib.request.Request(emulator.url + path, headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(request) as answer:
            discovered[path] = json.load(answer)
    assert [g["name"] for g in discovered["/apis"]["groups"]] == ["coordination.k8s.io", "rbac.authorization.k8s.io",
                                                                  "batch"]  # batch: Jobs, for the kubernetes driver
    assert [r["name"] for r in discovered["/api/v1"]["resources"]] == ["namespaces", "secrets", "serviceaccounts",
                                                                       "pods"]
    assert [(r["name"], r["kind"], r["namespaced"]) for r in
            discovered["/apis/rbac.authorization.k8s.io/v1"]["resources"]] == [
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True)]
