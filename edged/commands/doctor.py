"""``edged doctor``: check this device; each problem comes with its fix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edged.doctor import as_json, run_checks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path("/etc/edged/config.yaml"))
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.config)
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        for c in checks:
            print(f"[{c.status.upper():>4}] {c.name}: {c.detail}")
            if c.fix:
                print(f"       fix: {c.fix}")
    return 1 if any(c.status == "fail" for c in checks) else 0
