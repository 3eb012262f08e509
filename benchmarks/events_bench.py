"""Cost of tracking + zones + lines per frame with N objects (issue 16: "tracker and zone
cost <= 0.3 ms per frame with 50 objects").

    .venv/bin/python benchmarks/events_bench.py [--objects 50] [--frames 2000] [--runs 5]

Detections come from a generated crowd (edged.events.scene) with jitter, 10% misses and
spurious boxes; two zones and two lines. Each run feeds the frames through a fresh engine and
reports the median time of ``EventEngine.process`` per frame; also the daemon hook's extra
work (detection dicts -> arrays, track ids back into the dicts, events to JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from edged.events.config import LineConfig, TrackConfig, ZoneConfig
from edged.events.engine import EventEngine
from edged.events.scene import Noise, crowd, simulate
from edged.events.stage import EventStage

ZONES = [ZoneConfig(name="left", polygon=[(0.05, 0.1), (0.45, 0.1), (0.45, 0.9), (0.05, 0.9)]),
         ZoneConfig(name="hexagon", polygon=[(0.6, 0.3), (0.8, 0.25), (0.95, 0.45),
                                             (0.9, 0.8), (0.7, 0.85), (0.55, 0.6)],
                    labels=["car"], loiter_s=5)]
LINES = [LineConfig(name="door", points=((0.5, 1.0), (0.5, 0.0))),
         LineConfig(name="road", points=((0.0, 0.5), (1.0, 0.55)))]
NAMES = ["person", "car"]


class _NullPublisher:
    joined: list[bytes] = []

    def send(self, frames: list[bytes]) -> bool:
        return True


def engine_run(frames: list, ns: list[int], zones: list[ZoneConfig] = ZONES,
               lines: list[LineConfig] = LINES) -> tuple[float, float, int]:
    """(median wall ms per frame, CPU ms per frame over the run, events)."""
    engine = EventEngine("bench", TrackConfig(), zones, lines, NAMES)
    times, events = [], 0
    cpu0 = time.process_time()
    for k, f in enumerate(frames):
        t0 = time.perf_counter()
        _, evs = engine.process(k, ns[k], f.boxes, f.scores, f.classes)
        times.append(time.perf_counter() - t0)
        events += len(evs)
    cpu = (time.process_time() - cpu0) / len(frames) * 1e3
    return statistics.median(times[20:]) * 1e3, cpu, events


class _Decoder:
    task = "detection"

    class labels:  # noqa: N801 - stands in for edged.labels.Labels
        names = NAMES


def hook_run(frames: list, ns: list[int]) -> float:
    """EventStage.observe as the daemon calls it, on the published detection dicts."""
    from edged.config import Config

    stage = EventStage("bench")
    stage.configure(Config(zones=ZONES, lines=LINES), _Decoder())
    dets = [[{"index": int(c), "label": NAMES[int(c)], "score": round(float(s), 5),
              "box": [round(float(v), 5) for v in b]}
             for b, s, c in zip(f.boxes, f.scores, f.classes, strict=True)] for f in frames]
    times = []
    for k, d in enumerate(dets):
        fields = {"detections": d}
        t0 = time.perf_counter()
        stage.observe(_NullPublisher(), k, ns[k], fields)
        times.append(time.perf_counter() - t0)
        json.dumps(fields)  # as the daemon will: not in the figure
    return statistics.median(times[20:]) * 1e3


def reference_us() -> float:
    a = np.zeros((50, 50))
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            np.maximum(a, a)
        runs.append((time.perf_counter() - t0) / 2000 * 1e6)
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fps", type=float, default=10.0)
    args = ap.parse_args()
    frames = simulate(crowd(args.objects), args.fps, args.frames / args.fps,
                      Noise(jitter=0.004, miss=0.1, spurious=1.0), seed=3)
    ns = [int(f.t * 1e9) for f in frames]
    mean_dets = float(np.mean([len(f.boxes) for f in frames]))
    engine_ms, cpu_ms, hook_ms, tracker_ms, zones_ms = [], [], [], [], []
    for _ in range(args.runs):  # the variants interleaved, so each sees the same load
        tracker_ms.append(engine_run(frames, ns, [], [])[0])
        zones_ms.append(engine_run(frames, ns, ZONES, [])[0])
        ms, cpu, events = engine_run(frames, ns)
        engine_ms.append(ms)
        cpu_ms.append(cpu)
        hook_ms.append(hook_run(frames, ns))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; a reference "
          f"numpy op (max of two 50x50 arrays): {reference_us():.1f} us")
    print(f"{args.objects} objects ({mean_dets:.1f} detections per frame), 2 zones, 2 lines, "
          f"{args.frames} frames, {events} events per run")
    for name, v in (("tracker alone, wall", tracker_ms),
                    ("tracker + 2 zones, wall", zones_ms),
                    ("engine (tracker + 2 zones + 2 lines), wall", engine_ms),
                    ("engine, CPU time (process_time / frames)", cpu_ms),
                    ("daemon hook (engine + dicts <-> arrays), wall", hook_ms)):
        print(f"  {name}: median {statistics.median(v):.3f} ms/frame over {args.runs} runs "
              f"(min {min(v):.3f}, max {max(v):.3f})")


if __name__ == "__main__":
    main()
