"""Porter's file parameters (sh.porter.file-parameters) and parameter sources (io.cnab.parameter-sources)
through runtime.execute, with a fake driver that behaves like Porter's runtime in the image: it reads
the file parameters it was handed (base64 text, or "null" when unset), carries a state forward from
/porter/state.tgz and writes the new state as the porter-state output after every action."""

import base64
import json

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils import parameter_sources
from ansible_collections.cnab.runtime.plugins.module_utils import values as v
from ansible_collections.cnab.runtime.plugins.module_utils.bundle import SENSITIVE_MASK, Bundle
from ansible_collections.cnab.runtime.plugins.module_utils.claims import model
from ansible_collections.cnab.runtime.plugins.module_utils.errors import ParameterError
from ansible_collections.cnab.runtime.tests.unit.plugins.module_utils.conftest import NAME

KUBECONFIG = "/home/nonroot/.kube/config"
STATE = "/porter/state.tgz"
SECRET_CONTENT = "canary-file-secret-5772"
BINARY = b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + bytes(range(256))
GZIP = b"\x1f\x8b"  # the state is a gzip stream in real life: never UTF-8


def porter_bundle():
    """The parts of a `porter build` v1 bundle.json these features touch (shape of the
    config-adapter-mybuns goldens)."""
    file_definition = {"type": "string", "contentEncoding": "base64", "default": ""}
    return {
        "schemaVersion": "v1.2.0", "name": "mini-porter", "version": "0.1.0",
        "invocationImages": [{"imageType": "docker", "image": "example.test/mini-porter:0.1.0"}],
        "actions": {"boom": {"modifies": True}, "status": {}, "dry-run": {"stateless": True}},
        "parameters": {
            "afile": {"definition": "afile-parameter", "destination": {"path": KUBECONFIG}},
            "secretfile": {"definition": "secretfile-parameter", "destination": {"path": "/cnab/app/secret.txt"}},
            "porter-msg-output": {"definition": "porter-msg-output", "destination": {"env": "PORTER_MSG_OUTPUT"}},
            "porter-state": {"definition": "porter-state", "destination": {"path": STATE}},
            "tfstate": {"definition": "tfstate-parameter", "applyTo": ["upgrade", "uninstall"], "required": True,
                        "destination": {"path": "/cnab/app/tfstate"}},
            "token": {"definition": "token-parameter", "destination": {"env": "TOKEN"}},
        },
        "outputs": {
            "msg": {"definition": "msg-output", "path": "/cnab/app/outputs/msg"},
            "porter-state": {"definition": "porter-state", "path": "/cnab/app/outputs/porter-state"},
            "tfstate": {"definition": "tfstate-output", "applyTo": ["install", "upgrade", "uninstall"],
                        "path": "/cnab/app/outputs/tfstate"},
            "secret-token": {"definition": "secret-output", "path": "/cnab/app/outputs/secret-token"},
        },
        "definitions": {
            "afile-parameter": file_definition,
            "secretfile-parameter": dict(file_definition, writeOnly=True),
            "porter-msg-output": {"$comment": "porter-internal", "type": "string", "default": ""},
            "porter-state": {"$comment": "porter-internal", "type": "string", "contentEncoding": "base64"},
            "tfstate-parameter": {"type": "string", "contentEncoding": "base64"},
            "token-parameter": {"type": "string", "default": "none"},
            "msg-output": {"type": "string", "default": ""},
            "tfstate-output": {"type": "string", "contentEncoding": "base64"},
            "secret-output": {"type": "string", "writeOnly": True},
        },
        "requiredExtensions": ["sh.porter.file-parameters", "io.cnab.parameter-sources"],
        "custom": {
            "sh.porter.file-parameters": {},
            "io.cnab.parameter-sources": {
                "porter-msg-output": {"priority": ["output"], "sources": {"output": {"name": "msg"}}},
                "porter-state": {"priority": ["output"], "sources": {"output": {"name": "porter-state"}}},
                "tfstate": {"priority": ["output"], "sources": {"output": {"name": "tfstate"}}},
                "token": {"priority": ["output"], "sources": {"output": {"name": "secret-token"}}},
            },
        },
    }


