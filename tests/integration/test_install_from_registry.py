"""Installing bundles by registry reference, through Ansible against real registries and Docker.

The bundle is pushed with the runtime's own push (cnab-to-oci layout, image copied into the bundle's
repository); installs then run the relocated, digest-pinned image, which reports the relocation
mapping it was given and the marker baked into its build. Registries that a test stops are private
instances on ports 5110-5119; the shared ones (5100-5103) only ever get new repositories.
"""

import json
import os
import re
import signal
import subprocess

import pytest
import registries as registry_fixtures
from install_sources import (
    BASIC_AUTH,
    BASIC_REGISTRY,
    IMAGE,
    OPEN_REGISTRY,
    RELOCATED,
    PrivateRegistry,
    build_image,
    claims_of,
    copy,
    four_steps,
    image_present,
    push,
    remove_image,
    unique,
)

registries = registry_fixtures.registries  # the fixture that starts the shared registries, re-exported


@pytest.fixture(scope="module")
def published(images, registries, tmp_path_factory):
    """Build one ("one") and two ("two") of the image; push one as :1 and :moving, two as :2."""
    workdir = tmp_path_factory.mktemp("relocated")
    repo = "%s/%s/relocated" % (OPEN_REGISTRY, unique("h4b"))
    build_image("one", str(workdir))
    one = push(repo + ":1")
    push(repo + ":moving")
    build_image("two", str(workdir))
    two = push(repo + ":2")
    yield {"repo": repo, "one": one, "two": two}
    remove_image(one.relocation_mapping[IMAGE], two.relocation_mapping[IMAGE])


def _outputs(result):
    return json.loads(result["outputs"]["mapping"]) if isinstance(result["outputs"]["mapping"], str) \
        else result["outputs"]["mapping"], result["outputs"]["marker"].strip()


def test_install_by_tag_in_four_steps_runs_the_relocated_image(ansible, published):
    one = published["one"]
    args = {"installation": "from-tag", "bundle": published["repo"] + ":1"}
    changed, results = four_steps(ansible, "cnab_install", args)
    assert changed == [True, True, False, False]
    mapping, marker = _outputs(results[1])
    # The image ran from the bundle's repository, pinned by digest, and was told so.
    assert mapping == {IMAGE: one.relocation_mapping[IMAGE]} and "@sha256:" in mapping[IMAGE]
    assert mapping[IMAGE].startswith(published["repo"] + "@")
    assert marker == "one"
    assert image_present(mapping[IMAGE])
    info, output = ansible.adhoc("cnab_claim_info", {"installation": "from-tag"})
    bundle = info["installation"]["bundle"]
    assert bundle["reference"] == "%s:1@%s" % (published["repo"], one.index_digest), output
    assert bundle["index_digest"] == one.index_digest
    assert bundle["digest"] == one.bundle_digest


def test_install_by_digest(ansible, published):
    two = published["two"]
    reference = "%s@%s" % (published["repo"], two.index_digest)
    result, output = ansible.adhoc("cnab_installation", {"installation": "from-digest", "bundle": reference})
    assert result["changed"] and result["operation"] == "install", output
    assert _outputs(result) == ({IMAGE: two.relocation_mapping[IMAGE]}, "two")
    assert result["claim"]["bundle"]["reference"] == reference
    again, output = ansible.adhoc("cnab_installation", {"installation": "from-digest", "bundle": reference})
    assert not again["changed"] and again["reason"] == "installation from-digest is up to date", output


def test_a_moved_tag_is_an_upgrade(ansible, published):
    repo = published["repo"]
    args = {"installation": "moving", "bundle": repo + ":moving"}
    first, output = ansible.adhoc("cnab_installation", args)
    assert first["operation"] == "install" and _outputs(first)[1] == "one", output
    copy(repo + ":2", repo + ":moving")  # the tag moves to build two; bundle.json stays the same
    upgraded, output = ansible.adhoc("cnab_installation", args)
    assert upgraded["operation"] == "upgrade" and _outputs(upgraded)[1] == "two", output
    assert upgraded["reason"] == "the bundle's index digest changed (its images differ)"
    assert upgraded["claim"]["bundle"]["digest"] == first["claim"]["bundle"]["digest"]
    assert upgraded["claim"]["bundle"]["index_digest"] == published["two"].index_digest
    assert not ansible.adhoc("cnab_installation", args)[0]["changed"]


