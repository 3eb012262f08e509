"""The subscriber side of the benchmark, run as its own process:
``python -m edged.bench.counter ENDPOINT SECONDS WARMUP`` prints one JSON line."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import zmq


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def count(endpoint: str, seconds: float, warmup: float) -> dict[str, object]:
    sock: zmq.Socket = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.setsockopt(zmq.SUBSCRIBE, b"edged.")
    sock.connect(endpoint)
    print("ready", flush=True)
    first_ns = 0
    latencies: list[float] = []
    inference: list[float] = []
    seqs: list[int] = []
    status: dict[str, object] = {}
    t_end = 0.0
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
        latencies.append((arrived - msg["capture_ns"]) / 1e6)
        inference.append(msg["latency_ms"]["inference"])
        seqs.append(msg["seq"])
        if time.monotonic() >= t_end:
            break
    lat = np.array(latencies or [0.0])
    inf = np.array(inference or [0.0])
    span = (len(seqs) and (seqs[-1] - seqs[0] + 1)) or 0
    return {
        "first_message_ns": first_ns, "received": len(seqs), "seconds": seconds,
        "fps": len(seqs) / seconds, "gaps": span - len(seqs),
        "latency_ms": {p: float(np.percentile(lat, q)) for p, q in
                       (("p50", 50), ("p95", 95), ("p99", 99))},
        "inference_ms": {"p50": float(np.percentile(inf, 50)),
                         "p99": float(np.percentile(inf, 99))},
        "status": status,
    }


if __name__ == "__main__":
    print(json.dumps(count(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))), flush=True)
