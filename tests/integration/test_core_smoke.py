"""Distribution smoke of make matrix (each ansible-core version) and make test: a bundle pushed with
cnab_bundle to the open registry (127.0.0.1:5100), then installed from there in four steps and read back
with cnab_claim_info. Repository and installation names are unique, so runs side by side do not meet."""

import registries as registry_fixtures
from install_sources import four_steps, unique
from support import HELLO

registries = registry_fixtures.registries  # the fixture that starts the shared registries, re-exported


def test_push_with_cnab_bundle_then_install_from_the_registry(ansible, registries):
    reference = registries.open.ref(unique("smoke") + "/hello", "0.1.0")
    changed, pushes = four_steps(ansible, "cnab_bundle", {"src": HELLO, "dest": reference})
    assert changed == [True, True, False, False]
    digest = pushes[1]["digest"]
    assert digest.startswith("sha256:") and pushes[2]["digest"] == digest

    installation = unique("smoke-hello")
    args = {"installation": installation, "bundle": reference, "parameters": {"greeting": "Hej"}}
    changed, installs = four_steps(ansible, "cnab_install", args)
    assert changed == [True, True, False, False]
    assert installs[1]["outputs"] == {"message": "Hej from " + installation}

    info, output = ansible.adhoc("cnab_claim_info", {"installation": installation})
    assert not info["changed"], output
    bundle = info["installation"]["bundle"]
    assert bundle["reference"] == "%s@%s" % (reference, digest), output
    assert bundle["index_digest"] == digest