def test_pull_with_credentials_and_wrong_credentials(ansible, published, registries):
    repo = "%s/%s/relocated" % (BASIC_REGISTRY, unique("h4b"))
    copy(published["repo"] + ":1", repo + ":1", BASIC_AUTH)
    wrong = dict(BASIC_AUTH, password="not-the-password")
    result, output = ansible.adhoc("cnab_install", {"installation": "basic-wrong", "bundle": repo + ":1",
                                                    "registry_auth": wrong})
    assert result.get("failed") and "refused" in result["msg"] and "registry_auth" in result["msg"], output
    assert result["msg"].count(". ") == 0 and "not-the-password" not in output
    assert claims_of(ansible.home, "basic-wrong") == []
    # With credentials: the engine pulls the relocated image with them too.
    result, output = ansible.adhoc("cnab_install", {"installation": "basic", "bundle": repo + ":1",
                                                    "registry_auth": BASIC_AUTH})
    assert result["changed"] and _outputs(result)[1] == "one", output
    pulled = _outputs(result)[0][IMAGE]
    assert pulled.startswith(repo + "@") and image_present(pulled)
    # The token registry: scoped bearer tokens, for our reads and for the engine's pull.
    token_repo = "%s/%s/relocated" % (registries.token.host, unique("h4b"))
    copy(published["repo"] + ":1", token_repo + ":1", BASIC_AUTH)
    result, output = ansible.adhoc("cnab_install", {"installation": "token", "bundle": token_repo + ":1",
                                                    "registry_auth": BASIC_AUTH})
    assert result["changed"] and _outputs(result)[0][IMAGE].startswith(token_repo + "@"), output
    remove_image(pulled, _outputs(result)[0][IMAGE])


def test_unknown_reference_fails_in_one_sentence_and_records_nothing(ansible, published):
    result, output = ansible.adhoc("cnab_install", {"installation": "unknown",
                                                    "bundle": published["repo"] + ":no-such-tag"})
    assert result.get("failed"), output
    assert result["msg"] == "The registry %s has no bundle %s:no-such-tag; check the reference." % (
        OPEN_REGISTRY, published["repo"]), output
    assert claims_of(ansible.home, "unknown") == []


def test_second_registry_with_the_first_stopped_and_no_op_by_digest_with_both_stopped(ansible, tmp_path, images):
    first = PrivateRegistry(5110, tmp_path).start()
    second = PrivateRegistry(5111, tmp_path).start()
    try:
        build_image("one", str(tmp_path))
        pushed = push(first.address + "/bundles/relocated:1")
        copied = copy(first.address + "/bundles/relocated:1", second.address + "/mirror/relocated:1")
        assert copied.index_digest == pushed.index_digest  # byte for byte
        first.stop()
        by_tag = second.address + "/mirror/relocated:1"
        result, output = ansible.adhoc("cnab_installation", {"installation": "mirror", "bundle": by_tag})
        assert result["changed"], output
        relocated = _outputs(result)[0][IMAGE]
        assert relocated == "%s/mirror/relocated@%s" % (second.address, pushed.relocation_mapping[IMAGE].split("@")[1])
        second.stop()
        # A digest the claims already hold needs no registry at all...
        by_digest = "%s/mirror/relocated@%s" % (second.address, pushed.index_digest)
        result, output = ansible.adhoc("cnab_installation", {"installation": "mirror", "bundle": by_digest})
        assert result["changed"] is False and not result.get("failed"), output
        # ...nor does cnab_install of an installed installation by tag (the tag cannot change its decision)...
        result, output = ansible.adhoc("cnab_install", {"installation": "mirror", "bundle": by_tag})
        assert result["changed"] is False and not result.get("failed"), output
        # ...but whether a tag moved can only be asked of the registry, which is down: one sentence.
        result, output = ansible.adhoc("cnab_installation", {"installation": "mirror", "bundle": by_tag,
                                                             "registry_auth": {"retries": 0}})
        assert result.get("failed") and result["msg"].startswith("The registry %s cannot be reached" % second.address), output
        remove_image(relocated)
    finally:
        first.stop()
        second.stop()
    assert len(claims_of(ansible.home, "mirror")) == 1
    assert os.path.isdir(ansible.home)


