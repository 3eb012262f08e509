"""systemd/edged-mqtt.service: verify prints nothing, exposure <= 1.5, and the contract the
bridge relies on (78 stops restarts, the edged group reaches the daemon's socket)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd/edged-mqtt.service"


def test_bridge_unit_verifies_and_is_hardened() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing under CI (apt install systemd)")
        pytest.skip("systemd-analyze not installed (apt install systemd)")
    r = subprocess.run(["bash", str(ROOT / "deploy/check-unit.sh"), str(UNIT)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "MAX_EXPOSURE": "1.5"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verify: clean" in r.stdout and "security: OK" in r.stdout


def test_bridge_unit_contract() -> None:
    text = UNIT.read_text()
    for line in ("ExecStart=/opt/edged/bin/edged mqtt --config /etc/edged/config.yaml",
                 "RestartPreventExitStatus=78", "Restart=on-failure", "Group=edged",
                 "MemoryMax=", "After=network-online.target edged.service"):
        assert line in text, line


def test_web_unit_verifies_and_is_hardened() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing under CI (apt install systemd)")
        pytest.skip("systemd-analyze not installed (apt install systemd)")
    unit = ROOT / "systemd/edged-web.service"
    r = subprocess.run(["bash", str(ROOT / "deploy/check-unit.sh"), str(unit)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "MAX_EXPOSURE": "1.5"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ExecStart=/opt/edged/bin/edged web --config /etc/edged/config.yaml" in unit.read_text()
