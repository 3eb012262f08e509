"""deploy/install.sh beyond Raspberry Pi OS: python3-picamera2 skipped with one warning where
no apt source has it, and udev/systemd reloads remembered across a run that failed after
installing files. (The arm64 stage, scripts/arm64/stage.sh, runs the same script for real in
Debian arm64 chroots, where systemd is not running.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy/install.sh"


def install(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_VERSION": "252"}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=120, env=env)


def apt_offers_picamera2() -> bool:
    r = subprocess.run(["apt-cache", "policy", "python3-picamera2"], capture_output=True,
                       text=True)
    return "Candidate:" in r.stdout and "Candidate: (none)" not in r.stdout


def test_picamera2_absent_from_apt_is_skipped_with_one_warning() -> None:
    if shutil.which("apt-cache") is None or apt_offers_picamera2():
        pytest.skip("needs a Debian system whose apt sources lack python3-picamera2")
    r = install("--dry-run")
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stdout.splitlines() if "WARNING" in ln]
    assert len(warnings) == 1, warnings
    assert "python3-picamera2" in warnings[0] and "skipped" in warnings[0]
    installs = [ln for ln in r.stdout.splitlines() if ln.startswith("+ apt-get install")]
    assert all("python3-picamera2" not in ln for ln in installs), installs


def test_a_failed_run_leaves_the_reloads_pending_for_the_next_run(tmp_path: Path) -> None:
    root, models = tmp_path / "root", tmp_path / "models"
    # the last "model" is a folder: install(1) refuses it, so the run fails after the unit
    # and the udev rule went in
    obstacle = models / "broken.tflite"
    obstacle.mkdir(parents=True)
    failed = install("--root", str(root), "--skip-venv", "--models", str(models))
    assert failed.returncode != 0
    assert (root / "etc/systemd/system/edged.service").is_file()
    pending = root / "var/lib/edged/.reload-pending"
    assert pending.exists()
    assert "reload" not in "".join(ln for ln in failed.stdout.splitlines()
                                   if ln.startswith("skip (--root): "))
    obstacle.rmdir()
    # nothing left to change but the config the failed run never reached, yet the reloads the
    # failed run owed are made now
    again = install("--root", str(root), "--skip-venv")
    assert again.returncode == 0, again.stderr
    out = again.stdout.splitlines()
    assert [ln for ln in out if ln.startswith("+ ")
            and not ln.endswith("/etc/edged/config.yaml")] == []
    assert "skip (--root): udevadm control --reload-rules" in out
    assert "skip (--root): systemctl daemon-reload" in out
    assert not pending.exists()
    # once made, they are not made again
    third = install("--root", str(root), "--skip-venv")
    assert "daemon-reload" not in third.stdout


def test_a_completed_run_owes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install("--root", str(root), "--skip-venv")
    assert first.returncode == 0, first.stderr
    assert "skip (--root): systemctl daemon-reload" in first.stdout
    assert not (root / "var/lib/edged/.reload-pending").exists()
    second = install("--root", str(root), "--skip-venv")
    assert "pending" not in second.stdout and "daemon-reload" not in second.stdout
