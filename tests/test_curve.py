"""CURVE on tcp: an authorized client receives everything, an unknown key and a plain (NULL)
connection receive nothing. Real sockets on loopback."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edged.client import Subscriber
from edged.config import parse_config
from edged.errors import ConfigError
from edged.security import client_keys

pytestmark = pytest.mark.testdata


def keygen(folder: Path, name: str) -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "keygen", str(folder), "--name", name],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(sub: Subscriber, seconds: float) -> list[int]:
    seqs = []
    while (r := sub.receive(timeout=seconds)) is not None:
        seqs.append(r.message.seq)
        if len(seqs) >= 20:
            break
    return seqs


def test_curve_lets_in_only_authorized_keys(testdata: Path, tmp_path: Path,
                                            daemon_factory) -> None:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    for name in ("server", "client", "intruder"):
        keygen(keys, name)
    allowed.mkdir()
    (allowed / "client.key").write_bytes((keys / "client.key").read_bytes())
    assert stat.S_IMODE((keys / "server.key_secret").stat().st_mode) == 0o600
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/cat.bmp"), "fps": 50},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")},
        "publish": {"endpoint": endpoint,
                    "curve": {"secret_key_file": str(keys / "server.key_secret"),
                              "authorized_keys_dir": str(allowed)}}}, subdir="d")
    authorized = Subscriber(endpoint, curve=client_keys(keys / "server.key",
                                                        keys / "client.key_secret"))
    intruder = Subscriber(endpoint, curve=client_keys(keys / "server.key",
                                                      keys / "intruder.key_secret"))
    plain = Subscriber(endpoint)
    try:
        got = count(authorized, 20)
        assert len(got) == 20 and got == list(range(got[0], got[0] + 20))
        assert count(intruder, 2) == []
        assert count(plain, 2) == []
    finally:
        for s in (authorized, intruder, plain):
            s.close()
    assert d.stop() == 0
    assert "Traceback" not in d.log()


def test_non_loopback_tcp_needs_curve_and_accepts_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("publish:\n  endpoint: tcp://0.0.0.0:5556\n")
    assert info.value.errors[0].startswith("publish.endpoint (line 2): tcp endpoint binds "
                                           "0.0.0.0, which is not loopback")
    config = parse_config("publish:\n  endpoint: tcp://0.0.0.0:5556\n  curve:\n"
                          f"    secret_key_file: {tmp_path}/s.key_secret\n"
                          f"    authorized_keys_dir: {tmp_path}\n")
    assert config.publish.curve is not None


def test_missing_server_key_is_a_clear_start_error(testdata: Path, tmp_path: Path,
                                                   daemon_factory) -> None:
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/cat.bmp")},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")},
        "publish": {"endpoint": f"tcp://127.0.0.1:{free_port()}",
                    "curve": {"secret_key_file": "server.key_secret",
                              "authorized_keys_dir": str(tmp_path)}}},
        env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}, subdir="e")
    assert d.proc.wait(60) != 0
    log = d.log()
    assert f"{tmp_path}/creds/server.key_secret: cannot be read" in log
    assert "Traceback" not in log


def test_one_policy_for_every_endpoint_key(tmp_path: Path) -> None:
    curve = (f"  curve:\n    secret_key_file: {tmp_path}/s.key_secret\n"
             f"    authorized_keys_dir: {tmp_path}\n")
    config = parse_config("publish:\n  endpoint: tcp://0.0.0.0:5556\n  frames: true\n" + curve)
    assert config.publish.endpoints() == {"endpoint": "tcp://0.0.0.0:5556",
                                          "frames_endpoint": "tcp://0.0.0.0:5557"}
    for bad in ("tcp://0.0.0.0:5600", "tcp://10.1.2.3:5600", "pgm://eth0;239.1.1.1:5555",
                "tcp://127.0.0.1:5600/x"):
        with pytest.raises(ConfigError) as info:
            parse_config("publish:\n  endpoint: ipc:///tmp/p.sock\n  frames: true\n"
                         f"  frames_endpoint: '{bad}'\n")
        assert info.value.errors[0].startswith("publish.frames_endpoint (line 4): ")
