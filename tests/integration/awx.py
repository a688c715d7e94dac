"""AWX, simulated for the tests: how AWX checks a custom credential type, how it renders the
injectors of a credential into a job's private data directory, its built-in Kubernetes
credential, and a job template run the way AWX runs it, with ansible-runner.

What AWX does is taken from its documented behaviour (credential types: inputs/injectors,
Jinja templates over the inputs in a sandbox, ``tower.filename``); the code is ours.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from support import BIN, REPO

CREDENTIAL_TYPES = os.path.join(REPO, "extensions", "awx", "credential_types")
# Keys AWX accepts in a credential type's input field, and its other rules.
FIELD_KEYS = {"id", "label", "type", "format", "choices", "help_text", "multiline", "secret", "ask_at_runtime",
              "default"}
STRING_ONLY_KEYS = ("choices", "multiline", "format", "secret")
NAME = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
FILE_LABEL = re.compile(r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$")
# Variables AWX refuses in env injectors (besides every ANSIBLE_* name).
ENV_BLOCKLIST = {"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                 "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
                 "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
                 "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH"}


def credential_type_paths():
    return sorted(glob.glob(os.path.join(CREDENTIAL_TYPES, "*.yml")))


def load_credential_type(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def check_credential_type(definition):
    """The problems AWX would refuse the credential type for (an empty list when it accepts it)."""
    problems = []
    unknown = set(definition) - {"name", "description", "kind", "inputs", "injectors"}
    if unknown:
        problems.append("unknown top-level keys %s" % sorted(unknown))
    if definition.get("kind") not in ("cloud", "net"):
        problems.append("kind must be cloud or net for a custom credential type")
    fields = definition["inputs"].get("fields", [])
    ids = [field.get("id") for field in fields]
    if len(set(ids)) != len(ids):
        problems.append("field ids are not unique")
    for field in fields:
        kind = field.get("type", "string")
        if set(field) - FIELD_KEYS or not {"id", "label"} <= set(field):
            problems.append("field %s: keys %s" % (field.get("id"), sorted(field)))
        if not NAME.match(field.get("id", "")) or field.get("id") == "tower":
            problems.append("field id %r is not allowed" % field.get("id"))
        if kind not in ("string", "boolean"):
            problems.append("field %s: type %s" % (field["id"], kind))
        if "default" in field and not isinstance(field["default"], {"string": str, "boolean": bool}[kind]):
            problems.append("field %s: default is not a %s" % (field["id"], kind))
        problems += ["field %s: %s not allowed for a boolean" % (field["id"], key)
                     for key in STRING_ONLY_KEYS if key in field and kind != "string"]
    problems += ["required %s is not a field" % name for name in definition["inputs"].get("required", [])
                 if name not in ids]
    injectors = definition.get("injectors", {})
    if set(injectors) - {"file", "env", "extra_vars"}:
        problems.append("unknown injector kinds %s" % sorted(injectors))
    labels = list(injectors.get("file", {}))
    problems += ["file label %r" % label for label in labels if not FILE_LABEL.match(label)]
    if "template" in labels and len(labels) > 1:
        problems.append("several files need the template.<name> syntax")
    for name, value in injectors.get("env", {}).items():
        if not NAME.match(name) or name.startswith("ANSIBLE_") or name in ENV_BLOCKLIST:
            problems.append("env %s is not allowed" % name)
        if not isinstance(value, str):
            problems.append("env %s is not a string" % name)
    # AWX renders every template with each field set and undefined names forbidden.
    namespace = {field["id"]: "EXAMPLE" for field in fields}
    namespace["tower"] = _Tower("EXAMPLE_FILENAME" if "template" in labels else _Files(
        {label.split(".", 1)[1]: "EXAMPLE_FILENAME" for label in labels}))
    strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind in ("file", "env", "extra_vars"):
        for key, template in injectors.get(kind, {}).items():
            try:
                strict.from_string(template).render(namespace)
            except Exception as exc:  # noqa: BLE001 - any rendering error is a refusal
                problems.append("%s %s does not render: %s" % (kind, key, exc))
    return problems


class _Files:
    def __init__(self, paths):
        self.__dict__.update(paths)


class _Tower:
    def __init__(self, filename):
        self.filename = filename


def inject(definition, inputs, private_data_dir):
    """The environment a credential of this type injects into a job, as AWX renders it: given
    string inputs that are not empty, booleans (False when unset), files written to
    ``<private_data_dir>/env`` (mode 0600) and referenced as ``tower.filename[.<name>]``."""
    namespace = {}
    for field in definition["inputs"].get("fields", []):
        value = inputs.get(field["id"])
        if field.get("type") == "boolean":
            namespace[field["id"]] = bool(value)
        elif value:
            namespace[field["id"]] = value
    sandbox = ImmutableSandboxedEnvironment()
    files = {}
    for label, template in definition.get("injectors", {}).get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
        with os.fdopen(handle, "w") as out:
            out.write(sandbox.from_string(template).render(namespace))
        os.chmod(path, 0o600)
        files[label] = path
    namespace["tower"] = _Tower(files.get("template") or _Files(
        {label.split(".", 1)[1]: path for label, path in files.items()}))
    env = {name: sandbox.from_string(template).render(namespace)
           for name, template in definition.get("injectors", {}).get("env", {}).items()}
    return env


def inject_kubernetes_bearer_token(inputs, private_data_dir):
    """AWX's built-in "OpenShift or Kubernetes API Bearer Token" credential (host, bearer_token,
    verify_ssl, ssl_ca_cert): what its injector sets."""
    env = {"K8S_AUTH_HOST": inputs.get("host", ""), "K8S_AUTH_API_KEY": inputs.get("bearer_token", "")}
    if inputs.get("verify_ssl") and "ssl_ca_cert" in inputs:
        env["K8S_AUTH_VERIFY_SSL"] = "True"
        handle, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
        with os.fdopen(handle, "w") as out:
            out.write(inputs["ssl_ca_cert"])
        os.chmod(path, 0o600)
        env["K8S_AUTH_SSL_CA_CERT"] = path
    else:
        env["K8S_AUTH_VERIFY_SSL"] = "False"
    return env


class Job:
    """A private data directory laid out as AWX lays it out for a job template (project/,
    inventory/, env/) and its runs with ``ansible-runner run``, one artifacts dir per run."""

    def __init__(self, root, collections):
        self.dir = str(root)
        self.collections = collections
        for name in ("env", "inventory", "project"):
            os.makedirs(os.path.join(self.dir, name), exist_ok=True)
        # The project: what AWX checks out of the repository the job template's project names.
        project = os.path.join(self.dir, "project")
        shutil.copytree(os.path.join(REPO, "playbooks"), os.path.join(project, "playbooks"))
        shutil.copytree(os.path.join(REPO, "examples"), os.path.join(project, "examples"),
                        ignore=shutil.ignore_patterns("busybox"))
        with open(os.path.join(self.dir, "inventory", "hosts"), "w") as out:
            out.write("localhost ansible_connection=local\n")
        self.runs = 0

    def write_env(self, name, data):
        """env/envvars, env/extravars (JSON, as AWX writes them) or env/cmdline (text)."""
        path = os.path.join(self.dir, "env", name)
        with open(path, "w") as out:
            out.write(data if isinstance(data, str) else json.dumps(data))
        os.chmod(path, 0o600)

    def run(self, playbook, cmdline=None):
        """Run ``playbook`` (relative to project/); returns a ``Run``."""
        self.runs += 1
        ident = "job-%d" % self.runs
        cmdline_path = os.path.join(self.dir, "env", "cmdline")
        if cmdline:
            self.write_env("cmdline", cmdline)
        elif os.path.exists(cmdline_path):
            os.unlink(cmdline_path)
        # The execution environment's own settings: the collection installed, its Python on PATH.
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=self.collections,
                   PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        proc = subprocess.run([os.path.join(BIN, "ansible-runner"), "run", self.dir, "-p", playbook,
                               "--ident", ident], env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        return Run(os.path.join(self.dir, "artifacts", ident), proc)


class Run:
    def __init__(self, artifacts, proc):
        self.artifacts = artifacts
        self.output = proc.stdout + proc.stderr
        with open(os.path.join(artifacts, "status")) as handle:
            self.status = handle.read().strip()
        self.events = []
        for path in glob.glob(os.path.join(artifacts, "job_events", "*.json")):
            with open(path) as handle:
                self.events.append(json.load(handle))
        self.events.sort(key=lambda event: event["counter"])

    def stats(self):
        found = [e["event_data"] for e in self.events if e["event"] == "playbook_on_stats"]
        assert len(found) == 1, self.output
        return found[0]

    def task_results(self, task):
        return [e["event_data"]["res"] for e in self.events
                if e["event"] in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task") == task]

    def records(self):
        """Every file of the run's artifacts as {relative path: text}."""
        found = {}
        for root, _dirs, files in os.walk(self.artifacts):
            for name in files:
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as handle:
                    found[os.path.relpath(path, self.artifacts)] = handle.read()
        return found
