"""io.cnab.docker (Porter's extension): refused without driver_options.allow_docker_host_access; with it the
container reaches the engine through its mounted socket, as a non-root user, through the socket's group."""

import json
import os
import subprocess

import pytest
from docker_host import DOCKERHOST, dockerhost_image
from support import HERE, containers, store_files, use_driver

OPT_IN = {"allow_docker_host_access": True}
REFUSED = ('bundle dockerhost requires the extension "io.cnab.docker", which gives its invocation image the Docker '
           "engine's socket and so root on the engine's host; it runs only with "
           "driver_options.allow_docker_host_access: true (or CNAB_ALLOW_DOCKER_HOST_ACCESS=true).")
CAP_SYS_ADMIN = 21  # in the bounding set of a --privileged container only (not in Docker's default set)


@pytest.fixture(autouse=True)
def image(images):
    return dockerhost_image()


def _engine():
    """(server version, engine id) of the engine the tests use, asked by the host's own client."""
    version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                             text=True, check=True).stdout.strip()
    engine_id = subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True,
                               check=True).stdout.strip()
    return version, engine_id


def _has_sys_admin(bounding_set):
    return bool(int(bounding_set.strip(), 16) >> CAP_SYS_ADMIN & 1)


def _claims(home):
    return [path for path in store_files(home) if "/claims/" in path]


def _privileged_bundle(tmp_path):
    with open(os.path.join(DOCKERHOST, "bundle.json")) as handle:
        document = json.load(handle)
    document["custom"]["io.cnab.docker"] = {"privileged": True}
    path = tmp_path / "privileged.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize("flags", [[], ["--check"]])
def test_refused_without_the_opt_in_nothing_runs_nothing_is_recorded(ansible, flags):
    result, raw = ansible.adhoc("cnab_install", {"installation": "no-host-access", "bundle": DOCKERHOST}, *flags)
    assert result.get("failed") is True, raw
    assert result["msg"] == REFUSED
    assert "Traceback" not in raw
    assert _claims(ansible.home) == []
    assert containers("no-host-access") == []


def test_granted_the_container_reaches_the_engine_four_steps(ansible):
    args = {"installation": "host-access", "bundle": DOCKERHOST, "driver_options": OPT_IN}
    steps = [ansible.adhoc("cnab_install", args, *flags) for flags in (["--check"], [], [], ["--check"])]
    assert [s[0]["changed"] for s in steps] == [True, True, False, False], steps[1][1]
    outputs = steps[1][0]["outputs"]
    # `docker version` and `docker info` from inside the container answer for this very engine.
    assert (outputs["server_version"].strip(), outputs["engine_id"].strip()) == _engine(), steps[1][0]["logs"]
    # The image runs as uid 1000; it reached the 0660 socket only through the socket's group.
    assert str(os.stat("/var/run/docker.sock").st_gid) in outputs["groups"].split()
    assert not _has_sys_admin(outputs["bounding_set"])  # null means not privileged
    assert containers("host-access") == []
    removed, raw = ansible.adhoc("cnab_uninstall", args)
    assert removed["changed"] and removed["result"]["status"] == "succeeded", raw


def test_privileged_only_when_the_bundle_asks_the_opt_in_also_from_the_environment(ansible, tmp_path):
    ansible.env["CNAB_ALLOW_DOCKER_HOST_ACCESS"] = "true"
    result, raw = ansible.adhoc("cnab_install", {"installation": "privileged", "bundle": _privileged_bundle(tmp_path)})
    assert result["changed"] and result["result"]["status"] == "succeeded", raw
    assert _has_sys_admin(result["outputs"]["bounding_set"])
    assert result["outputs"]["server_version"].strip() == _engine()[0]


def test_an_engine_over_tcp_is_refused(ansible):
    args = {"installation": "tcp-engine", "bundle": DOCKERHOST,
            "driver_options": dict(OPT_IN, docker_host="tcp://127.0.0.1:2375")}
    result, raw = ansible.adhoc("cnab_install", args)
    assert result.get("failed") is True, raw
    assert result["msg"] == (
        'bundle dockerhost requires the extension "io.cnab.docker", but the Docker engine at tcp://127.0.0.1:2375 '
        "is not reached through a unix socket, so there is no socket of it to mount into the invocation container; "
        "use an engine on this host (unix://...).")
    assert _claims(ansible.home) == []


def test_the_kubernetes_driver_refuses(ansible):
    from drivers_kubernetes import objects

    namespace, server = use_driver(ansible, "kubernetes")
    result, raw = ansible.adhoc("cnab_install", {"installation": "k8s-host-access", "bundle": DOCKERHOST,
                                                 "driver_options": OPT_IN})
    assert result.get("failed") is True, raw
    assert result["msg"].startswith('bundle dockerhost requires the extension "io.cnab.docker" (the socket of a '
                                    "Docker engine), which the kubernetes driver cannot give")
    assert result["msg"].count(". ") == 0 and result["msg"].endswith("allow_docker_host_access: true.")
    assert _claims(ansible.home) == []
    assert objects(server, namespace, "jobs") == [] and objects(server, namespace, "secrets") == []


def test_playbook_refused_then_four_steps_with_the_opt_in_from_module_defaults(ansible):
    run = ansible.playbook(os.path.join(HERE, "playbooks", "docker_host_access.yml"),
                           extra_vars={"bundle": DOCKERHOST, "server_version": _engine()[0]})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout
