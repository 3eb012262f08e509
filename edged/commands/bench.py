"""``edged bench``: bare interpreter vs. the full daemon path, same model, threads, machine.

With ``--repeat N`` the two paths are interleaved N times (bare, daemon, bare, daemon ...) so
slow drifts of a shared host hit both alike; every figure is reported as median and min-max.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from edged.area import implementation as area_implementation
from edged.config import DEMO_MODEL
from edged.cpugate import takes_every_core
from edged.preprocess import INTERPOLATIONS


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
    p.add_argument("--repeat", type=int, default=1,
                   help="interleave bare and daemon N times; report median and min-max")
    p.add_argument("--interpolation", default="area", choices=list(INTERPOLATIONS),
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
    import cv2
    import numpy

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "opencv": cv2.__version__,
            "machine": platform.machine(), "host": platform.node()}


def load_average() -> list[float] | None:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def one_run(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    from edged.bench.bare import bare_loop
    from edged.bench.daemon_path import daemon_path

    bare = bare_loop(model, args.threads, args.runtime, args.seconds)
    path = daemon_path(model, args.threads, args.runtime, args.seconds,
                       interpolation=args.interpolation, fps=args.fps)
    return {"bare": bare, "daemon": path,
            "ratio": path["fps"] / bare["fps"] if bare["fps"] else None,
            "latency_overhead_ms": path["overhead_ms"]}


def figures(run: dict[str, Any]) -> dict[str, float | None]:
    """The flat figures of one run that the summary aggregates."""
    d, cpu = run["daemon"], run["daemon"].get("cpu_us_per_frame") or {}
    return {
        "bare_fps": run["bare"]["fps"], "invoke_ms_p50": run["bare"]["invoke_ms_p50"],
        "daemon_fps": d["fps"], "ratio": run["ratio"],
        "inference_ms_p50": d["inference_ms"]["p50"],
        "e2e_ms_p50": d["latency_ms"]["p50"], "e2e_ms_p99": d["latency_ms"]["p99"],
        "overhead_ms_p50": d["overhead_ms"]["p50"], "overhead_ms_p99": d["overhead_ms"]["p99"],
        "cpu_outside_invoke_us": cpu.get("outside_invoke"), "cpu_total_us": cpu.get("total"),
        "rss_mb": d["rss_mb"]["end"], "rss_growth_mb": d["rss_mb"]["growth"],
        "rss_anon_mb": d["rss_mb"].get("end_anon"), "rss_file_mb": d["rss_mb"].get("end_file"),
        "startup_s": d["startup_s"], "gaps": d["gaps"],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float] | None]:
    flat = [figures(r) for r in runs]
    out: dict[str, dict[str, float] | None] = {}
    for key in flat[0]:
        values = [float(v) for f in flat if (v := f[key]) is not None]
        out[key] = {"median": statistics.median(values), "min": min(values),
                    "max": max(values), "n": len(values)} if values else None
    return out


def bench(models: list[Path], args: argparse.Namespace) -> list[dict[str, Any]]:
    runs: dict[Path, list[dict[str, Any]]] = {m: [] for m in models}
    for _ in range(max(1, args.repeat)):
        for m in models:
            runs[m].append(one_run(m, args))
    results = []
    for m in models:
        first = runs[m][0]["bare"]
        results.append({"model": m.name, "threads": args.threads, "runtime": first["runtime"],
                        "runtime_version": first["runtime_version"],
                        "interpolation": args.interpolation, "source_fps": args.fps,
                        "runs": runs[m], "summary": summarize(runs[m])})
    return results


def fmt(s: dict[str, float] | None, digits: int = 2) -> str:
    if s is None:
        return "?"
    if s["n"] == 1 or s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def table(results: list[dict[str, Any]]) -> str:
    rows = [("model", "invoke ms", "bare fps", "daemon fps", "ratio", "overhead p50 ms",
             "overhead p99 ms", "CPU outside invoke us/frame", "RSS MB", "gaps")]
    for r in results:
        s = r["summary"]
        rows.append((r["model"], fmt(s["invoke_ms_p50"]), fmt(s["bare_fps"], 1),
                     fmt(s["daemon_fps"], 1), fmt(s["ratio"], 3), fmt(s["overhead_ms_p50"]),
                     fmt(s["overhead_ms_p99"]), fmt(s["cpu_outside_invoke_us"], 0),
                     fmt(s["rss_mb"], 0), fmt(s["gaps"], 0)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)


def run(args: argparse.Namespace) -> int:
    models = [m.resolve() for m in (args.model or [_default_model()])]
    load_before = load_average()
    results = bench(models, args)
    report: dict[str, Any] = {
              "machine": machine(), "command": "edged bench " + " ".join(sys.argv[2:]),
              "settings": {"threads": args.threads, "seconds": args.seconds,
                           "repeat": args.repeat, "interpolation": args.interpolation,
                           "source_fps": args.fps, "runtime": args.runtime,
                           "stages_take_turns": takes_every_core("cpu", args.threads),
                           "area_resize": area_implementation()},
              "load_average": {"before": load_before, "after": load_average()},
              "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    turns = " (every core: the daemon's stages take turns with invoke, on one thread)" \
        if report["settings"]["stages_take_turns"] else ""
    print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, "
          f"{results[0]['runtime']} {results[0]['runtime_version']}, "
          f"threads={args.threads}{turns}, {args.interpolation} resize of 640x480 frames"
          f"{' (' + area_implementation() + ')' if args.interpolation == 'area' else ''}, "
          f"source fps {args.fps or 'unpaced'}, {args.seconds:.0f} s per path, "
          f"{args.repeat} interleaved run(s): median (min-max); "
          f"load average {load_before} -> {report['load_average']['after']}")
    print(table(results))
    return 0