def decoded(op, path):
    """What Porter's runtime makes of a file parameter: None when unset ("null"), else its bytes."""
    text = op.files.get(path)
    return None if text in (None, v.UNSET_FILE) else base64.b64decode(text)


def porter_runtime(op):
    """Outputs like a Porter-built image writes them: the state gains the action's name."""
    previous = decoded(op, STATE)
    actions = previous[len(GZIP):].decode().split(",") if previous else []
    state = GZIP + ",".join(actions + [op.action]).encode()
    produced = {
        "/cnab/app/outputs/msg": ("msg of %s #%d" % (op.action, len(actions) + 1)).encode(),
        "/cnab/app/outputs/porter-state": state,
        "/cnab/app/outputs/tfstate": (decoded(op, "/cnab/app/tfstate") or b"") + b"+" + op.action.encode(),
        "/cnab/app/outputs/secret-token": b"canary-output-token-4411",
    }
    return {path: produced[path] for path in op.outputs}


@pytest.fixture
def porter(h, driver):
    h.write_bundle("porter", porter_bundle())
    driver.outputs = porter_runtime
    driver.logs = lambda op: "%s: secret file says %s\n" % (op.action, (decoded(op, "/cnab/app/secret.txt") or b"").decode())
    return h


def state_of(op):
    previous = decoded(op, STATE)
    return previous[len(GZIP):].decode().split(",") if previous else None


# ---- file parameters ------------------------------------------------------------------------


def test_file_parameter_content_is_written_as_base64_and_unset_ones_as_null(porter, driver):
    response = porter.execute("install", bundle="porter", parameters={"afile": "apiVersion: v1\n"})
    assert response.result["status"] == "succeeded", response.result
    files = driver.runs[-1].files
    assert files[KUBECONFIG] == base64.b64encode(b"apiVersion: v1\n").decode()
    assert files[STATE] == "null"  # no state yet
    assert files["/cnab/app/secret.txt"] == ""  # its default: the empty file
    claim = porter.installation().claims[-1]
    assert claim["parameters"]["afile"] == files[KUBECONFIG]  # the encoded value is recorded


def test_file_parameter_from_a_path_keeps_its_bytes(porter, driver, tmp_path):
    (tmp_path / "kubeconfig").write_bytes(BINARY)
    porter.execute("install", bundle="porter", parameters={"afile": {"path": str(tmp_path / "kubeconfig")}})
    assert decoded(driver.runs[-1], KUBECONFIG) == BINARY


