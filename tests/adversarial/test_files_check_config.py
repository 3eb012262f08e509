"""``edged check-config`` finds what ``edged run`` would refuse before its pipeline starts, with
the same message: the model's identity and tensors, the labels against its outputs, the CURVE
key files. Real subprocesses of both verbs."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from files_support import run_edged

from edged.config import DEMO_MODEL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(tmp: Path, text: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(text + ("" if "publish:" in text else
                           f"publish:\n  endpoint: ipc://{tmp}/p.sock\n"))
    return cfg


def _both(tmp: Path, cfg: Path) -> tuple[str, str, int | None, int | None]:
    check = run_edged(["check-config", str(cfg)], tmp, deadline_s=120)
    run = run_edged(["run", "--config", str(cfg)], tmp, deadline_s=120)
    return check.output, run.output, check.code, run.code


def _jpeg_as_model(tmp: Path) -> str:
    jpeg = tmp / "model.tflite"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64))
    return f"model:\n  path: {jpeg}\n"


def _wrong_labels(tmp: Path) -> str:
    (tmp / "labels.txt").write_text("".join(f"class{i}\n" for i in range(10)))
    return f"model:\n  path: {DEMO_MODEL}\n  labels: {tmp}/labels.txt\n"


def _missing_key(tmp: Path) -> str:
    (tmp / "clients").mkdir()
    return (f"publish:\n  endpoint: tcp://127.0.0.1:{_free_port()}\n  curve:\n"
            f"    secret_key_file: {tmp}/nope.key_secret\n"
            f"    authorized_keys_dir: {tmp}/clients\n")


CASES = {
    "jpeg-named-tflite": (_jpeg_as_model, "not a TFLite model (no 'TFL3' flatbuffer identifier"),
    "labels-count": (_wrong_labels, "10 labels but the model outputs 4 classes"),
    "missing-curve-key": (_missing_key, "nope.key_secret"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_config_refuses_what_run_refuses(case: str, tmp_path: Path) -> None:
    make, message = CASES[case]
    cfg = _write(tmp_path, make(tmp_path))
    check_out, run_out, check_code, run_code = _both(tmp_path, cfg)
    assert check_code == 78, check_out
    assert message in check_out, check_out
    assert run_code not in (0, None), run_out  # run refuses it too, with the same reason
    assert message in run_out, run_out
    assert "Traceback" not in check_out + run_out


def test_curve_key_problems_check_config_names(tmp_path: Path) -> None:
    import zmq.auth

    keys = tmp_path / "keys"
    keys.mkdir()
    public, secret = zmq.auth.create_certificates(str(keys), "server")
    clients = tmp_path / "clients"
    clients.mkdir()
    port = _free_port()

    def check(secret_file: Path | str, env: dict[str, str] | None = None
              ) -> tuple[int | None, str]:
        cfg = _write(tmp_path, f"publish:\n  endpoint: tcp://0.0.0.0:{port}\n  curve:\n"
                               f"    secret_key_file: {secret_file}\n"
                               f"    authorized_keys_dir: {clients}\n")
        o = run_edged(["check-config", str(cfg)], tmp_path, deadline_s=120, env=env)
        return o.code, o.output

    code, out = check(secret)
    assert code == 78 and "no client public keys (*.key)" in out, out
    shutil.copy(public, clients / "laptop.key")
    code, out = check(public)
    assert code == 78 and "holds no secret key" in out, out
    os.mkfifo(tmp_path / "fifo.key_secret")
    code, out = check(tmp_path / "fifo.key_secret")
    assert code == 78 and "is a FIFO (named pipe)" in out, out
    (tmp_path / "garbage.key_secret").write_text("not a certificate\n")
    code, out = check(tmp_path / "garbage.key_secret")
    assert code not in (0, None) and "garbage.key_secret" in out, out
    code, out = check(secret)
    assert code == 0, out
    # a relative name is a systemd credential: checked where $CREDENTIALS_DIRECTORY is set
    assert check("server.key_secret", {"CREDENTIALS_DIRECTORY": str(keys)})[0] == 0
    code, out = check("server.key_secret", {"CREDENTIALS_DIRECTORY": str(clients)})
    assert code == 78 and "file not found" in out, out
    assert check("server.key_secret", {"CREDENTIALS_DIRECTORY": ""})[0] == 0


def test_a_good_config_passes_and_no_model_skips_the_load(tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"model:\n  path: {DEMO_MODEL}\n")
    assert run_edged(["check-config", str(cfg)], tmp_path).code == 0
    cfg = _write(tmp_path, _jpeg_as_model(tmp_path))
    o = run_edged(["check-config", "--no-model", str(cfg)], tmp_path)
    assert o.code == 0, o.summary()
