"""What `edged web` costs: CPU of the companion process (% of one core) while a headless
Chromium watches the live page, from /proc/PID/stat over a measured window, repeated.

    python benchmarks/web_cost.py [--model PATH] [--fps 15] [--seconds 10] [--repeat 3]

Starts a real daemon (synthetic 640x480 source at --fps, publish.frames on), `edged web`, and
Chromium (Debian's chromium + chromedriver). Prints each run and the median, min-max."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import DaemonProcess  # noqa: E402
from webhelp import WebProcess, chromium, wait_for  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT.parent / "shared/testdata/models/"
                                               "mobilenet_v2_1.0_224_quant.tflite"))
    ap.add_argument("--fps", type=float, default=15)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "d").mkdir()
    daemon = DaemonProcess(tmp / "d", {
        "source": {"type": "synthetic", "fps": args.fps, "size": [640, 480]},
        "model": {"path": args.model}, "publish": {"frames": True, "status_interval": 1.0}})
    web = WebProcess(tmp, {"publish": {"endpoint": daemon.endpoint, "frames": True}})
    browser = chromium()
    try:
        browser.get(web.base + "/")
        shown = lambda: int(browser.find_element("id", "frame-count").text or 0)  # noqa: E731
        wait_for(lambda: shown() > 20, 120, "the page to show frames")
        runs = []
        for _ in range(args.repeat):
            c0, f0, t0 = cpu_seconds(web.proc.pid), shown(), time.monotonic()
            time.sleep(args.seconds)  # the measured window
            c1, f1, t1 = cpu_seconds(web.proc.pid), shown(), time.monotonic()
            runs.append(100 * (c1 - c0) / (t1 - t0))
            print(f"edged web: {runs[-1]:.1f}% of one core, page at {(f1 - f0) / (t1 - t0):.1f}"
                  f" fps", flush=True)
        print(f"median {statistics.median(runs):.1f}% (min {min(runs):.1f}, max {max(runs):.1f})"
              f" over {args.repeat} x {args.seconds:g} s; model {Path(args.model).name}, "
              f"source 640x480 at {args.fps:g} fps; load {os.getloadavg()[0]:.1f}")
    finally:
        browser.quit()
        web.stop()
        daemon.stop()


if __name__ == "__main__":
    main()