def test_the_decision_compares_the_content_not_the_path(porter, driver, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    first.write_bytes(BINARY)
    second.write_bytes(BINARY)
    assert porter.execute("present", bundle="porter", parameters={"afile": {"path": str(first)}}).operation == "install"
    same = porter.execute("present", bundle="porter", parameters={"afile": {"path": str(second)}})
    assert (same.operation, same.changed) == ("none", False)
    assert porter.execute("present", bundle="porter", parameters={"afile": BINARY.decode("latin-1")}).changed
    second.write_bytes(BINARY + b"\x00")
    changed = porter.execute("present", bundle="porter", parameters={"afile": {"path": str(second)}})
    assert (changed.operation, changed.changed) == ("upgrade", True)
    assert decoded(driver.runs[-1], KUBECONFIG) == BINARY + b"\x00"


@pytest.mark.parametrize("value, message", [
    ({"path": "/nonexistent/kubeconfig"}, 'file parameter "afile" comes from file /nonexistent/kubeconfig, which cannot'),
    ({"file": "x"}, 'file parameter "afile" must be its content as a string, or {path: FILE}'),
    (42, 'file parameter "afile" must be its content as a string, or {path: FILE}'),
])
def test_bad_file_parameter_input_is_refused_and_writes_nothing(porter, driver, value, message):
    with pytest.raises(ParameterError) as raised:
        porter.execute("install", bundle="porter", parameters={"afile": value})
    assert str(raised.value).startswith(message) and str(raised.value).endswith(".")
    assert driver.runs == [] and not porter.installation().exists


def test_base64_parameters_of_other_bundles_are_not_file_parameters(porter, driver):
    document = porter_bundle()
    del document["custom"]["sh.porter.file-parameters"]
    document["requiredExtensions"] = ["io.cnab.parameter-sources"]
    bundle = Bundle(document)
    assert not v.is_file_parameter(bundle, "afile")
    assert v.encode_file_parameters(bundle, {"afile": "aGk="}) == {"afile": "aGk="}
    assert v.parameter_destinations(bundle, "install", {})[1][STATE] == ""
    porter_built = Bundle(dict(document, custom=dict(document["custom"], **{"sh.porter": {}})))
    assert v.is_file_parameter(porter_built, "afile")  # Porter's other rule: built by Porter


def test_a_sensitive_file_parameter_is_masked_and_kept_out_of_shareable_records(porter, driver):
    response = porter.execute("install", bundle="porter", parameters={"secretfile": SECRET_CONTENT})
    encoded = base64.b64encode(SECRET_CONTENT.encode()).decode()
    assert driver.runs[-1].files["/cnab/app/secret.txt"] == encoded
    assert "secret file says %s" % SENSITIVE_MASK in response.logs  # the decoded content, masked
    shown = json.dumps(response.as_dict())
    assert SECRET_CONTENT not in shown and encoded not in shown
    assert {SECRET_CONTENT, encoded} <= set(response.secrets)
    for path, data in porter.files().items():
        if "/sensitive/" not in path:
            assert SECRET_CONTENT.encode() not in data and encoded.encode() not in data, path
    assert porter.installation().claims[-1]["custom"][model.RUNTIME_KEY]["sensitiveParameters"] == ["secretfile"]


# ---- parameter sources and the porter-state round trip --------------------------------------


def test_state_is_carried_through_upgrade_action_and_uninstall(porter, driver):
    porter.execute("install", bundle="porter")
    assert state_of(driver.runs[-1]) is None
    assert "/cnab/app/tfstate" not in driver.runs[-1].files  # tfstate applies to upgrade and uninstall only
    porter.execute("upgrade", bundle="porter", force=True)
    assert state_of(driver.runs[-1]) == ["install"]
    assert decoded(driver.runs[-1], "/cnab/app/tfstate") == b"+install"  # the required parameter was sourced
    assert driver.runs[-1].environment["PORTER_MSG_OUTPUT"] == "msg of install #1"
    porter.execute("action", bundle=None, action="boom")
    assert state_of(driver.runs[-1]) == ["install", "upgrade"]
    status = porter.execute("action", bundle=None, action="status")
    assert state_of(driver.runs[-1]) == ["install", "upgrade", "boom"]
    assert status.binary_outputs == ["porter-state"]
    assert base64.b64decode(status.outputs["porter-state"]) == GZIP + b"install,upgrade,boom,status"
    porter.execute("uninstall", bundle=None)
    # status does not modify: its state is not carried forward
    assert state_of(driver.runs[-1]) == ["install", "upgrade", "boom"]
    assert decoded(driver.runs[-1], "/cnab/app/tfstate") == b"+install+upgrade"


def test_rerunning_with_new_state_is_no_change(porter, driver):
    steps = [porter.execute("present", bundle="porter", check_mode=check) for check in (True, False, False, True)]
    assert [s.changed for s in steps] == [True, True, False, False]
    assert len(driver.runs) == 1


def test_the_claim_records_where_a_sourced_value_came_from_not_the_value(porter, driver):
    installed = porter.execute("install", bundle="porter")
    upgraded = porter.execute("upgrade", bundle="porter", force=True)
    claim = porter.installation().claims[-1]
    custom = claim["custom"][model.RUNTIME_KEY]
    assert custom["parameterSources"]["porter-state"] == {"output": "porter-state", "result": installed.result["id"]}
    assert set(custom["parameterSources"]) == {"porter-msg-output", "porter-state", "tfstate", "token"}
    assert not set(custom["parameterSources"]) & set(claim["parameters"])
    assert upgraded.diff["after"]["parameters"] == upgraded.diff["before"]["parameters"]


def test_a_value_from_a_sensitive_output_is_masked_and_never_recorded(porter, driver):
    porter.execute("install", bundle="porter")
    driver.logs = lambda op: "token is %s\n" % op.environment["TOKEN"]
    upgraded = porter.execute("upgrade", bundle="porter", force=True)
    assert driver.runs[-1].environment["TOKEN"] == "canary-output-token-4411"
    assert upgraded.logs == "token is %s\n" % SENSITIVE_MASK
    for path, data in porter.files().items():
        if "/sensitive/" not in path:
            assert b"canary-output-token-4411" not in data, path


def test_a_given_value_wins_and_without_output_the_default_applies(porter, driver):
    porter.execute("install", bundle="porter")
    assert driver.runs[-1].environment["PORTER_MSG_OUTPUT"] == ""  # no msg yet: the default
    assert driver.runs[-1].environment["TOKEN"] == "none"
    porter.execute("upgrade", bundle="porter", parameters={"porter-msg-output": "mine", "tfstate": "given"})
    assert driver.runs[-1].environment["PORTER_MSG_OUTPUT"] == "mine"
    assert decoded(driver.runs[-1], "/cnab/app/tfstate") == b"given"
    assert porter.installation().claims[-1]["parameters"]["porter-msg-output"] == "mine"


def test_a_required_sourced_parameter_without_output_is_refused(porter, driver):
    document = porter_bundle()
    document["outputs"]["tfstate"]["applyTo"] = ["upgrade"]  # install writes none
    porter.write_bundle("no-tfstate", document)
    porter.execute("install", bundle="no-tfstate")
    with pytest.raises(ParameterError, match='parameter "tfstate" is required by action "upgrade"'):
        porter.execute("upgrade", bundle="no-tfstate", force=True, check_mode=True)


def test_a_failed_action_state_is_not_used(porter, driver):
    porter.execute("install", bundle="porter")
    driver.exit_code = 2
    porter.execute("action", bundle=None, action="boom")
    driver.exit_code = 0
    porter.execute("action", bundle=None, action="boom")
    assert state_of(driver.runs[-1]) == ["install"]


def test_output_sources_reads_the_extension_value():
    bundle = Bundle(porter_bundle())
    assert parameter_sources.output_sources(bundle) == {
        "porter-msg-output": "msg", "porter-state": "porter-state", "tfstate": "tfstate", "token": "secret-token"}
    document = porter_bundle()
    document["custom"]["io.cnab.parameter-sources"]["ghost"] = {"sources": {"output": {"name": "msg"}}}
    document["custom"]["io.cnab.parameter-sources"]["token"] = {"sources": {"output": {"name": "msg"}}}
    assert parameter_sources.output_sources(Bundle(document))["token"] == "msg"  # priority is optional
    assert "ghost" not in parameter_sources.output_sources(Bundle(document))  # not a declared parameter


def test_claim_info_marks_binary_outputs(porter, driver):
    from ansible_collections.cnab.runtime.plugins.module_utils.lookup import describe_installation

    porter.execute("install", bundle="porter")
    info = describe_installation(porter.store, NAME)
    assert info["binary_outputs"] == ["porter-state"]
    assert base64.b64decode(info["outputs"]["porter-state"]) == GZIP + b"install"
    assert info["outputs"]["secret-token"] == SENSITIVE_MASK


def test_a_parameter_from_an_output_is_typed_by_its_definition():
    document = porter_bundle()
    document["parameters"]["replicas"] = {"definition": "replicas", "destination": {"env": "REPLICAS"}}
    document["definitions"]["replicas"] = {"type": "integer"}
    bundle = Bundle(document)
    assert v.parameter_from_output(bundle, "replicas", b"3") == 3
    assert v.parameter_from_output(bundle, "porter-msg-output", b"3") == "3"
    assert v.parameter_from_output(bundle, "porter-state", GZIP + b"\xff") == base64.b64encode(GZIP + b"\xff").decode()
    assert v.is_binary(GZIP) and not v.is_binary("état".encode())
