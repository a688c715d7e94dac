"""The kubernetes driver end to end: modules through Ansible, Jobs on the API emulator, whose kubelet runs
the pods on the local Docker engine. The driver does not know it talks to an emulator."""

import base64
import hashlib
import json
import os
import re
import signal
import sys

from drivers_kubernetes import objects, wait_for_invocation, wait_until_gone
from support import BIGOUTPUT, HELLO, HERE, NONROOT, SHOWCASE, SLEEPER, module_pids, use_driver

from tests.k8s_emulator import ApiError
from tests.k8s_emulator.workloads import delete_job

SECRET_PARAMETER = "canary-admin-pw-1618"
SECRET_CREDENTIAL = "canary-token-1414"


def test_lifecycle_playbook_four_steps(ansible):
    namespace, server = use_driver(ansible, "kubernetes")
    run = ansible.playbook(HERE + "/playbooks/lifecycle.yml", "-vvv", extra_vars={
        "hello_bundle": HELLO, "showcase_bundle": SHOWCASE, "store": {"backend": "local", "path": ansible.home},
        "admin_password": SECRET_PARAMETER, "api_token": SECRET_CREDENTIAL})
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", run.stdout)
    assert "api_token=********" in run.stdout  # the image printed the credential, from the pod's log
    for secret in (SECRET_PARAMETER, SECRET_CREDENTIAL):
        assert secret not in run.stdout + run.stderr
    jobs_path = "/apis/batch/v1/namespaces/%s/jobs" % namespace
    created = [r for r in server.requests if r["method"] == "POST" and r["path"] == jobs_path
               and not r["query"].get("dryRun")]
    assert len(created) == 9  # one Job per action that ran
    assert wait_until_gone(server, namespace) == {}


def _example_results(ansible, tmp_path, driver):
    use_driver(ansible, driver)
    ansible.env["CNAB_HOME"] = str(tmp_path / ("home-" + driver))
    results = tmp_path / ("results-%s.json" % driver)
    run = ansible.playbook(HERE + "/playbooks/examples_outputs.yml", extra_vars={
        "hello_bundle": HELLO, "showcase_bundle": SHOWCASE, "results_file": str(results),
        "admin_password": SECRET_PARAMETER, "api_token": SECRET_CREDENTIAL})
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(results.read_text())


def test_examples_give_the_docker_drivers_outputs_and_logs(ansible, tmp_path):
    docker = _example_results(ansible, tmp_path, "docker")
    kubernetes = _example_results(ansible, tmp_path, "kubernetes")
    assert list(kubernetes) == list(docker)
    for step in docker:
        assert kubernetes[step]["result"]["status"] == docker[step]["result"]["status"] == "succeeded", step
        assert kubernetes[step]["outputs"] == docker[step]["outputs"], step
        assert kubernetes[step]["logs"] == docker[step]["logs"], step
    assert docker["showcase_upgrade"]["outputs"]["summary"] == {"port": 9090, "replicas": 1, "tier": "prod",
                                                                "action": "upgrade"}
    assert "io.cnab.status" in kubernetes["showcase_help"]["logs"]


def test_binary_output_over_a_mebibyte_comes_back_also_from_a_failed_action(ansible):
    namespace, server = use_driver(ansible, "kubernetes")
    for code in (0, 4):
        result, raw = ansible.adhoc("cnab_install", {"installation": "big", "bundle": BIGOUTPUT, "force": True,
                                                     "parameters": {"size": 1536 * 1024, "exit_code": code}})
        blob = base64.b64decode(result["outputs"]["blob"])
        assert len(blob) == 1536 * 1024, raw[:2000]
        assert hashlib.sha256(blob).hexdigest() == result["outputs"]["digest"]
        assert result["logs"] == "install wrote %d bytes\n" % (1536 * 1024)
        if code:
            assert result.get("failed") is True and "exited with code 4" in result["msg"]
        else:
            assert result["result"]["status"] == "succeeded"
    assert wait_until_gone(server, namespace) == {}


