"""Where the tests' oracle lives: the shared real-world fixtures (realworld/) and the CNAB spec
(cnab-spec/), read by the tests and never edited; the collection itself never reads them.

``CNAB_SHARED`` if set, else ``shared`` next to the repository (CI checks it out at /work/main:
/work/shared), else ``shared`` one level further up (a worktree /work/wt/<branch>). When neither
exists, the first: the tests that need it then fail naming CNAB_SHARED.

Unit and integration tests import it by the collection's full name:
``from ansible_collections.cnab.runtime.tests.shared_dir import SHARED``.
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_dir():
    if os.environ.get("CNAB_SHARED"):
        return pathlib.Path(os.environ["CNAB_SHARED"])
    candidates = [REPO.parent / "shared", REPO.parent.parent / "shared"]
    return next((path for path in candidates if path.is_dir()), candidates[0])


SHARED = shared_dir()
