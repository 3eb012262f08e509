"""Hostile peers against a real daemon subprocess: subscription floods, oversized frames,
idle connections, revoked keys; and the endpoint policy. Each test watches the daemon's RSS
from /proc and kills it at a ceiling, so a regression fails fast instead of eating the box.
The demo model and the synthetic source: no test data needed."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sockattack as sa
import zmq
import zmq.auth
from conftest import receive_json, subscribe

FLOOD_S = float(os.environ.get("EDGED_FLOOD_S", "20"))
ATTACK = str(Path(sa.__file__))


def tcp_daemon(daemon_factory, **publish: object) -> tuple[object, int]:
    port = sa.free_port()
    d = daemon_factory({"source": {"type": "synthetic", "fps": 20},
                        "publish": {"endpoint": f"tcp://127.0.0.1:{port}", **publish}})
    return d, port


def warm_up(endpoint: str, seconds: float = 2.0) -> zmq.Socket:
    """An honest subscriber that got its first prediction, after ``seconds`` of running."""
    sub = subscribe(endpoint)
    receive_json(sub, 1, timeout=60)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sub.poll(100):
            sub.recv_multipart()
    return sub


def honest_during(sub: zmq.Socket, proc: subprocess.Popen) -> list[tuple[float, int]]:
    """(arrival time, seq) of every prediction while ``proc`` (the attacker) runs."""
    got = []
    while proc.poll() is None:
        if sub.poll(100):
            frames = sub.recv_multipart()
            got.append((time.monotonic(), json.loads(frames[1])["seq"]))
    return got


def longest_silence(got: list[tuple[float, int]], span: float) -> float:
    times = [t for t, _ in got]
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=span)


def test_unique_subscription_flood_costs_nothing(daemon_factory) -> None:
    d, port = tcp_daemon(daemon_factory)
    honest = warm_up(d.endpoint)
    base_kb = sa.rss_kb(d.proc.pid)
    t0 = time.monotonic()
    with sa.RssWatch(d.proc.pid, base_kb / 1024 + 200) as watch:
        attacker = subprocess.Popen([sys.executable, ATTACK, "flood", str(port), str(FLOOD_S)],
                                    stdout=subprocess.PIPE, text=True)
        got = honest_during(honest, attacker)
    span = time.monotonic() - t0
    report = attacker.communicate(timeout=30)[0]
    growth_mb = (watch.peak_kb - base_kb) / 1024
    assert not watch.killed, f"daemon passed {base_kb // 1024 + 200} MB: {report}"
    assert growth_mb < 20, f"daemon grew {growth_mb:.1f} MB during the flood: {report}"
    assert len(got) >= span * 2, f"honest subscriber got {len(got)} in {span:.0f}s"
    assert longest_silence(got, span) < 10
    seqs = [s for _, s in got]
    assert seqs == sorted(seqs)  # any stretch not sent would show as a gap here
    assert "dropped a subscriber connection" in d.log()
    assert d.stop() == 0


def test_ten_megabyte_subscription_costs_under_5_mb(daemon_factory) -> None:
    d, port = tcp_daemon(daemon_factory)
    honest = warm_up(d.endpoint)
    base_kb = sa.rss_kb(d.proc.pid)
    with sa.RssWatch(d.proc.pid, base_kb / 1024 + 100) as watch:
        closed = sa.big_subscription(port, 10 * 2**20)
        receive_json(honest, 10, timeout=30)
    assert closed, "the daemon kept a peer that sent a 10 MB subscription"
    assert not watch.killed
    assert (watch.peak_kb - base_kb) / 1024 < 5
    assert d.stop() == 0


def test_peers_that_never_finish_the_handshake_are_dropped(daemon_factory) -> None:
    d, port = tcp_daemon(daemon_factory)
    warm_up(d.endpoint, 0)
    silent = [sa.connect(port, handshake=False, timeout=60) for _ in range(50)]
    deadline = time.monotonic() + 20  # HANDSHAKE_IVL is 5 s; libzmq's default would be 30 s
    try:
        for s in silent:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            while s.recv(64):  # the daemon's greeting, then the end
                pass
    finally:
        for s in silent:
            s.close()
    assert d.stop() == 0


@pytest.fixture
def low_fd_limit():
    """Start the daemon with the usual soft limit of 1024 (and room above it), while this
    process keeps enough descriptors for 1,100 connections of its own."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2500:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} leaves no room for 1,100 connections")

    def spawn(start):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            return start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                        else max(soft, 4096), hard))
    yield spawn
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1100_idle_connections_do_not_lock_out_a_subscriber(daemon_factory,
                                                            low_fd_limit) -> None:
    d, port = low_fd_limit(lambda: tcp_daemon(daemon_factory))
    warm_up(d.endpoint, 0)
    limits = Path(f"/proc/{d.proc.pid}/limits").read_text()
    assert "Max open files            1024 " not in limits  # raised at start
    base_kb = sa.rss_kb(d.proc.pid)
    idle: list[socket.socket] = []
    try:
        with sa.RssWatch(d.proc.pid, base_kb / 1024 + 300) as watch:
            idle = [sa.connect(port, timeout=60) for _ in range(1100)]
            late = subscribe(d.endpoint)
            receive_json(late, 1, timeout=60)
        assert not watch.killed
    finally:
        for s in idle:
            s.close()
    assert d.stop() == 0


