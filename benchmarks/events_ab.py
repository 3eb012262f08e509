"""Two versions of the events engine in one process, alternating frame by frame on the same
frames, so that both see the same load on a shared machine.

    git archive COMMIT edged | tar -x -C /tmp/events-old
    .venv/bin/python benchmarks/events_ab.py --old /tmp/events-old [--objects 50] [--runs 5]

``--old``: a directory holding another ``edged`` package (imported first, then dropped from
``sys.modules`` so this tree's is imported too). The scene is events_bench's. Prints the
median per-frame time of each run, then the median of the runs (min - max) per version.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _engines(old: str) -> tuple[ModuleType, ModuleType]:
    finders = list(sys.meta_path)
    sys.meta_path[:] = [f for f in finders if "editable" not in repr(f).lower()]
    sys.path.insert(0, old)
    import edged.events.engine as old_engine
    for name in [k for k in sys.modules if k == "edged" or k.startswith("edged.")]:
        del sys.modules[name]
    sys.path[0] = str(ROOT)
    import edged.events.engine as new_engine
    sys.meta_path[:] = finders
    assert Path(old_engine.__file__).is_relative_to(old), old_engine.__file__
    assert Path(new_engine.__file__).is_relative_to(ROOT), new_engine.__file__
    return old_engine, new_engine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    engines = dict(zip(("old", "new"), _engines(args.old), strict=True))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import events_bench as eb

    from edged.events.config import TrackConfig
    from edged.events.scene import Noise, crowd, simulate

    frames = simulate(crowd(args.objects), 10.0, args.frames / 10.0,
                      Noise(jitter=0.004, miss=0.1, spurious=1.0), seed=3)
    ns = [int(f.t * 1e9) for f in frames]
    result: dict[str, list[float]] = {"old": [], "new": []}
    for run in range(args.runs):
        live = {k: m.EventEngine("ab", TrackConfig(), eb.ZONES, eb.LINES, eb.NAMES)
                for k, m in engines.items()}
        times: dict[str, list[float]] = {"old": [], "new": []}
        order = ("old", "new") if run % 2 == 0 else ("new", "old")
        for k, f in enumerate(frames):
            for name in order:
                t0 = time.perf_counter()
                live[name].process(k, ns[k], f.boxes, f.scores, f.classes)
                times[name].append(time.perf_counter() - t0)
        for name, v in times.items():
            result[name].append(statistics.median(v[20:]) * 1e3)
        print(f"run {run + 1}: old {result['old'][-1]:.3f}, new {result['new'][-1]:.3f} ms/frame")
    for name, v in result.items():
        print(f"{name}: median {statistics.median(v):.3f} ms/frame over {args.runs} runs "
              f"(min {min(v):.3f}, max {max(v):.3f})")
    print(f"new / old: {statistics.median(result['new']) / statistics.median(result['old']):.3f}")


if __name__ == "__main__":
    main()
