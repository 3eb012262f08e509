"""Before/after figures for the socket attacks (docs/security.md): start a daemon from TREE,
connect an honest subscriber, attack, and report the daemon's RSS growth and what the
honest subscriber received. Not a test: run it by hand, e.g.

    .venv/bin/python tests/adversarial/measure_sockets.py /work/main flood 20
    .venv/bin/python tests/adversarial/measure_sockets.py . bigsub 10
    .venv/bin/python tests/adversarial/measure_sockets.py . floodipc 20
    .venv/bin/python tests/adversarial/measure_sockets.py . idle 1100
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
import zmq

sys.path.insert(0, str(Path(__file__).parent))
import sockattack as sa  # noqa: E402


def start(tree: Path, endpoint: str, tmp: str, low_fds: bool) -> subprocess.Popen:
    cfg = {"source": {"type": "synthetic", "fps": 20}, "publish": {"endpoint": endpoint}}
    Path(tmp, "c.yaml").write_text(yaml.safe_dump(cfg))

    def limit() -> None:
        if low_fds:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))
    return subprocess.Popen(  # cwd=tmp: `python -m` must not import the caller's tree
        [sys.executable, "-m", "edged", "run", "--config", f"{tmp}/c.yaml"],
        env={**os.environ, "PYTHONPATH": str(tree.resolve())}, cwd=tmp,
        stdout=open(f"{tmp}/log", "wb"), stderr=subprocess.STDOUT, preexec_fn=limit)


def attack(kind: str, arg: float, port: int, tmp: str, endpoint: str) -> str:
    if kind in ("flood", "floodipc"):
        sent, dropped = sa.flood(port if kind == "flood" else f"{tmp}/p.sock", arg)
        return f"sent {sent} subscriptions; the daemon dropped the attacker {dropped} times"
    if kind == "bigsub":
        closed = sa.big_subscription(port, int(arg * 2**20))
        time.sleep(2)
        return f"peer closed by the daemon: {closed}"
    conns = []
    try:
        for _ in range(int(arg)):
            conns.append(sa.connect(port))
    except OSError as exc:
        print("connect failed at", len(conns), exc)
    late = zmq.Context.instance().socket(zmq.SUB)
    late.setsockopt(zmq.SUBSCRIBE, b"")
    late.connect(endpoint)
    got = bool(late.poll(30_000))
    late.close(linger=0)
    for c in conns:
        c.close()
    return f"{len(conns)} idle connections; a new subscriber got a message in 30 s: {got}"


def main(tree: Path, kind: str, arg: float) -> None:
    tmp = tempfile.mkdtemp()
    port = sa.free_port()
    endpoint = f"ipc://{tmp}/p.sock" if kind == "floodipc" else f"tcp://127.0.0.1:{port}"
    proc = start(tree, endpoint, tmp, low_fds=kind == "idle")
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"edged.predictions")
    sub.connect(endpoint)
    try:
        assert sub.poll(60_000), Path(tmp, "log").read_text()
        warm = time.monotonic() + 3
        while time.monotonic() < warm:
            if sub.poll(100):
                sub.recv_multipart()
        base = sa.rss_kb(proc.pid)
        got: list[tuple[float, int]] = []
        stop = threading.Event()

        def honest() -> None:
            while not stop.is_set():
                if sub.poll(100):
                    frames = sub.recv_multipart()
                    got.append((time.monotonic(), json.loads(frames[1])["seq"]))
        thread = threading.Thread(target=honest)
        thread.start()
        t0 = time.monotonic()
        with sa.RssWatch(proc.pid, base / 1024 + 1500) as watch:
            report = attack(kind, arg, port, tmp, endpoint)
        span = time.monotonic() - t0
        stop.set()
        thread.join()
        times = [t0] + [t for t, _ in got if t <= t0 + span] + [t0 + span]
        silence = max(b - a for a, b in zip(times, times[1:], strict=False))
        seqs = [s for _, s in got]
        gaps = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1)
        print(f"{report}\ntree={tree} attack={kind} {arg:g}: rss {base / 1024:.0f} MB -> peak "
              f"{watch.peak_kb / 1024:.0f} MB (+{(watch.peak_kb - base) / 1024:.1f} MB"
              f"{', killed at the ceiling' if watch.killed else ''}); honest subscriber: "
              f"{len(times) - 2} predictions in {span:.1f}s, longest silence {silence:.1f}s, "
              f"{gaps} seq gaps")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
