"""The floor under issue 15's misses: the daemon's per-frame work in one thread, no hand-offs.

    .venv/bin/python benchmarks/floor.py [--fps 30] [--threads 1] [--repeat 5] [--seconds 5]
        [--model PATH] [--json]

Three paths, interleaved ``--repeat`` times, each measured by the subscriber `edged bench`
uses (``edged.bench.counter``, another process: per-frame overhead = arrival - capture_ns -
that frame's inference; CPU per frame outside invoke from /proc):

- ``daemon``: the real daemon (``edged run``), as in `edged bench`;
- ``one-thread``: the same parts (edged's runner, area resize, decoder, message builder, a
  ZeroMQ PUB over ipc) run by one thread, frame after frame: wake, read, resize, set input,
  invoke, copy outputs, decode, build, send. No hand-offs, no socket housekeeping, no status,
  no events, no supervisor: what no arrangement of the daemon's threads can beat;
- ``send-only``: one thread that wakes at the same pace and sends the same size of message,
  with no model at all: the cost of waking and of ZeroMQ (its I/O threads, the socket, the
  subscriber waking) alone.

Prints median (min-max) of each figure per path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zmq

from edged.bench.bare import bare_loop
from edged.bench.daemon_path import daemon_path
from edged.commands.bench import machine
from edged.config import parse_config
from edged.messages import PredictionBuilder
from edged.preprocess import ResizerCache
from edged.supervisor import build_model_parts
from edged.threadname import set_os_thread_name

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "models"
DEFAULT_MODEL = MODELS / "mobilenet_v2_1.0_224_quant.tflite"
# one-thread: the thread's CPU per step, µs (wake = the sleep until the frame is due)
STEPS = ("wake", "resize", "set_input", "invoke", "copy_outputs+decode", "build+send")
WARMUP_FRAMES = 30


def start_counter(endpoint: str, seconds: float, warmup: float) -> subprocess.Popen[str]:
    counter = subprocess.Popen(
        [sys.executable, "-m", "edged.bench.counter", endpoint, str(seconds), str(warmup)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert counter.stdout is not None and counter.stdin is not None
    counter.stdout.readline()  # "ready": subscribed
    counter.stdin.write(f"{os.getpid()}\n")  # this process's threads are measured
    counter.stdin.flush()
    return counter


def one_thread(model: Path, threads: int, fps: float, seconds: float,
               with_model: bool) -> dict[str, Any]:
    """Run the loop in a thread named like the daemon's inference thread (so the counter
    subtracts invoke from it); the interpreter's worker pool, started from the main thread,
    counts as the runtime's, as in the daemon."""
    cfg = parse_config(yaml.safe_dump({
        "source": {"type": "synthetic", "pattern": "noise"},
        "model": {"path": str(model), "threads": threads, "top_k": 5,
                  "interpolation": "area"}}), check_files=False)
    runner, decoder, _ = build_model_parts(cfg)
    runner.warm_up()
    w, h = runner.input_size
    resizer = ResizerCache((w, h), "stretch", "area").get((640, 480))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
    slot = np.zeros((h, w, 3), np.uint8)
    outputs = runner.new_output_buffers()
    builder = PredictionBuilder("floor", decoder.task, "synthetic:noise:640x480",
                                runner.describe())
    sample = decoder.decode(outputs, resizer.transform)  # the same size of message
    with tempfile.TemporaryDirectory(prefix="edged-floor-") as tmp:
        endpoint = f"ipc://{tmp}/p.sock"
        ctx = zmq.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 1000)
        pub.bind(endpoint)
        counter = start_counter(endpoint, seconds, 2.0)
        stop = threading.Event()
        steps: dict[str, list[float]] = {name: [] for name in STEPS}

        def loop() -> None:
            set_os_thread_name("edged-inference")
            period = 1.0 / fps if fps else 0.0
            next_t = time.monotonic()
            seq = 0
            while not stop.is_set():
                c = [time.thread_time_ns()]  # this thread's CPU clock after each step
                if period:
                    next_t += period
                    time.sleep(max(0.0, next_t - time.monotonic()))
                c.append(time.thread_time_ns())
                capture_ns = time.monotonic_ns()
                t0 = time.perf_counter()
                inf_ms = pre_ms = 0.0
                fields = dict(sample)
                if with_model:
                    resizer(frames[seq % 4], slot)
                    c.append(time.thread_time_ns())
                    runner.set_input(slot)
                    c.append(time.thread_time_ns())
                    t1 = time.perf_counter()
                    runner.invoke()
                    t2 = time.perf_counter()
                    c.append(time.thread_time_ns())
                    runner.copy_outputs(outputs)
                    fields = decoder.decode(outputs, resizer.transform)
                    c.append(time.thread_time_ns())
                    pre_ms, inf_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3
                publish_ns = time.monotonic_ns()
                post_ms = (time.perf_counter() - t0) * 1e3 - pre_ms - inf_ms
                payload = builder.build(seq, seq, capture_ns, publish_ns, (640, 480),
                                        (pre_ms, inf_ms, post_ms,
                                         (publish_ns - capture_ns) / 1e6), fields)
                pub.send_multipart([b"edged.predictions", payload])
                c.append(time.thread_time_ns())
                names = STEPS if with_model else (STEPS[0], STEPS[-1])
                if seq >= WARMUP_FRAMES:
                    for name, a, b in zip(names, c[:-1], c[1:], strict=True):
                        steps[name].append((b - a) / 1e3)
                seq += 1

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        try:
            out, _ = counter.communicate(timeout=seconds + 120)
        finally:
            stop.set()
            worker.join(5)
            pub.close(0)
            ctx.term()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["steps_cpu_us_p50"] = {k: statistics.median(v) for k, v in steps.items() if v}
    return result


