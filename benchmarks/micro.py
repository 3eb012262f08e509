"""Per-call costs of the per-frame steps, outside the daemon: resize and task decoders.

    .venv/bin/python benchmarks/micro.py --repeat 5 --json > micro.json

Each figure is the p50 over many calls within one run (wall clock and the thread's CPU
clock), then median and min-max over ``--repeat`` runs. Synthetic tensors stand in for model
outputs: a YOLOv8-shaped int8 [1, 84, 8400] with 20 objects over the threshold among
background scores, and a 513x513 int64 DeepLab-style class map with three classes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from edged.area import implementation as area_implementation
from edged.commands.bench import load_average, machine
from edged.preprocess import Resizer, Transform
from edged.runtime.model import TensorInfo
from edged.tasks.classify import ClassificationDecoder
from edged.tasks.detect import DetectionDecoder
from edged.tasks.segment import SegmentationDecoder


def p50(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    """(wall ms, thread CPU ms) medians over ``calls`` calls."""
    wall, cpu = [], []
    for _ in range(calls):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def cases() -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out: dict[str, Callable[[], Any]] = {}
    for interp in ("area", "bilinear", "nearest"):
        for size in (224, 128):
            r = Resizer((640, 480), (size, size), "stretch", interp)  # type: ignore[arg-type]
            buf = np.empty((size, size, 3), np.uint8)
            out[f"resize 640x480->{size}^2 {interp}"] = lambda r=r, b=buf: r(frame, b)
    for size in (224, 128):  # what `area` ran on before edged/_area.c, timed in the same run
        buf = np.empty((size, size, 3), np.uint8)
        out[f"resize 640x480->{size}^2 area, OpenCV INTER_AREA"] = (
            lambda s=size, b=buf: cv2.resize(frame, (s, s), dst=b, interpolation=cv2.INTER_AREA))
    info = TensorInfo(0, "out", (1, 84, 8400), np.dtype(np.int8), 0.0187, -128)
    raw = rng.integers(-128, -118, (1, 84, 8400)).astype(np.int8)
    raw[0, :4] = rng.integers(-100, 127, (4, 8400))
    for j in rng.choice(8400, 20, replace=False):
        raw[0, 4 + rng.integers(0, 80), j] = 100
    cfg = SimpleNamespace(threshold=0.25, class_thresholds={}, classes=None, max_detections=25,
                          iou_threshold=0.45)
    det = DetectionDecoder([info], None, cfg, (640, 640))
    out["decode YOLOv8 int8 84x8400"] = lambda: det.decode([raw], Transform())
    seg_info = TensorInfo(0, "seg", (1, 513, 513), np.dtype(np.int64), 0.0, 0)
    seg_map = np.zeros((1, 513, 513), np.int64)
    seg_map[0, 100:300, 50:400], seg_map[0, 350:500, 200:300] = 3, 15
    seg = SegmentationDecoder(seg_info, None, 21, 0.0, False)
    out["decode segmentation 513x513"] = lambda: seg.decode([seg_map], Transform())
    cls_info = TensorInfo(0, "c", (1, 1001), np.dtype(np.uint8), 1 / 256, 0)
    cls = ClassificationDecoder(cls_info, None, 5, 0.0)
    scores = rng.integers(0, 256, (1, 1001)).astype(np.uint8)
    out["decode classification 1001"] = lambda: cls.decode([scores], Transform())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load_before = load_average()
    runs: dict[str, list[tuple[float, float]]] = {}
    fns = cases()
    for _ in range(args.repeat):  # interleaved, like edged bench
        for name, fn in fns.items():
            fn()
            runs.setdefault(name, []).append(p50(fn, args.calls))
    figures = {name: {k: {"median": statistics.median(v[i] for v in vals),
                          "min": min(v[i] for v in vals), "max": max(v[i] for v in vals),
                          "n": len(vals)}
                      for i, k in enumerate(("wall_ms_p50", "cpu_ms_p50"))}
               for name, vals in runs.items()}
    report = {"machine": machine(), "python": platform.python_version(),
              "command": f"python benchmarks/micro.py --repeat {args.repeat} "
                         f"--calls {args.calls}",
              "load_average": {"before": load_before, "after": load_average()},
              "area": area_implementation(), "figures": figures}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, f in figures.items():
        w, c = f["wall_ms_p50"], f["cpu_ms_p50"]
        print(f"{name:52s} wall {w['median']:.3f} ms ({w['min']:.3f}-{w['max']:.3f})  "
              f"cpu {c['median']:.3f} ms")


if __name__ == "__main__":
    main()
