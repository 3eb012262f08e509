"""Where a frame's latency goes outside invoke, at a camera's pace (issue 15's overhead).

    .venv/bin/python benchmarks/latency_parts.py [--fps 30] [--seconds 6] [--runs 5]
        [--interpolation area] [--model PATH]

Runs the real daemon (`edged run`, synthetic 640x480 noise, threads=1) and a subscriber in
this process. Per frame, from the message's own fields and the arrival time:
e2e = arrival - capture_ns; the daemon's preprocess / inference / postprocess; the
hand-offs between its threads (publish_ns - capture_ns - those three); and publish ->
arrival (ZeroMQ: the daemon's I/O thread, the socket, the subscriber's I/O thread, the
subscriber). Prints the p50 of each per run, then median (min-max) over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
import zmq

PARTS = ("e2e", "overhead", "preprocess", "postprocess", "handoffs", "publish_to_arrival")
DEFAULT_MODEL = (Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "models"
                 / "mobilenet_v2_1.0_224_quant.tflite")


def one_run(model: Path, fps: float, seconds: float, interpolation: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = f"ipc://{tmp}/p.sock"
        config = {"source": {"type": "synthetic", "pattern": "noise", "fps": fps},
                  "model": {"path": str(model), "threads": 1, "interpolation": interpolation},
                  "publish": {"endpoint": endpoint}}
        (Path(tmp) / "c.yaml").write_text(yaml.safe_dump(config))
        with open(Path(tmp) / "log", "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "edged", "run", "--config",
                                     f"{tmp}/c.yaml"], stdout=log, stderr=subprocess.STDOUT)
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"edged.predictions")
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(endpoint)
        rows: list[tuple[float, ...]] = []
        start = end = 0.0
        try:
            while sub.poll(60_000):
                frames = sub.recv_multipart()
                arrival = time.monotonic_ns()
                now = time.monotonic()
                if not start:  # the first message: warm up for 2 s from here
                    start, end = now + 2, now + 2 + seconds
                if now < start:
                    continue
                if now > end:
                    break
                rows.append(parts(json.loads(frames[1]), arrival))
        finally:
            sub.close()
            proc.terminate()
            proc.wait(30)
        if not rows:
            raise SystemExit(f"no predictions; the daemon's log: {tmp}/log")
        return {name: statistics.median(r[i] for r in rows) for i, name in enumerate(PARTS)}


def parts(msg: dict, arrival_ns: int) -> tuple[float, ...]:
    lat = msg["latency_ms"]
    e2e = (arrival_ns - msg["capture_ns"]) / 1e6
    to_publish = (msg["publish_ns"] - msg["capture_ns"]) / 1e6
    handoffs = to_publish - lat["preprocess"] - lat["inference"] - lat["postprocess"]
    return (e2e, e2e - lat["inference"], lat["preprocess"], lat["postprocess"], handoffs,
            (arrival_ns - msg["publish_ns"]) / 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interpolation", default="area")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = [one_run(args.model, args.fps, args.seconds, args.interpolation)
            for _ in range(args.runs)]
    summary = {k: {"median": statistics.median(r[k] for r in runs),
                   "min": min(r[k] for r in runs), "max": max(r[k] for r in runs)}
               for k in PARTS}
    if args.json:
        print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                          "load_average": os.getloadavg(), "runs": runs, "summary": summary}))
        return
    print(f"{args.model.name}, {args.fps:g} fps, {args.interpolation}; ms, p50 per run, then "
          f"median (min-max) of {args.runs}; load average {os.getloadavg()}")
    for k in PARTS:
        s = summary[k]
        print(f"{k:20s} {s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f})")


if __name__ == "__main__":
    main()
