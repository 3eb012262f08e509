"""The subscriber side of the benchmark, run as its own process:
``python -m edged.bench.counter ENDPOINT SECONDS WARMUP`` prints "ready", reads the daemon's
PID from stdin, and prints one JSON line.

Per frame it measures the end-to-end latency (arrival - ``capture_ns``) and the overhead over
that same frame's inference time; over the measured window it reads the daemon's per-thread
CPU time from /proc, so the CPU spent outside ``invoke`` is known per frame.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import zmq


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def thread_cpu(pid: int) -> dict[int, tuple[str, int]]:
    """{tid: (name, CPU ns)} of every thread of ``pid`` (schedstat: ns; else stat: ticks)."""
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            try:
                ns = int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                ns = (int(fields[11]) + int(fields[12])) * tick_ns
        except (OSError, ValueError, IndexError):
            continue  # the thread ended meanwhile
        out[int(task.name)] = (name, ns)
    return out


def role(pid: int, tid: int, name: str) -> str:
    """Which part of the daemon a thread belongs to (pipeline threads name themselves)."""
    if tid == pid:
        return "main"
    if name.startswith("edged-"):
        return name[len("edged-"):]
    if name.startswith("ZMQbg"):
        return "zmq"
    return "runtime"  # the interpreter's worker pool (XNNPACK), started by the main thread


def cpu_by_role(pid: int, before: dict[int, tuple[str, int]],
                after: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds per role between two snapshots."""
    used: dict[str, float] = {}
    for tid, (name, ns) in after.items():
        r = role(pid, tid, name)
        used[r] = used.get(r, 0.0) + (ns - before.get(tid, (name, 0))[1]) / 1e9
    return used


def count(endpoint: str, seconds: float, warmup: float, pid: int) -> dict[str, object]:
    sock: zmq.Socket = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.setsockopt(zmq.SUBSCRIBE, b"edged.")
    sock.connect(endpoint)
    print("ready", flush=True)
    pid = pid or int(sys.stdin.readline())
    first_ns = 0
    latencies: list[float] = []
    inference: list[float] = []
    seqs: list[int] = []
    status: dict[str, object] = {}
    t_end = 0.0
    cpu0: dict[int, tuple[str, int]] = {}
    cpu1: dict[int, tuple[str, int]] = {}
    while True:
        if not sock.poll(30_000):
            break
        topic, payload = sock.recv_multipart()[:2]
        arrived = now_ns()
        msg = json.loads(payload)
        if topic == b"edged.status":
            status = msg
            continue
        if not first_ns:
            first_ns = arrived
            t_end = time.monotonic() + warmup + seconds
        if time.monotonic() < t_end - seconds:  # warm-up: not counted
            continue
        if not cpu0:
            cpu0 = thread_cpu(pid)
        latencies.append((arrived - msg["capture_ns"]) / 1e6)
        inference.append(msg["latency_ms"]["inference"])
        seqs.append(msg["seq"])
        if time.monotonic() >= t_end:
            cpu1 = thread_cpu(pid)
            break
    return summarize(first_ns, seconds, latencies, inference, seqs, status,
                     cpu_by_role(pid, cpu0, cpu1) if cpu1 else {})


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0


def summarize(first_ns: int, seconds: float, latencies: list[float], inference: list[float],
              seqs: list[int], status: dict[str, object],
              cpu_s: dict[str, float]) -> dict[str, object]:
    lat, inf = np.array(latencies), np.array(inference)
    over = lat - inf  # per frame: e2e minus the inference time of the same frame
    span = (len(seqs) and (seqs[-1] - seqs[0] + 1)) or 0
    result: dict[str, object] = {
        "first_message_ns": first_ns, "received": len(seqs), "seconds": seconds,
        "fps": len(seqs) / seconds, "gaps": span - len(seqs),
        "latency_ms": {p: _pct(lat, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
        "inference_ms": {"p50": _pct(inf, 50), "p99": _pct(inf, 99)},
        "overhead_ms": {"p50": _pct(over, 50), "p99": _pct(over, 99)},
        "status": status,
    }
    if cpu_s and span:
        # the inference thread's CPU is invoke plus its small per-frame work (the pipeline
        # thread's, when one thread runs every stage); its wall-clock invoke time can exceed
        # its CPU time on a busy host. Subtract the smaller one, so the figure outside
        # invoke is never flattered; worker threads are invoke's too.
        invoking = cpu_s.get("inference", 0.0) + cpu_s.get("pipeline", 0.0)
        invoke_s = min(invoking, float(inf.sum()) / 1e3 * span / len(seqs))
        outside = sum(cpu_s.values()) - cpu_s.get("runtime", 0.0) - invoke_s
        result["cpu_us_per_frame"] = {
            "outside_invoke": outside / span * 1e6,
            "total": sum(cpu_s.values()) / span * 1e6,
            "by_thread": {k: v / span * 1e6 for k, v in sorted(cpu_s.items())},
        }
    return result


if __name__ == "__main__":
    print(json.dumps(count(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]),
                           int(sys.argv[4]) if len(sys.argv) > 4 else 0)), flush=True)
