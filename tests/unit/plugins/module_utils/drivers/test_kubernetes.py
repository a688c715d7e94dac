"""How the kubernetes driver reads an action's log and framed outputs back (drivers/kubernetes.py), and how
drivers are looked up by name (drivers/base.py). Fed with logs made by the same wrapper shape as in a pod."""

import base64
import io
import tarfile

import pytest

from ansible_collections.cnab.runtime.plugins.module_utils.drivers import base
from ansible_collections.cnab.runtime.plugins.module_utils.drivers.kubernetes import (
    KubernetesDriver,
    read_outputs,
    split_log,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import DriverError

NONCE = "0123456789abcdef01234567"


def _tar(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo(".")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _framed(log, files, code):
    encoded = base64.b64encode(_tar(files))
    lines = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    return log + b"%s begin\n" % NONCE.encode() + lines + b"\n%s end %d\n" % (NONCE.encode(), code)


def test_log_before_the_frame_is_the_actions_log_even_without_a_final_newline():
    blob = bytes(range(256)) * 5000
    raw = _framed(b"first line\nno newline at the end", {"blob": blob, "message": b"hi"}, 3)
    log, archive, code = split_log(raw, NONCE)
    assert log == b"first line\nno newline at the end" and code == 3
    wanted = {"/cnab/app/outputs/blob": "blob", "/cnab/app/outputs/message": "message"}
    assert read_outputs(archive, wanted) == {"/cnab/app/outputs/blob": blob, "/cnab/app/outputs/message": b"hi"}
    assert read_outputs(archive, {"/cnab/app/outputs/message": "message"}) == {"/cnab/app/outputs/message": b"hi"}


def test_another_nonce_in_the_actions_output_is_just_log():
    forged = b"ffffffffffffffffffffffff begin\nAAAA\nffffffffffffffffffffffff end 0\n"
    log, archive, code = split_log(forged + _framed(b"", {}, 0), NONCE)
    assert log == forged and archive is not None and code == 0


def test_a_line_that_arrives_after_the_frame_stays_in_the_log():
    log, archive, code = split_log(_framed(b"one\n", {}, 1) + b"late\n", NONCE)
    assert (log, code) == (b"one\nlate\n", 1)


def test_a_cut_off_frame_gives_the_log_and_no_outputs():
    raw = _framed(b"started\n", {"message": b"hi"}, 0)
    log, archive, code = split_log(raw[:-30], NONCE)
    assert (log, archive, code) == (b"started\n", None, None)
    assert split_log(b"only a log\n", NONCE) == (b"only a log\n", None, None)


def test_driver_names():
    assert isinstance(base.get_driver("kubernetes", {}), KubernetesDriver)
    assert base.get_driver("no-such-plugin", {}).executable_name == "cnab-no-such-plugin"
    with pytest.raises(DriverError, match=r"^driver '\.\./x' is not a valid driver name"):
        base.get_driver("../x", {})
    with pytest.raises(DriverError, match=r"no executable cnab-no-such-plugin on PATH"):
        base.get_driver("no-such-plugin", {}).connect()
