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


def install(*args: str, systemd: int = 252) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_VERSION": str(systemd)}
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=120, env=env)


def actions(out: str) -> list[str]:
    return [ln[2:] for ln in out.splitlines() if ln.startswith("+ ")]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


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
    assert not (root / "var/lib/edged").exists()
    again = install("--root", str(root), "--uninstall")
    assert again.returncode == 0 and actions(again.stdout) == []  # nothing left to remove


def test_dry_run_on_the_real_system_prints_the_system_changes(tmp_path: Path) -> None:
    """Without --root every system change is an action line (apt, venv, chown, systemctl);
    --dry-run needs no root and changes nothing."""
    r = install("--dry-run", "--start", "--models", str(tmp_path))
    assert r.returncode == 0, r.stderr
    acts = actions(r.stdout)
    assert any(a.startswith("/usr/bin/python3 -m venv --system-site-packages /opt/edged")
               for a in acts)
    assert any("pip install --quiet --no-deps --only-binary=:all: --requirement" in a
               for a in acts)
    assert any(a.startswith("/opt/edged/bin/pip install") and a.endswith(str(ROOT))
               for a in acts)  # edged itself from this checkout
    for expected in ("chown -R edged:edged /var/lib/edged", "systemctl daemon-reload",
                     "udevadm control --reload-rules"):
        assert expected in acts, expected
    assert any(a.startswith("systemctl restart edged.service") for a in acts)


def test_notify_reload_drop_in_only_with_systemd_253(tmp_path: Path) -> None:
    dropin = "etc/systemd/system/edged.service.d/10-notify-reload.conf"
    old = tmp_path / "bookworm"
    assert install("--root", str(old), "--skip-venv", systemd=252).returncode == 0
    assert not (old / dropin).exists()
    new = tmp_path / "trixie"
    assert install("--root", str(new), "--skip-venv", systemd=257).returncode == 0
    text = (new / dropin).read_text()
    assert "Type=notify-reload" in text and "\nExecReload=\n" in text
    # back on an old systemd (e.g. the file copied to a Bookworm machine): the drop-in goes
    r = install("--root", str(new), "--skip-venv", systemd=252)
    assert actions(r.stdout) == [f"rm -f {new / dropin}"]
    assert install("--root", str(new), "--uninstall").returncode == 0
    assert not (new / "etc/systemd/system/edged.service.d").exists()


def test_update_replaces_changed_files_but_not_the_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert install("--root", str(root), "--skip-venv").returncode == 0
    unit = root / "etc/systemd/system/edged.service"
    unit.write_text("stale\n")
    (root / "etc/edged/config.yaml").write_text("log:\n  level: DEBUG\n")
    before = tree(root)
    r = install("--root", str(root), "--skip-venv")
    assert actions(r.stdout) == [f"install -D -m 0644 {ROOT / 'systemd/edged.service'} {unit}"]
    after = tree(root)
    fresh = (ROOT / "systemd/edged.service").read_bytes()
    assert after["etc/systemd/system/edged.service"] == fresh
    assert after["etc/edged/config.yaml"] == before["etc/edged/config.yaml"]
    assert {k for k in after if after[k] != before[k]} == {"etc/systemd/system/edged.service"}


def test_udev_rule_covers_both_coral_usb_ids() -> None:
    rules = (ROOT / "deploy/99-edgetpu.rules").read_text()
    assert 'ATTRS{idVendor}=="1a6e", ATTRS{idProduct}=="089a"' in rules
    assert 'ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302"' in rules
    assert rules.count('GROUP="plugdev"') == 2
