"""Before/after figures for the hostile-file attacks (docs/security.md, Files and config).

    python scripts/hostile_files.py [--tree PATH] [--runs 3] [--verb run|check-config]

Runs ``edged VERB`` of the tree at PATH (default: this one; e.g. an unchanged checkout for the
"before" figures) on each hostile config and prints exit code, wall and CPU time and peak RSS
(from wait4), median (min-max) over the runs. A run is killed above --ceiling-mb or after
--deadline-s, and the figure says so. Uses the test suite's runner, tests/adversarial/
files_support.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests" / "adversarial"))
import files_support as fs  # noqa: E402


def cases(d: Path) -> dict[str, Path]:
    os.mkfifo(d / "fifo.tflite")
    os.mkfifo(d / "fifo.yaml")
    fs.sparse_file(d / "huge_labels.txt", 1 << 30)

    def cfg(name: str, text: str) -> Path:
        p = d / f"{name}.yaml"
        p.write_text(text + f"publish:\n  endpoint: ipc://{d}/p.sock\n")
        return p

    (d / "laughs.yaml").write_text(fs.billion_laughs())
    (d / "deep.yaml").write_text("source: " + "[" * 10_000 + "]" * 10_000 + "\n")
    return {
        "baseline (missing model)": cfg("base", "model:\n  path: /nonexistent.tflite\n"),
        "/dev/zero model": cfg("zm", "model:\n  path: /dev/zero\n"),
        "/dev/zero labels": cfg("zl", "model:\n  labels: /dev/zero\n"),
        "FIFO model": cfg("fm", f"model:\n  path: {d}/fifo.tflite\n"),
        "FIFO config": d / "fifo.yaml",
        "1 GB labels": cfg("hl", f"model:\n  labels: {d}/huge_labels.txt\n"),
        "billion laughs": d / "laughs.yaml",
        "10,000-level nesting": d / "deep.yaml",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", type=Path, default=HERE)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--verb", choices=["run", "check-config"], default="run")
    ap.add_argument("--ceiling-mb", type=float, default=1024)
    ap.add_argument("--deadline-s", type=float, default=20)
    args = ap.parse_args()
    fs.ROOT = args.tree.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, path in cases(d).items():
            outs = [fs.run_edged(fs.args_for(args.verb, path), d, args.deadline_s,
                                 args.ceiling_mb) for _ in range(args.runs)]
            wall, cpu, peak = ([getattr(o, k) for o in outs] for k in ("wall_s", "cpu_s",
                                                                         "peak_mb"))
            codes = sorted({str(o.code) for o in outs})
            killed = "; ".join(sorted({o.killed_for for o in outs if o.killed_for}))
            print(f"{name:26s} exit {','.join(codes)}{' killed: ' + killed if killed else ''}"
                  f" | wall {statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f}) s"
                  f" | CPU {statistics.median(cpu):.2f} s"
                  f" | peak {statistics.median(peak):.0f} ({min(peak):.0f}-{max(peak):.0f}) MB",
                  flush=True)


if __name__ == "__main__":
    main()
