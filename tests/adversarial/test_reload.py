"""Bad reloads as an unlucky admin makes them, against a real daemon subprocess: the old
config keeps publishing with no seq gap, the process stays alive, and after a good reload
every socket (the tcp frames socket included) still delivers."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import zmq
from conftest import receive_json, subscribe

pytestmark = pytest.mark.testdata
RSS_CEILING_KB = 600 * 1024  # far above the ~100 MB a daemon needs: only a runaway hits it


class RssGuard:
    """Kills the daemon if its RSS passes a ceiling; remembers the peak."""

    def __init__(self, pid: int, ceiling_kb: int = RSS_CEILING_KB) -> None:
        self.pid, self.ceiling_kb, self.peak_kb = pid, ceiling_kb, 0
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            if self.peak_kb > self.ceiling_kb:
                os.kill(self.pid, signal.SIGKILL)
                return

    def stop(self) -> None:
        self._done.set()
        assert self.peak_kb <= self.ceiling_kb, f"RSS {self.peak_kb} kB"


def free_ports(n: int = 1) -> int:
    """A port P with P..P+n-1 free on 127.0.0.1 (the frames socket takes P+1)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + n > 65535:
            continue
        try:
            for p in range(port, port + n):
                with socket.socket() as t:
                    t.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise AssertionError("no free ports")


def base_config(td: Path, endpoint: str | None = None) -> dict:
    config: dict = {
        "source": {"type": "images", "path": str(td / "images/cat.bmp"), "fps": 20},
        "model": {"path": str(td / "models/mobilenet_v1_0.25_128_quant.tflite"),
                  "threads": 1}}
    if endpoint:
        config["publish"] = {"endpoint": endpoint}
    return config


