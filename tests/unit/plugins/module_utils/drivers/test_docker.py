"""The drivers' pure decisions: io.cnab.docker, image references, orphan detection, wrapped cancels."""

import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import base
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import docker as docker_driver
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.command import CommandDriver
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.kubernetes import KubernetesDriver
from ansible_collections.cnab.runtime.plugins.module_utils.errors import Cancelled, DriverError
from ansible_collections.cnab.runtime.plugins.plugin_utils.action import stopped_by_signal


def _bundle(value="absent", required=True, **extra):
    document = {"name": "b", "version": "1.0.0", "schemaVersion": "v1.2.0",
                "invocationImages": [{"image": "example.com/b:1", "imageType": "docker"}]}
    if required:
        document["requiredExtensions"] = ["io.cnab.docker"]
    if value != "absent":
        document["custom"] = {"io.cnab.docker": value}
    document.update(extra)
    return Bundle(document)


@pytest.mark.parametrize("value, required, expected", [
    (None, True, {"privileged": False}),  # what Porter writes
    ({}, True, {"privileged": False}),
    ({"privileged": False}, True, {"privileged": False}),
    ({"privileged": True}, True, {"privileged": True}),
    ("absent", True, {"privileged": False}),
    ({"privileged": True}, False, None),  # only requiredExtensions counts
])
def test_docker_access_request(value, required, expected):
    assert base.docker_access_request(_bundle(value, required)) == expected


@pytest.mark.parametrize("address, path", [
    (None, "/var/run/docker.sock"),
    ("unix:///var/run/docker.sock", "/var/run/docker.sock"),
    ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
    ("tcp://10.0.0.1:2376", None),
    ("ssh://user@host", None),
    ("npipe:////./pipe/docker_engine", None),
])
def test_engine_socket(address, path):
    assert docker_driver.engine_socket(address) == path


def test_the_docker_driver_grants_only_with_the_opt_in_and_a_unix_socket(tmp_path):
    sock = tmp_path / "engine.sock"
    sock.write_text("")
    bundle = _bundle({"privileged": True})
    with pytest.raises(DriverError, match="runs only with driver_options.allow_docker_host_access: true"):
        docker_driver.DockerDriver({"docker_host": "unix://%s" % sock}).check_bundle(bundle)
    with pytest.raises(DriverError, match="is not reached through a unix socket"):
        docker_driver.DockerDriver({"docker_host": "tcp://h:2375", "allow_docker_host_access": True}).check_bundle(bundle)
    access = docker_driver.DockerDriver({"docker_host": "unix://%s" % sock,
                                         "allow_docker_host_access": True}).check_bundle(bundle)
    assert (access.socket, access.group, access.privileged) == (str(sock), os.stat(sock).st_gid, True)
    assert docker_driver.DockerDriver({}).check_bundle(_bundle(required=False)) is None


@pytest.mark.parametrize("driver", [KubernetesDriver({"allow_docker_host_access": True}),
                                    CommandDriver("echo", {"allow_docker_host_access": True})])
def test_other_drivers_refuse_io_cnab_docker_in_one_sentence(driver):
    with pytest.raises(DriverError) as raised:
        base.check_bundle(driver, _bundle(None))
    message = str(raised.value)
    assert message.startswith('bundle b requires the extension "io.cnab.docker"') and message.count(". ") == 0
    base.check_bundle(driver, _bundle(required=False))  # nothing to refuse


def test_a_plugin_class_without_check_bundle_gets_the_base_refusal():
    class Plugin:
        name = "nomad"

    with pytest.raises(DriverError, match="which driver nomad cannot give"):
        base.check_bundle(Plugin(), _bundle(None))


@pytest.mark.parametrize("reference", ["../../containers/json", "hello/../../x", "Upper/case:1", "a b", "",
                                       "x:tag@sha256:short", "/containers/json"])