def test_files_are_readable_by_a_named_non_root_user(ansible):
    """The image's USER (uid 1000, by name) reads the parameter and credential files the init container copied."""
    use_driver(ansible, "kubernetes")
    result, raw = ansible.adhoc("cnab_install", {"installation": "nonroot", "bundle": NONROOT,
                                                 "parameters": {"setting": "blue"},
                                                 "credentials": {"token": "sixteen-chars-ok"}})
    assert result["changed"] and result["result"]["status"] == "succeeded", raw
    assert result["outputs"] == {"report": "1000|blue|16"}


def test_job_spec_carries_no_secret_and_its_secret_is_owned_by_the_job(ansible):
    namespace, server = use_driver(ansible, "kubernetes")
    result, raw = ansible.adhoc("cnab_install", {
        "installation": "kept", "bundle": SHOWCASE, "parameters": {"admin_password": SECRET_PARAMETER},
        "credentials": {"api_token": SECRET_CREDENTIAL}, "driver_options": {"keep_resources": True}})
    assert result["changed"] and result["result"]["status"] == "succeeded", raw
    from tests.k8s_emulator.server import resource_of

    job_name = "cnab-" + result["claim"]["id"].lower()
    job = server.cluster.get(resource_of("jobs"), namespace, job_name)
    secret = server.cluster.get(resource_of("secrets"), namespace, job_name)
    pods = server.cluster.list(resource_of("pods"), namespace, "job-name=" + job_name)["items"]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Succeeded"
    for obj in (job, pods[0]):
        text = json.dumps(obj)
        for value in (SECRET_PARAMETER, SECRET_CREDENTIAL, base64.b64encode(SECRET_CREDENTIAL.encode()).decode()):
            assert value not in text
    decoded = b"".join(base64.b64decode(v) for v in secret["data"].values())
    assert SECRET_CREDENTIAL.encode() in decoded and SECRET_PARAMETER.encode() in decoded
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert job["spec"]["activeDeadlineSeconds"] == 3600 and job["spec"]["backoffLimit"] == 0
    assert "ttlSecondsAfterFinished" not in job["spec"]  # kept for debugging: no TTL either
    delete_job(server.cluster, namespace, job_name, {"propagationPolicy": "Background"})
    assert wait_until_gone(server, namespace) == {}  # the garbage collector took the pod and the Secret


def test_killed_caller_leaves_nothing_behind_after_the_ttl(ansible):
    namespace, server = use_driver(ansible, "kubernetes")
    run = ansible.adhoc_process("cnab_install", {"installation": "orphan", "bundle": SLEEPER,
                                                 "parameters": {"sleep": 3}, "driver_options": {"ttl_seconds": 2}})
    wait_for_invocation(server, namespace, "orphan")
    for pid in module_pids(run):
        os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=60)
    assert objects(server, namespace, "jobs") and objects(server, namespace, "secrets")  # the caller is gone
    assert wait_until_gone(server, namespace, timeout=30) == {}