def figures(result: dict[str, Any]) -> dict[str, float]:
    if "overhead_ms" not in result:  # the bare interpreter (edged.bench.bare)
        return {"fps": result["fps"], "invoke_ms_p50": result["invoke_ms_p50"]}
    cpu = result.get("cpu_us_per_frame") or {}
    out = {"fps": result["fps"], "overhead_p50": result["overhead_ms"]["p50"],
           "overhead_p99": result["overhead_ms"]["p99"],
           "cpu_outside_invoke_us": cpu.get("outside_invoke", float("nan")),
           "invoke_ms_p50": result["inference_ms"]["p50"]}
    out.update({f"step {k}": v for k, v in result.get("steps_cpu_us_p50", {}).items()})
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_all(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Every path once per round; with an unpaced source, the bare interpreter too, and each
    path's fps as a ratio to the bare run of its round."""
    paths = {
        "daemon": lambda: daemon_path(args.model, args.threads, "auto", args.seconds,
                                      fps=args.fps),
        "one-thread": lambda: one_thread(args.model, args.threads, args.fps, args.seconds,
                                         True),
        "send-only": lambda: one_thread(args.model, args.threads, args.fps, args.seconds,
                                        False),
    }
    if not args.fps:  # sending alone, unpaced, measures nothing; the bare interpreter does
        del paths["send-only"]
        paths = {"bare": lambda: bare_loop(args.model, args.threads, "auto", args.seconds),
                 **paths}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in paths}
    for _ in range(args.repeat):
        for name, run in paths.items():
            runs[name].append(figures(run()))
        if "bare" in runs:
            for name in ("daemon", "one-thread"):
                runs[name][-1]["ratio_to_bare"] = runs[name][-1]["fps"] / runs["bare"][-1]["fps"]
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fps", type=float, default=30.0, help="0: as fast as it goes")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()
    runs = run_all(args)
    summary = {name: {f: spread([r[f] for r in rs]) for f in rs[0]}
               for name, rs in runs.items()}
    if args.json:
        print(json.dumps({"command": "python benchmarks/floor.py " + " ".join(sys.argv[1:]),
                          "args": {k: str(v) for k, v in vars(args).items()},
                          "machine": machine(),
                          "load_average": [load_before, os.getloadavg()],
                          "runs": runs, "summary": summary}))
        return
    print(f"{args.model.name}, threads={args.threads}, {args.fps:g} fps, area, 640x480; "
          f"median (min-max) of {args.repeat}; load average {load_before} -> "
          f"{os.getloadavg()}")
    for name, s in summary.items():
        print(f"{name}: " + "; ".join(f"{f} {v['median']:.3f} ({v['min']:.3f}-{v['max']:.3f})"
                                      for f, v in s.items()))


if __name__ == "__main__":
    main()