def test_image_references_outside_the_grammar_are_refused(reference):
    with pytest.raises(DriverError, match="is not a valid image reference"):
        docker_driver.check_image_reference(reference)


@pytest.mark.parametrize("reference", ["busybox", "cnab-tests/sleeper:0.1.0", "localhost:5100/a/b:1",
                                       "example.com/x@sha256:" + "a" * 64])
def test_image_references_of_the_grammar_pass(reference):
    docker_driver.check_image_reference(reference)


def test_creator_is_gone_only_for_a_dead_process_of_this_host():
    assert docker_driver.creator_is_gone(docker_driver.process_identity()) is False
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = docker_driver.process_identity(child.pid)
    child.wait()
    assert docker_driver.creator_is_gone(identity) is True
    host, namespace, pid, start = docker_driver.process_identity().split("/")
    assert docker_driver.creator_is_gone("/".join((host, namespace, pid, str(int(start) + 1)))) is True  # reused
    # Cannot tell for another host or another pid namespace (a container with the host's network and name).
    assert docker_driver.creator_is_gone("/".join(("elsewhere", namespace, str(child.pid), start))) is False
    assert docker_driver.creator_is_gone("/".join((host, "1", str(child.pid), start))) is False
    assert docker_driver.creator_is_gone(None) is False
    assert docker_driver.creator_is_gone("garbage") is False


def test_secret_variables_are_credential_and_sensitive_parameter_envs():
    bundle = _bundle(required=False, definitions={"secret": {"type": "string", "writeOnly": True},
                                                  "plain": {"type": "string"}},
                     parameters={"password": {"definition": "secret", "destination": {"env": "PASSWORD"}},
                                 "port": {"definition": "plain", "destination": {"env": "PORT"}},
                                 "file": {"definition": "secret", "destination": {"path": "/etc/x"}}},
                     credentials={"token": {"env": "TOKEN"}, "kube": {"path": "/root/.kube/config"},
                                  "unused": {"env": "UNUSED"}})
    operation = base.Operation("i", "install", "r", bundle, bundle.invocation_image(),
                               {"PASSWORD": "p", "PORT": "80", "TOKEN": "t", "CNAB_ACTION": "install"}, {}, {})
    assert base.secret_variables(operation) == ["PASSWORD", "TOKEN"]


def _wrapped_cancel():
    """What the Docker SDK raises when our signal handler interrupts its version request."""
    try:
        raise Cancelled("the run was canceled by signal 15.")
    except Cancelled as exc:
        try:
            raise RuntimeError("Error while fetching server API version: %s" % exc)
        except RuntimeError as wrapped:
            return wrapped


def test_a_cancel_wrapped_by_an_sdk_is_found():
    found = base.cancellation_in(_wrapped_cancel())
    assert isinstance(found, Cancelled) and str(found) == "the run was canceled by signal 15."
    assert base.cancellation_in(RuntimeError("x")) is None


@pytest.mark.parametrize("rc", [-signal.SIGTERM, 128 + signal.SIGTERM])
def test_a_module_killed_before_it_printed_gets_one_sentence(rc):
    result = {"failed": True, "_ansible_parsed": False, "module_stdout": "", "rc": rc,
              "msg": "Module result deserialization failed: No start of json char found"}
    assert stopped_by_signal("cnab.runtime.cnab_install", result) == {
        "failed": True, "changed": False, "rc": rc,
        "msg": "cnab.runtime.cnab_install was stopped by signal 15 (SIGTERM) before it could report a result."}


@pytest.mark.parametrize("result", [
    {"failed": True, "_ansible_parsed": False, "module_stdout": "", "rc": 1},  # a crash, not a signal
    {"failed": True, "_ansible_parsed": False, "module_stdout": '{"partial', "rc": -15},  # it said something
    {"changed": True, "_ansible_parsed": True, "rc": 0},
])
def test_other_results_pass_through(result):
    assert stopped_by_signal("cnab.runtime.cnab_install", dict(result)) == result
