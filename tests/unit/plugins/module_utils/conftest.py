"""Shared by the runtime tests: the example bundles copied to tmp_path, a LocalStore there,
and a fake driver that records what it is handed and answers like the showcase image.

Test modules import the constants by the collection's full name, e.g.
``from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME``.
"""

import json
import os
import pathlib
import shutil

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import runtime
from ansible_collections.cnab.runtime.plugins.module_utils.claims.local import LocalStore
from ansible_collections.cnab.runtime.plugins.module_utils.drivers import base

EXAMPLES = pathlib.Path(__file__).resolve().parents[4] / "examples"
PASSWORD = "pw-3f9c1d7e-secret"
TOKEN = "tok-8a2b4c6d-cred"
NAME = "demo"


def fake_outputs(op):
    env = op.environment
    config = json.loads(op.files.get("/etc/showcase/config.json") or "{}")
    values = {
        "message": ("%s %s" % (env.get("GREETING", ""), op.installation)).encode(),
        "endpoint": ("http://showcase:%s" % env.get("PORT")).encode(),
        "summary": json.dumps({"port": int(env.get("PORT") or 0), "replicas": int(env.get("REPLICAS") or 0),
                               "tier": config.get("tier", "dev"), "action": op.action}).encode(),
        "admin_secret": ("secret-%s-out" % env.get("ADMIN_PASSWORD", "")).encode(),
        "status": b'{"status": "ok"}',
    }
    return {path: values[name] for path, name in op.outputs.items()}


def echo_logs(op):
    """Like the showcase image with ECHO_SECRETS=true: prints every secret it was given."""
    env = op.environment
    return "%s %s\napi_token=%s\nadmin_password=%s\nfile=%s\n" % (
        op.action, op.installation, env.get("API_TOKEN", ""), env.get("ADMIN_PASSWORD", ""),
        op.files.get("/etc/showcase/admin_password", ""))


class FakeDriver(base.Driver):
    name = "fake"

    def __init__(self):
        self.prepared, self.runs, self.discarded = [], [], 0
        self.exit_code, self.error, self.canceled, self.raises, self.prepare_raises = 0, None, False, None, None
        self.logs, self.outputs, self.on_run = echo_logs, fake_outputs, None

    def discard(self):
        self.discarded += 1

    def prepare(self, operation):
        self.prepared.append(operation)
        if self.prepare_raises is not None:
            raise self.prepare_raises  # pylint: disable=raising-bad-type

    def run(self, operation):
        self.runs.append(operation)
        if self.on_run:
            self.on_run(operation)
        if self.raises is not None:
            raise self.raises  # pylint: disable=raising-bad-type
        return base.OperationResult(self.exit_code, self.logs(operation), self.outputs(operation), self.error,
                                    self.canceled)


class Harness:
    def __init__(self, tmp_path, driver):
        self.tmp_path = tmp_path
        self.root = tmp_path / "store"
        self.driver = driver
        self.bundles = {}
        for name in ("hello", "showcase"):
            target = tmp_path / "bundles" / name
            target.mkdir(parents=True)
            shutil.copy(EXAMPLES / name / "bundle.json", target / "bundle.json")
            self.bundles[name] = str(target / "bundle.json")
        self.store = LocalStore(str(self.root))

    def request(self, intent, bundle="showcase", **kw):
        kw.setdefault("installation", NAME)
        kw.setdefault("claim_store", {"backend": "local", "path": str(self.root)})
        kw.setdefault("lock_timeout", 5)
        if bundle is not None:
            kw["bundle"] = self.bundles.get(bundle, bundle)
        return runtime.Request(intent, **kw)

    def execute(self, intent, **kw):
        return runtime.execute(self.request(intent, **kw))

    def install(self, intent="install", parameters=None, credentials=None, **kw):
        return self.execute(intent, parameters=dict({"admin_password": PASSWORD}, **(parameters or {})),
                            credentials=dict({"api_token": TOKEN}, **(credentials or {})), **kw)

    def write_bundle(self, label, document):
        """Write ``document`` as a bundle.json; returns its path, also usable as ``bundle=label``."""
        target = self.tmp_path / "bundles" / label / "bundle.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(document))
        self.bundles[label] = str(target)
        return str(target)

    def showcase_with(self, label, **fields):
        """A copy of the showcase bundle with top-level ``fields`` replaced, written as ``label``."""
        document = json.loads(pathlib.Path(self.bundles["showcase"]).read_text())
        document.update(fields)
        return self.write_bundle(label, document)

    def installation(self, name=NAME):
        return self.store.installation(name)

    def history(self, name=NAME):
        installation = self.installation(name)
        return [(c["action"], [r["status"] for r in installation.results.get(c["id"], [])])
                for c in installation.claims]

    def files(self, under=""):
        found = {}
        base_dir = self.root / under
        for directory, _unused, names in os.walk(base_dir):
            for name in names:
                path = pathlib.Path(directory, name)
                found[str(path.relative_to(self.root))] = path.read_bytes()
        return found


@pytest.fixture
def driver(monkeypatch):
    fake = FakeDriver()
    fake.requested = []

    def get_driver(name, options):
        fake.requested.append((name, options))
        return fake

    monkeypatch.setattr(base, "get_driver", get_driver)
    return fake


@pytest.fixture
def h(tmp_path, driver):
    return Harness(tmp_path, driver)
