"""Make the repository importable as ``ansible_collections.cnab.runtime``.

The collection's code imports itself by its fully qualified name. Unless that name
already resolves to this repository, build a throwaway ``ansible_collections/cnab/runtime``
symlink tree pointing at the repository root and put it first on ``sys.path``.
This runs at import time, before any test module is collected.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = "ansible_collections.cnab.runtime"


def _resolves_to_repo():
    try:
        spec = importlib.util.find_spec(COLLECTION)
    except (ImportError, ValueError):
        return False
    locations = list(spec.submodule_search_locations or []) if spec else []
    return any(os.path.realpath(p) == os.path.realpath(REPO_ROOT) for p in locations)


def _link_collection():
    base = tempfile.mkdtemp(prefix="cnab-runtime-colls-")
    atexit.register(shutil.rmtree, base, True)
    namespace = os.path.join(base, "ansible_collections", "cnab")
    os.makedirs(namespace)
    os.symlink(REPO_ROOT, os.path.join(namespace, "runtime"))
    # Forget any copy of the collection imported from elsewhere, then put ours first.
    for module in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[module]
    sys.path.insert(0, base)
    importlib.invalidate_caches()


if not _resolves_to_repo():
    _link_collection()