def collect_until(sub: zmq.Socket, done, timeout: float = 60.0) -> list[dict]:
    """Predictions until ``done()`` holds (checked between messages)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        if sub.poll(200):
            frames = sub.recv_multipart()
            if frames[0] == b"edged.predictions":
                out.append(json.loads(frames[1]))
    return out


def receive(d, sub: zmq.Socket, count: int, timeout: float = 90.0) -> list[dict]:
    """receive_json, failing with the daemon's exit code and log (the tmp dir may be gone)."""
    try:
        return receive_json(sub, count, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; daemon exit {d.proc.poll()}; log:\n{d.log()}") from None


def assert_gap_free(msgs: list[dict]) -> None:
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert len({m["run_id"] for m in msgs}) == 1


@pytest.mark.parametrize("kind", ["port-in-use", "missing-curve-key", "bad-model", "bad-yaml",
                                  "nested-yaml"])
def test_failed_reload_keeps_the_old_config_publishing_without_a_gap(
        kind: str, testdata: Path, tmp_path: Path, daemon_factory) -> None:
    port = free_ports()
    config = base_config(testdata, f"tcp://127.0.0.1:{port}")
    d = daemon_factory(config, subdir="d")
    guard = RssGuard(d.proc.pid)
    sub = subscribe(d.endpoint, hwm=100_000)
    before = receive(d, sub, 3)
    blocker = None
    new = json.loads(json.dumps(config))
    if kind == "port-in-use":
        other = free_ports()
        blocker = zmq.Context.instance().socket(zmq.PUB)
        blocker.setsockopt(zmq.LINGER, 0)
        blocker.bind(f"tcp://127.0.0.1:{other}")
        new["publish"]["endpoint"] = f"tcp://127.0.0.1:{other}"
    elif kind == "missing-curve-key":
        from edged.security import make_keypair
        make_keypair(tmp_path / "clients", "client")
        new["publish"]["curve"] = {"secret_key_file": str(tmp_path / "absent.key_secret"),
                                   "authorized_keys_dir": str(tmp_path / "clients")}
    elif kind == "bad-model":
        (tmp_path / "bad.tflite").write_bytes(b"\0" * 4096)
        new["model"]["path"] = str(tmp_path / "bad.tflite")
    d.write_config(new)
    if kind == "bad-yaml":
        d.config_path.write_text("model: [unclosed\n")
    elif kind == "nested-yaml":  # 10,000 levels: once a RecursionError that killed the daemon
        d.config_path.write_text("model: " + "[" * 10_000 + "]" * 10_000 + "\n")
    d.signal(signal.SIGHUP)
    during = collect_until(sub, lambda: "reload failed" in d.log())
    after = receive(d, sub, 10)
    log = d.log()
    assert "reload failed, still running the previous config" in log, log
    assert "Traceback" not in log
    assert_gap_free(before + during + after)  # the old pipeline never stopped
    assert {m["model"]["file"] for m in after} == {"mobilenet_v1_0.25_128_quant.tflite"}
    assert d.proc.poll() is None  # alive: not "exit 0 and stay down"
    guard.stop()
    assert d.stop(timeout=15) == 0
    if blocker is not None:
        blocker.close()


def test_failed_rebind_on_the_same_address_restores_the_old_socket(
        testdata: Path, daemon_factory) -> None:
    """A change that needs a new socket on the same address (here a publish.group that does
    not exist) is the one step that cannot be bound beside the old one: it fails after the
    old pipeline stopped, and the old socket and pipeline come back (same run, seq goes on)."""
    config = base_config(testdata)
    d = daemon_factory(config, subdir="d")
    sub = subscribe(d.endpoint, hwm=100_000)
    before = receive(d, sub, 3)
    config["publish"]["group"] = "edged-no-such-group"
    d.write_config(config)
    d.signal(signal.SIGHUP)
    collect_until(sub, lambda: "reload failed" in d.log())
    after = receive(d, sub, 10)
    assert_gap_free(after)
    assert after[0]["run_id"] == before[0]["run_id"] and after[0]["seq"] > before[-1]["seq"]
    assert "edged-no-such-group" in d.log()
    assert d.proc.poll() is None
    assert d.stop(timeout=15) == 0


def frame_after(endpoint: str, seq: int, timeout: float = 60.0) -> dict:
    """The header of a JPEG frame for a prediction newer than ``seq``."""
    fsub = subscribe(endpoint, (b"edged.frames",))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if fsub.poll(500):
                _, header, jpeg = fsub.recv_multipart()
                meta = json.loads(header)
                if meta["seq"] > seq:
                    assert jpeg[:2] == b"\xff\xd8"
                    return meta
        raise AssertionError(f"no frame after seq {seq} on {endpoint} within {timeout}s")
    finally:
        fsub.close()


@pytest.mark.parametrize("change", ["model", "hwm", "endpoint"])
def test_tcp_frames_socket_delivers_after_a_reload(change: str, testdata: Path,
                                                   daemon_factory) -> None:
    """model: sockets kept; hwm: both sockets rebound on the same ports (the listener a moment
    ago closed is freed asynchronously); endpoint: new ports bound before the old close."""
    port = free_ports(2)
    config = base_config(testdata, f"tcp://127.0.0.1:{port}")
    config["publish"]["frames"] = True
    d = daemon_factory(config, subdir="d")
    sub = subscribe(d.endpoint, hwm=100_000)
    [first] = receive(d, sub, 1)
    frame_after(f"tcp://127.0.0.1:{port + 1}", -1)
    endpoint = d.endpoint
    if change == "model":
        config["model"]["top_k"] = 1
    elif change == "hwm":
        config["publish"]["hwm"] = 50
    else:
        new_port = free_ports(2)
        endpoint = config["publish"]["endpoint"] = f"tcp://127.0.0.1:{new_port}"
    d.write_config(config)
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "reloaded" not in d.log():
        assert time.monotonic() < deadline and "reload failed" not in d.log(), d.log()
        time.sleep(0.1)
    sub2 = subscribe(endpoint, hwm=100_000)
    [latest] = receive(d, sub2, 1)
    frames_at = f"tcp://127.0.0.1:{int(endpoint.rsplit(':', 1)[1]) + 1}"
    meta = frame_after(frames_at, latest["seq"])
    assert meta["run_id"] == first["run_id"]
    if change == "model":
        assert len(latest["classes"]) == 1
    assert "cannot bind" not in d.log()
    assert d.proc.poll() is None
    assert d.stop(timeout=15) == 0
