"""The README's first command: the embedded demo, end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_shows_correct_live_predictions() -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "demo", "--count", "16"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("seq")]
    assert len(lines) == 16
    m = re.search(r"(\d+)/16 predictions match the shape drawn", r.stdout)
    assert m and int(m.group(1)) >= 15, r.stdout
    assert "daemon stopped (exit code 0)" in r.stdout
