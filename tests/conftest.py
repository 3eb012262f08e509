"""Shared fixtures: the real test data, real daemons as subprocesses, real subscribers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
import zmq

ROOT = Path(__file__).resolve().parent.parent


def _testdata_dir() -> Path:
    env = os.environ.get("EDGED_TESTDATA")
    return Path(env) if env else ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """../shared/testdata (or $EDGED_TESTDATA). Absent: skip, except under CI=true: fail."""
    path = _testdata_dir()
    if not (path / "models").is_dir():
        message = (f"real test models not found at {path} (see the README: tests that need "
                   "../shared/testdata or $EDGED_TESTDATA)")
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true this is a failure")
        pytest.skip(message)
    return path


class DaemonProcess:
    """``edged run`` as a real subprocess with a config written to a temp dir."""

    def __init__(self, tmp: Path, config: dict, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.endpoint = config.setdefault("publish", {}).setdefault(
            "endpoint", f"ipc://{tmp}/predictions.sock")
        self.config_path = tmp / "config.yaml"
        self.write_config(config)
        self.log_path = tmp / "daemon.log"
        self._log = open(self.log_path, "wb")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for inherited in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            full_env.pop(inherited, None)
        # the daemon imports this tree's edged, whatever is installed in the venv
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "--config", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=tmp)

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(yaml.safe_dump(config))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator:
    started: list[DaemonProcess] = []

    def start(config: dict, env: dict[str, str] | None = None, subdir: str = "") -> DaemonProcess:
        d = tmp_path / subdir if subdir else tmp_path
        d.mkdir(exist_ok=True)
        proc = DaemonProcess(d, config, env)
        started.append(proc)
        return proc

    yield start
    for p in started:
        p.kill()


def subscribe(endpoint: str, topics: tuple[bytes, ...] = (b"edged.predictions",),
              hwm: int = 1000) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    for t in topics:
        sock.setsockopt(zmq.SUBSCRIBE, t)
    sock.connect(endpoint)
    return sock


def receive_json(sock: zmq.Socket, count: int, timeout: float = 20.0,
                 topic: bytes = b"edged.predictions") -> list[dict]:
    """``count`` messages on ``topic`` or fail with what arrived."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sock.poll(int(remaining * 1000)):
            raise AssertionError(f"received {len(out)} of {count} messages within {timeout}s")
        frames = sock.recv_multipart()
        if frames[0] == topic:
            out.append(json.loads(frames[1]))
    return out
