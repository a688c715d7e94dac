"""Porter-built test bundles: the real `porter build` v1 bundle.json (the golden
config-adapter-mybuns-depsv1.bundle.json in the shared real-world fixtures) with only the invocation
image replaced by tests/integration/images/porter-runtime, which behaves like Porter's runtime.

io.cnab.docker is another feature, tested elsewhere: the bundles generated here drop it from
requiredExtensions and custom, and, unless asked to keep them (``dependencies=True``), also
``io.cnab.dependencies`` and the one parameter source that reads a dependency's output
(``mysql-connstr``, ``dependencies.output``).
Everything else - file parameters, parameter sources, porter-state, definitions, actions - is Porter's.
"""

import copy
import json
import os
import subprocess

from support import REPO

from ansible_collections.cnab.runtime.tests.shared_dir import SHARED


GOLDEN = os.path.join(SHARED, "realworld", "porter", "bundles", "config-adapter-mybuns-depsv1.bundle.json")
IMAGE_CONTEXT = os.path.join(REPO, "tests", "integration", "images", "porter-runtime")
IMAGE = "cnab-tests/porter-runtime:0.1.0"
OUT_OF_SCOPE = ("io.cnab.dependencies", "io.cnab.docker")
_built = []


def build_image():
    if not _built:
        subprocess.run(["bash", os.path.join(REPO, "examples", "build.sh"), IMAGE_CONTEXT, IMAGE], check=True,
                       capture_output=True)
        _built.append(IMAGE)
    return IMAGE


def golden():
    with open(GOLDEN) as handle:
        return json.load(handle)


def porter_document(sensitive_file=False, dependencies=False):
    """The golden with our image; ``dependencies`` keeps its io.cnab.dependencies (alias ``db``)
    and the ``mysql-connstr`` parameter fed by the dependency's ``connstr`` output."""
    document = copy.deepcopy(golden())
    document["invocationImages"] = [dict(document["invocationImages"][0], image=IMAGE)]
    dropped = [e for e in OUT_OF_SCOPE if not (dependencies and e == "io.cnab.dependencies")]
    document["requiredExtensions"] = [e for e in document["requiredExtensions"] if e not in dropped]
    for name in dropped:
        document["custom"].pop(name)
    if not dependencies:
        del document["custom"]["io.cnab.parameter-sources"]["mysql-connstr"]
    if sensitive_file:
        # The same bundle with the kubeconfig file parameter declared sensitive - and the output the
        # image echoes it into, or the image itself would leak it.
        document["definitions"]["afile-parameter"]["writeOnly"] = True
        document["definitions"]["mylogs-output"]["writeOnly"] = True
    assert document["schemaVersion"] == "1.2.0"  # cnab-go's form, kept as Porter writes it
    return document


def write_porter_bundle(directory, sensitive_file=False, dependencies=False):
    """Write the test bundle's bundle.json under ``directory``; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "bundle.json")
    with open(path, "w") as handle:
        json.dump(porter_document(sensitive_file, dependencies), handle, indent=2)
    return path