# ---- the cnab_registry role -------------------------------------------------------------------

ROLE_PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "registry_role.yml")


def _role(ansible, *flags, **role_vars):
    """Run the role through ansible-playbook; returns the play recap's changed count."""
    proc = ansible.playbook(ROLE_PLAYBOOK, *flags, extra_vars=role_vars)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    assert recap, proc.stdout
    return int(recap.group(1)), proc.stdout


def test_role_pushes_in_four_steps(ansible, published, tmp_path):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.distribution import pull_bundle

    build_image("one", str(tmp_path))
    reference = "%s/%s/relocated:1" % (OPEN_REGISTRY, unique("h4b-role"))
    role_vars = {"cnab_registry_bundle": RELOCATED, "cnab_registry_reference": reference}
    changed = [_role(ansible, *flags, **role_vars)[0] for flags in (["--check"], [], [], ["--check"])]
    assert [count > 0 for count in changed] == [True, True, False, False]
    # What the role pushed is the bundle, with the image the earlier push of build one also pushed.
    pulled = pull_bundle(reference)
    assert pulled.index_digest == published["one"].index_digest


def _pids_of(config):
    """Processes whose command line names ``config`` (the registry the role started, and only it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    arguments = handle.read().split(b"\0")
            except OSError:
                continue
            if config.encode() in arguments:
                found.append(int(entry))
    return found


def test_role_runs_a_local_registry_and_logs_in(ansible, published, tmp_path):
    root = str(tmp_path / "local-registry")
    address = "127.0.0.1:5113"
    local = {"cnab_registry_run_local": True, "cnab_registry_local_port": 5113, "cnab_registry_local_root": root,
             "cnab_registry_local_install": False}
    build_image("one", str(tmp_path))
    try:
        assert _role(ansible, **local)[0] > 0
        assert len(_pids_of(os.path.join(root, "config.yml"))) == 1
        assert subprocess.run(["curl", "-sf", "http://%s/v2/" % address], check=False).returncode == 0
        assert _role(ansible, **local)[0] == 0  # it answers: nothing started
    finally:
        for pid in _pids_of(os.path.join(root, "config.yml")):
            os.kill(pid, signal.SIGTERM)
    # Log in to the basic-auth registry into a Docker config of our own; an install then needs only that file,
    # both for the registry reads and for the engine's pull.
    docker_config = str(tmp_path / "docker-config")
    os.makedirs(docker_config)
    repo = "%s/%s/relocated" % (BASIC_REGISTRY, unique("h4b-login"))
    login = {"cnab_registry_login": True, "cnab_registry_reference": repo + ":1", "cnab_registry_bundle": RELOCATED,
             "cnab_registry_auth": dict(BASIC_AUTH, docker_config=docker_config)}
    changed, output = _role(ansible, **login)
    assert changed > 0 and BASIC_AUTH["password"] not in output
    with open(os.path.join(docker_config, "config.json"), encoding="utf-8") as handle:
        assert BASIC_REGISTRY in json.load(handle)["auths"]
    result, output = ansible.adhoc("cnab_install", {"installation": "logged-in", "bundle": repo + ":1",
                                                    "registry_auth": {"docker_config": docker_config}})
    assert result["changed"] and _outputs(result)[1] == "one", output
    remove_image(_outputs(result)[0][IMAGE])