def _bundle_with_image(tmp_path, image):
    with open(os.path.join(HELLO, "bundle.json")) as handle:
        document = json.load(handle)
    document["invocationImages"][0]["image"] = image
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_errors_are_one_sentence_with_the_reason_kubernetes_gives(ansible, tmp_path):
    namespace, server = use_driver(ansible, "kubernetes")

    missing = _bundle_with_image(tmp_path, "cnab-tests/absent:0.0.1")
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-image", "bundle": missing})
    assert result.get("failed") is True, raw
    assert result["msg"].startswith("the invocation image cnab-tests/absent:0.0.1 cannot be pulled in namespace %s "
                                    "(ErrImagePull: " % namespace), result["msg"]

    result, raw = ansible.adhoc("cnab_install", {"installation": "unschedulable", "bundle": HELLO,
                                                 "driver_options": {"node_selector": {"disktype": "ssd"},
                                                                    "timeout": 2}})
    assert result.get("failed") is True, raw
    assert "could not be scheduled within 2 seconds: Unschedulable: 0/1 nodes are available: 1 node(s) didn't " \
           "match Pod's node affinity/selector" in result["msg"], result["msg"]

    result, raw = ansible.adhoc("cnab_install", {"installation": "no-account", "bundle": HELLO,
                                                 "driver_options": {"service_account": "nobody"}})
    assert result.get("failed") is True, raw
    assert result["msg"] == ("the kubernetes driver cannot run pods as ServiceAccount nobody: it does not exist in "
                             "namespace %s; create it or unset driver_options.service_account." % namespace)

    result, raw = ansible.adhoc("cnab_install", {"installation": "too-slow", "bundle": SLEEPER,
                                                 "parameters": {"sleep": 60}, "driver_options": {"timeout": 2}})
    assert result.get("failed") is True, raw
    assert "the invocation image did not finish within 2 seconds (activeDeadlineSeconds)" in result["msg"], raw

    def forbid(method, path, query):
        if method == "POST" and path == "/apis/batch/v1/namespaces/%s/jobs" % namespace:
            return ApiError(403, "Forbidden", 'jobs.batch is forbidden: User "system:serviceaccount:cnab:ci" cannot '
                                              'create resource "jobs" in API group "batch" in the namespace "%s"'
                                              % namespace)
        return None

    server.fault = forbid
    try:
        result, raw = ansible.adhoc("cnab_install", {"installation": "forbidden", "bundle": HELLO})
    finally:
        server.fault = None
    assert result.get("failed") is True, raw
    assert re.match(r"the kubernetes driver may not create Job cnab-\w+ in namespace %s: jobs.batch is forbidden: "
                    r".*\(HTTP 403 Forbidden\); grant it the Role that roles/cnab_driver creates\.$" % namespace,
                    result["msg"]), result["msg"]

    ansible.env["CNAB_DRIVER_NAMESPACE"] = "nowhere"
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-namespace", "bundle": HELLO})
    assert result.get("failed") is True, raw
    assert re.match(r"the kubernetes driver cannot create Job cnab-\w+: namespace nowhere does not exist; create it "
                    r"\(roles/cnab_driver does\)", result["msg"]), result["msg"]
    info, raw = ansible.adhoc("cnab_claim_info", {"installation": "no-namespace"})
    assert info["installation"]["exists"] is False, raw  # refused before anything was recorded
    assert wait_until_gone(server, namespace) == {}


CNAB_ECHO = r'''#!%(python)s
"""A driver plugin for the test: runs nothing, answers like the hello bundle would."""
import json, os, sys
if sys.argv[1:] == ["--handles"]:
    print("docker,oci")
    sys.exit(0)
operation = json.load(sys.stdin)
assert "/cnab/bundle.json" in operation["files"], operation["files"]
assert set(os.environ["CNAB_VARS"].split(",")) == set(operation["environment"])
assert os.environ["PLUGIN_SETTING"] == "from-config"
print("%%s %%s" %% (operation["action"], operation["installation_name"]))
for path, name in operation["outputs"].items():
    target = os.path.join(os.environ["CNAB_OUTPUT_DIR"], path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write("%%s from %%s" %% (os.environ.get("GREETING", "Hello"), operation["installation_name"]))
sys.exit(int(os.environ.get("ECHO_EXIT", "0")))
'''

PYTHON_DRIVER = '''
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.base import Driver, OperationResult


class Upper(Driver):
    name = "upper"

    def __init__(self, options):
        self.options = options

    def run(self, operation):
        text = operation.environment.get("GREETING", "Hello").upper()
        return OperationResult(0, "upper %s\\n" % operation.action,
                               {path: text.encode() for path in operation.outputs})
'''