# --- CURVE -------------------------------------------------------------------------------

def keygen(folder: Path, name: str) -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "keygen", str(folder), "--name", name],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def curve_sub(endpoint: str, keys: Path | None, name: str, topic: bytes) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        server, _ = zmq.auth.load_certificate(keys / "server.key")
        public, secret = zmq.auth.load_certificate(keys / f"{name}.key_secret")
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server, public, secret
    sock.setsockopt(zmq.SUBSCRIBE, topic)
    sock.connect(endpoint)
    return sock


def two_free_ports() -> int:
    """A port P with P+1 free too (the frames socket's default)."""
    for _ in range(50):
        port = sa.free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise AssertionError("no two consecutive free ports")


@pytest.fixture
def curve_keys(tmp_path: Path) -> tuple[Path, Path]:
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    for name in ("server", "alice", "bob"):
        keygen(keys, name)
    allowed.mkdir()
    for name in ("alice", "bob"):
        (allowed / f"{name}.key").write_bytes((keys / f"{name}.key").read_bytes())
    return keys, allowed


def curve_daemon(daemon_factory, keys: Path, allowed: Path, **publish: object):
    port = two_free_ports()
    d = daemon_factory({"source": {"type": "synthetic", "fps": 20}, "publish": {
        "endpoint": f"tcp://127.0.0.1:{port}", **publish,
        "curve": {"secret_key_file": str(keys / "server.key_secret"),
                  "authorized_keys_dir": str(allowed)}}}, subdir="d")
    return d, port


def test_curve_frames_socket_refuses_a_null_client(daemon_factory, curve_keys) -> None:
    keys, allowed = curve_keys
    d, port = curve_daemon(daemon_factory, keys, allowed, frames=True)
    frames = f"tcp://127.0.0.1:{port + 1}"
    alice = curve_sub(frames, keys, "alice", b"edged.frames")
    plain = curve_sub(frames, None, "", b"")
    try:
        assert alice.poll(60_000), "an authorized client got no frame"
        topic, header, jpeg = alice.recv_multipart()
        assert topic == b"edged.frames" and jpeg[:2] == b"\xff\xd8"
        assert not plain.poll(3000), "a client without a key received frames"
    finally:
        alice.close()
        plain.close()
    assert d.stop() == 0


def test_revoked_key_receives_nothing_after_sighup(daemon_factory, curve_keys) -> None:
    keys, allowed = curve_keys
    d, port = curve_daemon(daemon_factory, keys, allowed)
    endpoint = f"tcp://127.0.0.1:{port}"
    alice = curve_sub(endpoint, keys, "alice", b"edged.predictions")
    bob = curve_sub(endpoint, keys, "bob", b"edged.predictions")
    try:
        receive_json(alice, 1, timeout=60)
        receive_json(bob, 1, timeout=60)
        (allowed / "bob.key").unlink()
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "client key(s) revoked" not in d.log():
            assert time.monotonic() < deadline, d.log()
            time.sleep(0.1)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and bob.poll(100):  # in flight before the drop
            bob.recv_multipart()
        assert not bob.poll(5000), "a revoked key still receives predictions"
        receive_json(alice, 5, timeout=60)  # reconnected and re-authenticated
    finally:
        alice.close()
        bob.close()
    assert d.stop() == 0


# --- the endpoint policy in check-config -------------------------------------------------

@pytest.mark.parametrize("publish", [
    {"endpoint": "ipc:///tmp/x.sock", "frames": True, "frames_endpoint": "tcp://0.0.0.0:5600"},
    {"endpoint": "ipc:///tmp/x.sock", "frames_endpoint": "tcp://192.0.2.7:5600"},
    {"endpoint": "tcp://127.0.0.1:5600", "frames_endpoint": "tcp://[::]:5601"},
    {"endpoint": "tcp://127.0.0.1:5600", "frames_endpoint": "ws://127.0.0.1:5601"},
    {"endpoint": "tcp://127.0.0.1:65535", "frames": True},
])
def test_check_config_refuses_an_unsafe_frames_endpoint(tmp_path: Path, publish) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"publish": publish}))
    r = subprocess.run([sys.executable, "-m", "edged", "check-config", str(config)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78, r.stdout + r.stderr
    assert "frames_endpoint" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
