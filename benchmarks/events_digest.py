"""Golden digest of the events engine's outputs (issue 16: speed work must not change them).

    .venv/bin/python benchmarks/events_digest.py [--check]

For four scenes (events_bench's crowd of 50 over 2000 frames, a crowd of 5, the noisy busy
scene of tests/test_events_quality.py with seed 1, and that scene again with other anchors,
margins, label and score filters, ``min_hits: 1``, a new-track score below the high score
and a reload half-way) it hashes every event dict (json.dumps, sort_keys) and, per frame,
each detection's track id (-1: none, 0: tentative) with the active, appeared and gone ids
and the lost count. ``--check`` compares with GOLDEN, taken at 6af2e38 (before the round-2
work), and exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from edged.events.config import LineConfig, TrackConfig, ZoneConfig
from edged.events.engine import EventEngine
from edged.events.scene import Frame, Noise, crowd, simulate, traffic

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = {
    "bench50": "56a314dcee015cfa45ec9ea1c305d884dde4d5303846efb75b1c042634d54eb0",
    "crowd5": "5dffe89aa6d9fc304c946809731664daa807c812326a1674f3e1213a9f12b9c7",
    "quality1": "5e371293fd012bb47b01c5e91d357de291570b380bd3376ff3c5927cd30a6190",
    "variants": "4b284be6e8c31810260e8c941b1930f661ed234e3acb7b54edbe14ec3c170702",
}


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VARIANT_TRACK = TrackConfig(min_hits=1, high_score=0.5, new_track_score=0.4, max_age_s=0.7)
VARIANT_ZONES = [
    ZoneConfig(name="porch", polygon=[(0.05, 0.05), (0.4, 0.05), (0.4, 0.45), (0.05, 0.45)],
               anchor="center", margin=0.03, min_score=0.7, loiter_s=2),
    ZoneConfig(name="driveway", polygon=[(0.6, 0.55), (0.95, 0.55), (0.95, 0.95), (0.6, 0.95)],
               labels=["car", "7"], loiter_s=4, margin=0.0),
    ZoneConfig(name="tri", polygon=[(0.2, 0.5), (0.7, 0.6), (0.4, 0.95)], anchor="top-center")]
VARIANT_LINES = [LineConfig(name="door", points=((0.5, 1.0), (0.5, 0.0)), margin=0.02),
                 LineConfig(name="mid", points=((0.0, 0.5), (1.0, 0.6)), anchor="center",
                            labels=["person"])]


def digest(frames: list[Frame], zones: list[ZoneConfig], lines: list[LineConfig],
           names: list[str], track: TrackConfig | None = None,
           reload: tuple[list[ZoneConfig], list[LineConfig]] | None = None) -> tuple[str, int]:
    engine = EventEngine("digest", track or TrackConfig(), zones, lines, names)
    h, count = hashlib.sha256(), 0
    for k, f in enumerate(frames):
        if reload and k == len(frames) // 2:
            engine.reconfigure(track or TrackConfig(), *reload, names)
        ft, events = engine.process(k, int(f.t * 1e9), f.boxes, f.scores, f.classes)
        ids = engine.tracker.cols.ids
        per_det = [int(ids[r]) if r >= 0 else -1 for r in ft.det_rows.tolist()]
        h.update(json.dumps([per_det, ids[ft.active].tolist(), ids[ft.appeared].tolist(),
                             ids[ft.gone].tolist(), ft.lost]).encode())
        for e in events:
            h.update(json.dumps(e, sort_keys=True).encode())
        count += len(events)
    h.update(json.dumps(engine.counts(), sort_keys=True).encode())
    return h.hexdigest(), count


def scenes() -> dict[str, tuple[Any, ...]]:
    bench = _load("events_bench", ROOT / "benchmarks" / "events_bench.py")
    quality = _load("events_quality", ROOT / "tests" / "test_events_quality.py")
    b_noise = Noise(jitter=0.004, miss=0.1, spurious=1.0)
    b = (bench.ZONES, bench.LINES, bench.NAMES)  # type: ignore[attr-defined]
    q = (quality.ZONES, quality.LINES, quality.NAMES)  # type: ignore[attr-defined]
    movers = quality.storyboard() + traffic(60, 60.0, seed=1)  # type: ignore[attr-defined]
    return {
        "bench50": (simulate(crowd(50), 10.0, 200.0, b_noise, seed=3), *b),
        "crowd5": (simulate(crowd(5), 10.0, 200.0, b_noise, seed=3), *b),
        "quality1": (simulate(movers, 10.0, 62.0, quality.NOISE, seed=1), *q),  # type: ignore
        "variants": (simulate(movers, 10.0, 62.0, quality.NOISE, seed=2), VARIANT_ZONES,
                     VARIANT_LINES, q[2], VARIANT_TRACK,
                     (VARIANT_ZONES[:1] + VARIANT_ZONES[2:], VARIANT_LINES[::-1])),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    bad = 0
    for name, scene in scenes().items():
        d, events = digest(*scene)
        same = d == GOLDEN[name]
        bad += not same
        print(f"{name}: {d} ({events} events){'' if same else '  DIFFERS from GOLDEN'}")
    if args.check and bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