def test_driver_plugins_executable_and_entry_point(ansible, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "cnab-echo"
    executable.write_text(CNAB_ECHO % {"python": sys.executable})
    executable.chmod(0o755)
    ansible.env["PATH"] = "%s:%s" % (bin_dir, ansible.env["PATH"])
    args = {"installation": "plugged", "bundle": HELLO, "parameters": {"greeting": "Ahoy"}, "driver": "echo",
            "driver_options": {"config": {"PLUGIN_SETTING": "from-config"}}}
    steps = [ansible.adhoc("cnab_install", args) for unused in range(2)]
    assert [s[0]["changed"] for s in steps] == [True, False], steps[0][1]
    assert steps[0][0]["outputs"] == {"message": "Ahoy from plugged"}
    assert steps[0][0]["logs"] == "install plugged\n"

    ansible.env["ECHO_EXIT"] = "7"
    failed, raw = ansible.adhoc("cnab_upgrade", dict(args, parameters={"greeting": "Bye"}))
    assert failed.get("failed") is True and "exited with code 7" in failed["msg"], raw
    assert failed["outputs"] == {"message": "Bye from plugged"}  # outputs also from a failed run

    site = tmp_path / "site"
    (site / "upper_driver-0.1.dist-info").mkdir(parents=True)
    (site / "upper_driver-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: upper-driver\n"
                                                                  "Version: 0.1\n")
    (site / "upper_driver-0.1.dist-info" / "entry_points.txt").write_text("[cnab.runtime.drivers]\n"
                                                                          "upper = upper_driver:Upper\n")
    (site / "upper_driver.py").write_text(PYTHON_DRIVER)
    ansible.env["PYTHONPATH"] = "%s:%s" % (site, ansible.env.get("PYTHONPATH", ""))
    result, raw = ansible.adhoc("cnab_install", {"installation": "uppered", "bundle": HELLO, "driver": "upper",
                                                 "parameters": {"greeting": "hey"}})
    assert result["changed"] and result["outputs"] == {"message": "HEY"}, raw

    result, raw = ansible.adhoc("cnab_install", {"installation": "nodriver", "bundle": HELLO, "driver": "nothing"})
    assert result.get("failed") is True, raw
    assert result["msg"].startswith("driver 'nothing' is not available: no executable cnab-nothing on PATH")


def test_reap_deletes_the_job_of_a_run_that_died(ansible):
    """kill -9 mid-action, then the next run: it finds the dead run's Job by label and deletes it."""
    namespace, server = use_driver(ansible, "kubernetes")
    run = ansible.adhoc_process("cnab_install", {"installation": "reaped", "bundle": SLEEPER,
                                                 "parameters": {"sleep": 60}})
    wait_for_invocation(server, namespace, "reaped")
    for pid in module_pids(run):
        os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=60)
    again, raw = ansible.adhoc("cnab_install", {"installation": "reaped", "bundle": SLEEPER, "lock_timeout": 30})
    assert again["changed"] and again["result"]["status"] == "succeeded", raw
    info, unused_raw = ansible.adhoc("cnab_claim_info", {"installation": "reaped", "history": True})
    first = info["installation"]["history"][0]["results"]
    assert [r["status"] for r in first] == ["running", "unknown"]
    assert "its Job cnab-%s" % info["installation"]["history"][0]["claim"]["id"].lower() in first[-1]["message"]
    assert wait_until_gone(server, namespace) == {}


# What drivers/kubernetes.py asks of the API (see the table in roles/cnab_driver/README.md).
EXPECTED_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
]
_LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")


