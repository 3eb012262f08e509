"""Run the daemon on its embedded default (synthetic shapes + the demo model) as a real
subprocess, and print what a subscriber receives, checked against the shape that was drawn."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from edged.client import Subscriber
from edged.commands.listen import format_message
from edged.sources.synthetic import shape_at


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=40, help="predictions to show (0 = until Ctrl-C)")
    p.add_argument("--config", type=Path, help="run this config instead of the embedded demo")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="edged-demo-") as tmp:
        endpoint = f"ipc://{tmp}/predictions.sock"
        # -P: not the current folder on sys.path, where a clone named 'edged' would shadow
        # the installed package (an ImportError when run from the clone's parent folder)
        cmd = [sys.executable, "-P", "-m", "edged", "run", "--endpoint", endpoint]
        if args.config:
            cmd += ["--config", str(args.config)]
        print(f"starting: {' '.join(cmd)}", flush=True)
        daemon = subprocess.Popen(cmd)
        shown = correct = 0
        try:
            with Subscriber(endpoint, ("edged.predictions", "edged.status")) as sub:
                while not args.count or shown < args.count:
                    r = sub.receive(timeout=1.0)
                    if daemon.poll() is not None:
                        print(f"daemon exited with code {daemon.returncode}", file=sys.stderr)
                        return daemon.returncode or 1
                    if r is None:
                        continue
                    line = format_message(r)
                    if r.topic == "edged.predictions":
                        shown += 1
                        if not args.config:  # the embedded demo: we know what was drawn
                            drawn = shape_at(r.raw["frame_seq"])
                            top = (r.raw.get("classes") or [{}])[0].get("label")
                            correct += top == drawn
                            line += f"   drawn: {drawn} {'ok' if top == drawn else 'WRONG'}"
                    print(line, flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            daemon.terminate()
            code = daemon.wait(timeout=10)
        if not args.config and shown:
            print(f"{correct}/{shown} predictions match the shape drawn")
        print(f"daemon stopped (exit code {code})")
        return 0 if code == 0 else code
