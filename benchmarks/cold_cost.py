"""What one per-frame step costs back to back, and after a pause (as it runs in the daemon).

    .venv/bin/python benchmarks/cold_cost.py [--calls 300] [--repeat 3]

The daemon's threads each wake once per frame and do a little work: at 100 frames/s the
publish thread's decode runs once every 10 ms, never twice in a row. On a shared VM the same
small step is several times dearer after a pause than in a tight loop (the code and data it
touches have been evicted meanwhile), so ``micro.py`` figures (hot) are a lower bound of what
the daemon pays per frame, and ``edged bench``'s "CPU outside invoke" is what it really pays.
This prints the p50 wall and thread-CPU time of three steps with no pause, then after a
sleep of 0.2, 1, 5 and 20 ms before each call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from edged.commands.bench import load_average, machine
from edged.preprocess import Resizer
from edged.tasks.classify import top_k

PAUSES_MS = (0.0, 0.2, 1.0, 5.0, 20.0)


def steps() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 16, (1, 1001), dtype=np.uint8)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = np.empty((224, 224, 3), np.uint8)
    bilinear = Resizer((640, 480), (224, 224), interpolation="bilinear")
    message = {"schema": "edged.prediction/1", "seq": 1, "classes": [
        {"index": i, "label": f"label {i}", "score": 0.1 * i} for i in range(5)]}
    return {"top-5 of 1001 scores": lambda: top_k(scores, 5),
            "bilinear resize 640x480 -> 224x224": lambda: bilinear(frame, out),
            "json of a 5-class prediction": lambda: json.dumps(message)}


def p50_after_pause(fn: Callable[[], object], pause_s: float, calls: int) -> tuple[float, float]:
    """(wall us, thread CPU us) medians; ``pause_s`` slept before each call."""
    wall, cpu = [], []
    for _ in range(calls):
        if pause_s:
            time.sleep(pause_s)
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(wall) * 1e6, statistics.median(cpu) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load0 = load_average()
    print(f"{machine()['cpu']}, load average {load0} at the start; p50 per call, then "
          f"median (min-max) of {args.repeat} runs; thread CPU time in us")
    for name, fn in steps().items():
        fn()
        cells = []
        for pause in PAUSES_MS:
            runs = [p50_after_pause(fn, pause / 1e3, args.calls)[1] for _ in range(args.repeat)]
            cells.append(f"{pause:g} ms: {statistics.median(runs):.0f} "
                         f"({min(runs):.0f}-{max(runs):.0f})")
        print(f"  {name}: " + "; ".join(cells))
    print(f"load average {load_average()} at the end")


if __name__ == "__main__":
    main()