def _rbac_with_subresources(cluster, namespace, role, user):
    """test_claims_role's RBAC authorizer, plus the pods/log subresource."""
    from test_claims_role import _rbac

    from tests.k8s_emulator.cluster import ROLES

    plain = _rbac(cluster, namespace, role, user)

    def fault(method, path, query):
        match = _LOG.match(path)
        if match is None:
            return plain(method, path, query)
        rules = cluster.get(ROLES, namespace, role).get("rules") or []
        if match.group("ns") == namespace and method == "GET" and any(
                "" in r.get("apiGroups", ()) and "pods/log" in r.get("resources", ()) and "get" in r.get("verbs", ())
                for r in rules):
            return None
        return ApiError(403, "Forbidden", 'pods "%s" is forbidden: User "%s" cannot get resource "pods/log" in API '
                                          'group "" in the namespace "%s"' % (match.group("name"), user, namespace))

    return fault


def test_driver_role_prepares_exactly_what_the_driver_needs(ansible):
    from stores_kubernetes import emulator

    from ansible_collections.cnab.runtime.plugins.module_utils.drivers.kubernetes import KubernetesDriver
    from tests.k8s_emulator.server import resource_of

    server, kubeconfig = emulator()
    namespace = "drv-" + os.urandom(4).hex()  # created by nobody but the role
    role_vars = {"cnab_driver_name": "kubernetes", "cnab_driver_kubeconfig": kubeconfig,
                 "cnab_driver_namespace": namespace, "cnab_driver_registry_server": "registry.example.com:5000",
                 "cnab_driver_registry_username": "robot", "cnab_driver_registry_password": "pull-token-271"}
    changed = []
    for flags in (["--check"], [], [], ["--check"]):
        run = ansible.playbook(HERE + "/playbooks/driver_role.yml", *flags, extra_vars=role_vars)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "pull-token-271" not in run.stdout + run.stderr
        changed.append(int(re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", run.stdout).group(1)))
    assert changed == [1, 1, 0, 0]
    role = server.cluster.get(resource_of("roles"), namespace, "cnab-driver")
    assert sorted(role["rules"], key=json.dumps) == sorted(EXPECTED_RULES, key=json.dumps)
    pull = server.cluster.get(resource_of("secrets"), namespace, "cnab-registry")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))["auths"]
    assert auths["registry.example.com:5000"]["auth"] == base64.b64encode(b"robot:pull-token-271").decode()

    # The driver, with nothing but the Role's rights, as the ServiceAccount the role bound it to.
    from drivers_kubernetes import helper_image

    user = "system:serviceaccount:%s:cnab-driver" % namespace
    server.requests.clear()
    server.fault = _rbac_with_subresources(server.cluster, namespace, "cnab-driver", user)
    try:
        ansible.env.update({"CNAB_DRIVER": "kubernetes", "K8S_AUTH_KUBECONFIG": kubeconfig,
                            "CNAB_DRIVER_NAMESPACE": namespace, "CNAB_K8S_HELPER_IMAGE": helper_image()})
        result, raw = ansible.adhoc("cnab_install", {"installation": "rbac", "bundle": HELLO})
        assert result["changed"] and result["outputs"] == {"message": "Hello from rbac"}, raw
        reaped = KubernetesDriver({"kubeconfig": kubeconfig, "namespace": namespace}).reap("rbac", "01none")
        assert reaped is None
    finally:
        server.fault = None
    refused = [(r["method"], r["path"]) for r in server.requests if r["status"] == 403]
    assert refused == []
    verbs = {"GET": "get", "POST": "create", "DELETE": "delete"}
    used = set()
    for request in server.requests:
        match = _LOG.match(request["path"])
        if match:
            used.add(("pods/log", "get"))
            continue
        parts = request["path"].split("/")
        plural, named = (parts[6], len(parts) > 7) if parts[1] == "apis" else (parts[5], len(parts) > 6)
        used.add((plural, verbs[request["method"]] if named or request["method"] != "GET" else "list"))
    granted = {(resource, verb) for rule in EXPECTED_RULES for resource in rule["resources"] for verb in rule["verbs"]}
    assert used == granted  # every granted verb was needed, and nothing else was asked for
