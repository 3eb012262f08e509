"""deploy/install.sh: shellcheck-clean, a dry run that prints every action, a real run into a
scratch root that is idempotent and never overwrites an edited config, and --uninstall."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "deploy/install.sh"


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=120)


def test_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck missing (apt install shellcheck); .ci/run installs it")
        pytest.skip("shellcheck not installed")
    r = subprocess.run(["shellcheck", str(INSTALL), str(ROOT / "deploy/check-unit.sh")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_dry_run_prints_every_action_and_changes_nothing(tmp_path: Path) -> None:
    r = install("--dry-run", "--root", str(tmp_path / "root"))
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "root").exists()
    out = r.stdout
    for expected in ("python3 -m venv --system-site-packages", "etc/systemd/system/edged.service",
                     "99-edgetpu.rules", "etc/edged/config.yaml", "var/lib/edged/models",
                     "systemctl enable edged.service", "useradd"):
        assert expected in out, expected


def test_scratch_root_install_is_idempotent_and_keeps_an_edited_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install("--root", str(root), "--skip-venv")
    assert first.returncode == 0, first.stderr
    for path in ("etc/systemd/system/edged.service", "etc/udev/rules.d/99-edgetpu.rules",
                 "etc/edged/config.yaml", "var/lib/edged/models/shapes_int8.tflite"):
        assert (root / path).is_file(), path
    assert (root / "etc/systemd/system/edged.service").read_text() == \
        (ROOT / "systemd/edged.service").read_text()
    config = root / "etc/edged/config.yaml"
    config.write_text(config.read_text() + "# edited by the user\n")
    second = install("--root", str(root), "--skip-venv")
    assert second.returncode == 0
    changes = [ln for ln in second.stdout.splitlines() if ln.startswith("+ ")]
    assert changes == [], changes  # nothing to do the second time
    assert "kept:" in second.stdout
    assert config.read_text().endswith("# edited by the user\n")


def test_uninstall_removes_the_service_but_keeps_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert install("--root", str(root), "--skip-venv").returncode == 0
    r = install("--root", str(root), "--uninstall")
    assert r.returncode == 0, r.stderr
    assert not (root / "etc/systemd/system/edged.service").exists()
    assert not (root / "etc/udev/rules.d/99-edgetpu.rules").exists()
    assert (root / "etc/edged/config.yaml").exists()
    assert install("--root", str(root), "--uninstall", "--purge").returncode == 0
    assert not (root / "etc/edged").exists()


def test_udev_rule_covers_both_coral_usb_ids() -> None:
    rules = (ROOT / "deploy/99-edgetpu.rules").read_text()
    assert 'ATTRS{idVendor}=="1a6e", ATTRS{idProduct}=="089a"' in rules
    assert 'ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302"' in rules
    assert rules.count('GROUP="plugdev"') == 2
