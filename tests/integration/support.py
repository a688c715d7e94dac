"""Shared helpers of the integration tests: paths, the images they need, and a runner
that drives the modules the way users do, through ad-hoc ``ansible`` and ``ansible-playbook``."""

import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
IMAGES = {
    os.path.join(REPO, "examples", "hello"): "cnab-examples/hello:0.1.0",
    os.path.join(REPO, "examples", "showcase"): "cnab-examples/showcase:1.0.0",
    os.path.join(HERE, "bundles", "sleeper"): "cnab-tests/sleeper:0.1.0",
    os.path.join(HERE, "bundles", "nonroot"): "cnab-tests/nonroot:0.1.0",
    os.path.join(HERE, "bundles", "bigoutput"): "cnab-tests/bigoutput:0.1.0",
    os.path.join(HERE, "bundles", "leaky"): "cnab-tests/leaky:0.1.0",
}
HELLO = os.path.join(REPO, "examples", "hello")
SHOWCASE = os.path.join(REPO, "examples", "showcase")
SLEEPER = os.path.join(HERE, "bundles", "sleeper")
NONROOT = os.path.join(HERE, "bundles", "nonroot")
BIGOUTPUT = os.path.join(HERE, "bundles", "bigoutput")
LEAKY = os.path.join(HERE, "bundles", "leaky")


def docker_answers():
    return subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0


class Ansible:
    """Runs ad-hoc modules and playbooks against localhost with an isolated claim store."""

    def __init__(self, collections, home):
        self.home = home
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections,
            "CNAB_HOME": home,
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "true",
        })

    def adhoc_process(self, module, args, *flags, **popen):
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "cnab.runtime." + module,
                   "-a", json.dumps(args), *flags]
        return subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **popen)

    def adhoc(self, module, args, *flags):
        """Run one module ad hoc; returns the task result dict and the raw output."""
        proc = self.adhoc_process(module, args, *flags)
        out, err = proc.communicate(timeout=300)
        return _task_result(out), out + err

    def playbook(self, path, *flags, extra_vars=None):
        command = [os.path.join(BIN, "ansible-playbook"), path, *flags]
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=600, check=False)


def _task_result(out):
    """The default callback prints ``localhost | STATUS => {json}`` for an ad-hoc task."""
    marker = out.find(" => {")
    if marker < 0:
        raise AssertionError("ansible printed no task result:\n" + out)
    result = json.loads(out[marker + 4:])
    if out[:marker].rstrip().endswith("| FAILED!"):
        result["failed"] = True  # the callback shows failure in the status, not in the JSON
    return result


def store_files(home):
    """Every file of a local store as {relative path: bytes}."""
    found = {}
    for root, _unused, files in os.walk(home):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, home)] = handle.read()
    return found


def containers(installation):
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.cnab.runtime.installation=" + installation],
                          capture_output=True, text=True, check=True).stdout.split()


def wait_for_container(installation, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=io.cnab.runtime.installation=" + installation],
                             capture_output=True, text=True, check=False).stdout.split()
        if ids:
            return ids
        time.sleep(0.1)
    raise AssertionError("no container started for " + installation)


DRIVERS = ["docker", "kubernetes"]


def use_driver(ansible, driver):
    """Point ``ansible``'s modules at ``driver`` through its environment fallbacks; for kubernetes,
    ``(namespace, emulator)`` of a fresh namespace of the session's emulator, else None."""
    if driver == "docker":
        return None
    from drivers_kubernetes import kubernetes_environment

    environment, namespace, server = kubernetes_environment()
    ansible.env.update(environment)
    return namespace, server


def module_pids(ancestor):
    """PIDs of the AnsiballZ module processes started under the process ``ancestor`` (a Popen):
    only this test's modules, never those of other runs on the same machine."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                stat = handle.read()
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                commands[int(entry)] = handle.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == ancestor.pid:
                return True
        return False

    return [pid for pid, command in commands.items() if b"AnsiballZ_cnab_" in command and descends(pid)]
