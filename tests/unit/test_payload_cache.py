"""The persistent AnsiballZ payload cache: its key, and that it steps aside on bad state."""

import json
import os
import pickle
import stat
import subprocess
import sys

import pytest

from ansible.executor import module_common

from ansible_collections.cnab.runtime.plugins.plugin_utils import payload_cache
from ansible_collections.cnab.runtime.plugins.plugin_utils.payload_cache import PayloadEntry, cache_key

FQN = "ansible_collections.cnab.runtime.plugins.modules.cnab_fake"
NOBODY = 65534
# <path>/ansible_collections/cnab/runtime, as the collection was imported (see conftest.py)
COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(payload_cache.COLLECTION_ROOT)))


@pytest.fixture
def tree(tmp_path):
    modules = tmp_path / "ansible_collections" / "cnab" / "runtime" / "plugins" / "modules"
    utils = modules.parent / "module_utils"
    (utils / "drivers").mkdir(parents=True)
    modules.mkdir()
    (modules / "cnab_fake.py").write_text("# module\n")
    (utils / "runtime.py").write_text("A = 1\n")
    (utils / "drivers" / "docker.py").write_text("B = 2\n")
    return modules / "cnab_fake.py", utils


def entry(tmp_path, module, local_tmp="run", cache="kept"):
    return PayloadEntry(module_common, str(module), "ZIP_DEFLATED", "none", str(tmp_path / local_tmp), str(tmp_path / cache))


def built(tmp_path, module, data=b"zip"):
    """Stand in for the file ansible-core writes after a build."""
    item = entry(tmp_path, module)
    os.makedirs(item.run_dir, exist_ok=True)
    payload = module_common._CachedModule(zip_data=data, metadata=None, source_mapping={})
    with open(item.run_file, "wb") as out:
        pickle.dump(payload, out)
    return item


def test_core_internals_match_this_ansible_core():
    assert payload_cache.core_internals() is module_common


def test_key_is_stable_and_follows_every_input(tree):
    module, utils = tree
    key = cache_key(str(module), "ZIP_DEFLATED", "none", str(utils))
    assert key == cache_key(str(module), "ZIP_DEFLATED", "none", str(utils))
    assert key != cache_key(str(module), "ZIP_STORED", "none", str(utils))
    assert key != cache_key(str(module), "ZIP_DEFLATED", "_coverage", str(utils))
    (utils / "drivers" / "docker.py").write_text("B = 3\n")  # same size
    changed = cache_key(str(module), "ZIP_DEFLATED", "none", str(utils))
    assert changed != key
    (utils / "drivers" / "kubernetes.py").write_text("")
    assert cache_key(str(module), "ZIP_DEFLATED", "none", str(utils)) != changed


def test_run_file_name_is_the_one_ansible_core_computes(tmp_path, tree):
    item = entry(tmp_path, tree[0])
    assert item.run_file == os.path.join(str(tmp_path / "run"), "ansiballz_cache", FQN + "-ZIP_DEFLATED-none")


def test_stored_payload_is_placed_in_the_next_run(tmp_path, tree):
    first = built(tmp_path, tree[0], b"payload")
    assert first.place() is False  # this run already has it
    assert first.store() is True
    assert stat.S_IMODE(os.stat(first.cache_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(first.cache_dir).st_mode) == 0o700
    second = entry(tmp_path, tree[0], local_tmp="run2")
    assert second.place() is True
    with open(second.run_file, "rb") as placed:
        assert pickle.load(placed).zip_data == b"payload"


def test_only_the_newest_entry_per_module_is_kept(tmp_path, tree):
    module = tree[0]
    assert built(tmp_path, module).store()
    module.write_text("# module, edited\n")  # a new key for the same module
    newer = built(tmp_path, module)
    assert newer.store()
    assert os.listdir(newer.cache_dir) == [os.path.basename(newer.cache_file)]


def test_corrupt_entry_is_dropped_not_used(tmp_path, tree):
    item = built(tmp_path, tree[0])
    item.store()
    with open(item.cache_file, "wb") as out:
        out.write(b"\x80\x05 torn")
    fresh = entry(tmp_path, tree[0], local_tmp="run2")
    assert fresh.place() is False
    assert not os.path.exists(fresh.run_file) and not os.path.exists(fresh.cache_file)


def test_entry_owned_by_someone_else_is_not_used(tmp_path, tree):
    item = built(tmp_path, tree[0])
    item.store()
    os.chown(item.cache_file, NOBODY, NOBODY)
    fresh = entry(tmp_path, tree[0], local_tmp="run2")
    assert fresh.place() is False and not os.path.exists(fresh.run_file)


def test_unusable_cache_dir_raises_for_the_action_to_ignore(tmp_path, tree):
    (tmp_path / "kept").write_text("a file, not a directory")
    item = built(tmp_path, tree[0])
    with pytest.raises(OSError):
        item.store()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, NOBODY, NOBODY)
    with pytest.raises(PermissionError):
        entry(tmp_path, tree[0], local_tmp="run2", cache="foreign").place()


def _ansible(home, **extra):
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, ANSIBLE_HOME=str(home), CNAB_HOME=str(home / "cnab"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
               **extra)
    done = subprocess.run([os.path.join(bin_dir, "ansible"), "localhost", "-m", "cnab.runtime.cnab_claim_info", "-a",
                           json.dumps({"installation": "absent"})], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_through_ansible_a_bad_cache_never_fails_the_task(tmp_path):
    kept = tmp_path / "cnab_runtime" / "ansiballz"
    _ansible(tmp_path)
    (entry_name,) = os.listdir(kept)
    assert entry_name.startswith("ansible_collections.cnab.runtime.plugins.modules.cnab_claim_info.")
    (kept / entry_name).write_bytes(b"not a pickle")
    _ansible(tmp_path)  # the torn entry is dropped, the module built and kept again
    with open(kept / entry_name, "rb") as again:
        assert isinstance(pickle.load(again), module_common._CachedModule)
    (kept / entry_name).unlink()
    kept.rmdir()
    kept.write_text("not a directory")
    _ansible(tmp_path)
    _ansible(tmp_path / "off", CNAB_PAYLOAD_CACHE="0")
    assert not (tmp_path / "off" / "cnab_runtime").exists()
