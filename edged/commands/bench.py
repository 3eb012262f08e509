"""``edged bench``: bare interpreter vs. the full daemon path, same model, threads, machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from edged.config import DEMO_MODEL


def _default_model() -> Path:
    env = os.environ.get("EDGED_TESTDATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "testdata"
    tiny = root / "models" / "mobilenet_v1_0.25_128_quant.tflite"
    return tiny if tiny.exists() else DEMO_MODEL


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, action="append",
                   help="repeatable (default: tiny MobileNet from ../shared/testdata, "
                        "else the demo model)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runtime", default="auto", choices=["auto", "litert", "tflite-runtime"])
    p.add_argument("--seconds", type=float, default=10.0, help="measured time per path")
    p.add_argument("--interpolation", default="bilinear", choices=["bilinear", "nearest"],
                   help="resize of the 640x480 frames in the daemon path")
    p.add_argument("--fps", type=float, default=0.0,
                   help="pace the source like a camera (0 = as fast as the daemon takes frames)")
    p.add_argument("--json", action="store_true")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "machine": platform.machine()}


def bench_model(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    from edged.bench.bare import bare_loop
    from edged.bench.daemon_path import daemon_path

    bare = bare_loop(model, args.threads, args.runtime, args.seconds)
    path = daemon_path(model, args.threads, args.runtime, args.seconds,
                       interpolation=args.interpolation, fps=args.fps)
    overhead = {p: path["latency_ms"][p] - path["inference_ms"]["p50"] for p in ("p50", "p99")}
    return {"model": model.name, "threads": args.threads, "runtime": bare["runtime"],
            "interpolation": args.interpolation, "source_fps": args.fps,
            "runtime_version": bare["runtime_version"], "bare": bare, "daemon": path,
            "ratio": path["fps"] / bare["fps"] if bare["fps"] else None,
            "latency_overhead_ms": overhead}


def table(results: list[dict[str, Any]]) -> str:
    rows = [("model", "bare fps", "daemon fps", "ratio", "e2e p50/p95/p99 ms",
             "overhead p50/p99", "RSS MB (growth)", "startup s", "drops", "gaps")]
    for r in results:
        d, lat = r["daemon"], r["daemon"]["latency_ms"]
        rss = d["rss_mb"]
        rows.append((
            r["model"], f"{r['bare']['fps']:.1f}", f"{d['fps']:.1f}", f"{r['ratio']:.3f}",
            f"{lat['p50']:.2f}/{lat['p95']:.2f}/{lat['p99']:.2f}",
            f"{r['latency_overhead_ms']['p50']:.2f}/{r['latency_overhead_ms']['p99']:.2f}",
            f"{rss['end']:.0f} ({rss['growth']:+.1f})" if rss["end"] else "?",
            f"{d['startup_s']:.2f}" if d["startup_s"] else "?",
            ",".join(f"{k}={v}" for k, v in d["dropped"].items() if v) or "0",
            str(d["gaps"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)


def run(args: argparse.Namespace) -> int:
    models = [m.resolve() for m in (args.model or [_default_model()])]
    results = [bench_model(m, args) for m in models]
    report = {"machine": machine(), "seconds": args.seconds, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        m = report["machine"]
        print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, "
              f"{results[0]['runtime']} {results[0]['runtime_version']}, "
              f"threads={args.threads}, {args.interpolation} resize of 640x480 frames, "
              f"source fps {args.fps or 'unpaced'}, {args.seconds:.0f} s per path")
        print(table(results))
    return 0
