"""The full path: the real daemon (subprocess) on synthetic 640x480 frames, and a subscriber in
another process measuring what arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from edged.errors import EdgedError


def rss_mb(pid: int, key: str = "VmRSS") -> float | None:
    """VmRSS (or RssAnon, RssFile: file-backed pages, e.g. shared library code) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def daemon_path(model: Path, threads: int, runtime: str, seconds: float,
                warmup: float = 2.0, interpolation: str = "area",
                fps: float = 0.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
        endpoint = f"ipc://{tmp}/p.sock"
        config = {
            "source": {"type": "synthetic", "size": [640, 480], "pattern": "noise", "fps": fps},
            "model": {"path": str(model), "threads": threads, "runtime": runtime,
                      "top_k": 5, "interpolation": interpolation},
            "publish": {"endpoint": endpoint, "hwm": 1000, "status_interval": 1.0},
            "log": {"level": "WARNING"},
        }
        cfg_path = Path(tmp) / "bench.yaml"
        cfg_path.write_text(yaml.safe_dump(config))
        counter = subprocess.Popen(
            [sys.executable, "-m", "edged.bench.counter", endpoint, str(seconds), str(warmup)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert counter.stdout is not None and counter.stdin is not None
        counter.stdout.readline()  # "ready": subscribed before the daemon starts
        start_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        daemon = subprocess.Popen([sys.executable, "-m", "edged", "run", "--config",
                                   str(cfg_path)], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        counter.stdin.write(f"{daemon.pid}\n")  # its per-thread CPU is read from /proc
        counter.stdin.flush()
        samples: list[tuple[float, float]] = []
        split: list[tuple[float | None, float | None]] = []
        stop = threading.Event()

        def sample_rss() -> None:
            t0 = time.monotonic()
            while not stop.wait(0.25):
                value = rss_mb(daemon.pid)
                if value is not None:
                    samples.append((time.monotonic() - t0, value))
                    split.append((rss_mb(daemon.pid, "RssAnon"), rss_mb(daemon.pid, "RssFile")))

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        try:
            out, _ = counter.communicate(timeout=seconds + warmup + 120)  # closes stdin
        finally:
            stop.set()
            daemon.terminate()
            exit_code = daemon.wait(timeout=30)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if not result["received"]:
        raise EdgedError(f"the daemon path delivered no message (daemon exit code {exit_code}); "
                         "see its log above")
    first = result.pop("first_message_ns")
    result["startup_s"] = (first - start_ns) / 1e9 if first else None
    steady = [v for t, v in samples if t >= (result["startup_s"] or 0) + warmup]
    result["rss_mb"] = {"steady_start": steady[0] if steady else None,
                        "end": steady[-1] if steady else None,
                        "growth": (steady[-1] - steady[0]) if steady else None,
                        "end_anon": split[-1][0] if split else None,
                        "end_file": split[-1][1] if split else None}
    status = result.pop("status")
    result["dropped"] = status.get("dropped", {})
    result["daemon_frames"] = status.get("frames", {})
    result["daemon_exit_code"] = exit_code
    return result
