"""Soak: the daemon on a looping source for a long time while subscribers join and leave.

    python scripts/soak.py --minutes 30 [--model PATH] [--fps 100] [--json out.json]

Reports messages published (from the daemon's status) and received, seq gaps seen by
subscribers, and the daemon's RSS and open file descriptors over time. Not part of the test
suite: run it before a release, on the device if you can.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
import zmq

ROOT = Path(__file__).resolve().parent.parent


def proc_stats(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


class Churn:
    """Subscribers that connect, read for a random while (some slowly), and leave."""

    def __init__(self, endpoint: str, stop: threading.Event) -> None:
        self.endpoint, self.stop = endpoint, stop
        self.sessions = self.received = self.gaps = self.restarts = 0
        self.lock = threading.Lock()

    def session(self, rng: random.Random) -> None:
        sock = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, b"edged.predictions")
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        slow = rng.random() < 0.3
        end = time.monotonic() + rng.uniform(1, 20)
        last: tuple[str, int] | None = None
        received = gaps = restarts = 0
        while time.monotonic() < end and not self.stop.is_set():
            if not sock.poll(500):
                continue
            msg = json.loads(sock.recv_multipart()[1])
            received += 1
            if last and last[0] == msg["run_id"] and msg["seq"] != last[1] + 1:
                gaps += msg["seq"] - last[1] - 1
            elif last and last[0] != msg["run_id"]:
                restarts += 1
            last = (msg["run_id"], msg["seq"])
            if slow:
                time.sleep(0.01)
        sock.close()
        with self.lock:
            self.sessions += 1
            self.received += received
            self.gaps += gaps
            self.restarts += restarts

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            self.session(rng)
            self.stop.wait(rng.uniform(0, 3))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--model", type=Path,
                   default=ROOT.parent / "shared/testdata/models/"
                   "mobilenet_v1_0.25_128_quant.tflite")
    p.add_argument("--fps", type=float, default=100)
    p.add_argument("--subscribers", type=int, default=4)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="edged-soak-") as tmp:
        endpoint = f"ipc://{tmp}/p.sock"
        cfg = Path(tmp) / "soak.yaml"
        cfg.write_text(yaml.safe_dump({
            "source": {"type": "synthetic", "pattern": "noise", "fps": args.fps},
            "model": {"path": str(args.model), "threads": 1},
            "publish": {"endpoint": endpoint, "status_interval": 1.0},
            "log": {"level": "WARNING"}}))
        daemon = subprocess.Popen([sys.executable, "-m", "edged", "run", "--config", str(cfg)])
        status_sock = zmq.Context.instance().socket(zmq.SUB)
        status_sock.setsockopt(zmq.SUBSCRIBE, b"edged.status")
        status_sock.connect(endpoint)
        stop = threading.Event()
        churn = Churn(endpoint, stop)
        threads = [threading.Thread(target=churn.run, args=(i,), daemon=True)
                   for i in range(args.subscribers)]
        time.sleep(2)
        for t in threads:
            t.start()
        samples, status = [], {}
        start = time.monotonic()
        next_sample = start
        while time.monotonic() - start < args.minutes * 60 and daemon.poll() is None:
            if status_sock.poll(200):
                status = json.loads(status_sock.recv_multipart()[1])
            if time.monotonic() >= next_sample:
                rss, fds = proc_stats(daemon.pid)
                samples.append({"t_s": round(time.monotonic() - start), "rss_mb": round(rss, 1),
                                "fds": fds, "published": status.get("frames", {}).get("published")})
                print(json.dumps(samples[-1]), flush=True)
                next_sample += 60
        stop.set()
        for t in threads:
            t.join(30)
        alive = daemon.poll() is None
        daemon.terminate()
        code = daemon.wait(30)
    report = {"minutes": args.minutes, "daemon_alive_at_end": alive, "exit_code": code,
              "published": status.get("frames", {}).get("published"),
              "dropped": status.get("dropped"), "subscriber_sessions": churn.sessions,
              "received": churn.received, "gaps_seen": churn.gaps,
              "restarts_seen": churn.restarts,
              "rss_mb": {"first": samples[0]["rss_mb"], "last": samples[-1]["rss_mb"],
                         "max": max(s["rss_mb"] for s in samples)},
              "fds": {"first": samples[0]["fds"], "last": samples[-1]["fds"],
                      "max": max(s["fds"] for s in samples)},
              "samples": samples}
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if alive and code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
