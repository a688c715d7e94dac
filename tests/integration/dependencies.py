"""Bundles for the dependency tests: a root ("wordpress") that requires a "mysql" bundle through
io.cnab.dependencies and takes its ``connstr`` output through a ``dependencies.output`` parameter
source (the wiring of Porter's depsv1 golden), both run by tests/integration/bundles/depchain."""

import json
import os
import subprocess

from support import HERE, REPO

CONTEXT = os.path.join(HERE, "bundles", "depchain")
IMAGE = "cnab-tests/depchain:0.1.0"
_built = []


def build_image():
    if not _built:
        subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), CONTEXT, IMAGE], check=True,
                       capture_output=True)
        _built.append(IMAGE)
    return IMAGE


def _string(default):
    return {"type": "string", "default": default}


def _common(name, version):
    return {
        "schemaVersion": "v1.2.0",
        "name": name,
        "version": version,
        "invocationImages": [{"image": IMAGE, "imageType": "docker"}],
        "definitions": {"fail": _string("none"), "sleep": _string("0"), "size": _string("small"),
                        "connstr": _string(""), "text": {"type": "string"}},
        "parameters": {
            "fail": {"definition": "fail", "destination": {"env": "FAIL"}},
            "sleep": {"definition": "sleep", "destination": {"env": "SLEEP"}},
        },
        "outputs": {name_: {"definition": "text", "path": "/cnab/app/outputs/" + name_}
                    for name_ in ("connstr", "received", "dependency")},
    }


def mysql_document(version="1.0.0"):
    document = _common("mysql", version)
    document["parameters"]["size"] = {"definition": "size", "destination": {"env": "SIZE"}}
    return document


def root_document(reference, ranges=None, name="wordpress", version="0.1.0"):
    document = _common(name, version)
    requirement = {"bundle": reference}
    if ranges:
        requirement["version"] = {"ranges": list(ranges)}
    document["requiredExtensions"] = ["io.cnab.dependencies", "io.cnab.parameter-sources"]
    document["parameters"]["mysql-connstr"] = {"definition": "connstr", "destination": {"env": "MYSQL_CONNSTR"}}
    document["custom"] = {
        "io.cnab.dependencies": {"sequence": ["mysql"], "requires": {"mysql": requirement}},
        "io.cnab.parameter-sources": {"mysql-connstr": {"priority": ["dependencies.output"], "sources": {
            "dependencies.output": {"dependency": "mysql", "name": "connstr"}}}},
    }
    return document


def write(directory, document):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "bundle.json")
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2)
    return path


def push(document, reference):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import push_bundle

    return push_bundle(document, reference, {})


def claims(home, installation):
    """The claims of ``installation`` in a local store, oldest first, each with its last result."""
    base = os.path.join(home, "installations", installation)
    found = []
    for name in sorted(os.listdir(os.path.join(base, "claims"))) if os.path.isdir(base) else ():
        with open(os.path.join(base, "claims", name)) as handle:
            claim = json.load(handle)
        results = []
        for result_name in sorted(os.listdir(os.path.join(base, "results"))):
            with open(os.path.join(base, "results", result_name)) as handle:
                result = json.load(handle)
            if result["claimId"] == claim["id"]:
                results.append(result)
        claim["_status"] = results[-1]["status"] if results else None
        found.append(claim)
    return found
