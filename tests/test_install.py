"""deploy/install.sh: shellcheck-clean, a dry run that prints every action, a real run into a
scratch root that is idempotent and never overwrites an edited config, and --uninstall."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from modelserver import serve

from edged.models import catalog

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


# --- the model, the config and the gate before any start (issue 14) ---

def install_with_edged(*args: str) -> subprocess.CompletedProcess[str]:
    """install.sh with this checkout's edged (EDGED_PYTHON) standing in for /opt/edged's venv."""
    env = {**os.environ, "SYSTEMD_VERSION": "252", "EDGED_PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", str(INSTALL), "--skip-venv", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture
def model_server(testdata: Path):
    with serve([testdata / "models", testdata / "labels"]) as srv:
        yield srv


@pytest.mark.testdata
def test_install_from_a_model_server_ends_with_a_config_that_validates(
        tmp_path: Path, model_server) -> None:
    root = tmp_path / "root"
    r = install_with_edged("--root", str(root), "--model", "mobilenet_v2",
                           "--mirror", f"{model_server.url}/ok", "--start")
    assert r.returncode == 0, r.stdout + r.stderr
    models = root / "var/lib/edged/models"
    entry = catalog.find("mobilenet_v2")
    assert (models / entry.model.file).stat().st_size == entry.model.size
    config = (root / "etc/edged/config.yaml").read_text()
    assert f"  path: {models / entry.model.file}\n" in config
    assert f"  labels: {models / 'imagenet_labels.txt'}\n" in config
    assert "check: edged check-config" in r.stdout
    assert "skip (--root): systemctl enable edged.service" in r.stdout
    assert "skip (--root): systemctl restart edged.service" in r.stdout
    ok = check_config(root / "etc/edged/config.yaml")
    assert ok.returncode == 0, ok.stderr
    unit = root / "etc/systemd/system/edged.service"
    if shutil.which("systemd-analyze"):
        v = subprocess.run(["bash", str(ROOT / "deploy/check-unit.sh"), str(unit)],
                           capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
    elif os.environ.get("CI") == "true":
        pytest.fail("systemd-analyze missing under CI (apt install systemd)")
    # the second run fetches nothing and changes nothing
    requests = len(model_server.requests)
    again = install_with_edged("--root", str(root), "--model", "mobilenet_v2",
                               "--mirror", f"{model_server.url}/ok")
    assert again.returncode == 0 and actions(again.stdout) == [], again.stdout
    assert "unchanged: model mobilenet_v2" in again.stdout
    assert len(model_server.requests) == requests


@pytest.mark.testdata
def test_no_model_means_nothing_is_started_and_the_fix_is_printed(tmp_path: Path,
                                                                  model_server) -> None:
    root = tmp_path / "root"
    # the default detector is not on this server (not in testdata): a 404, then the gate
    r = install_with_edged("--root", str(root), "--mirror", f"{model_server.url}/ok", "--start")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "HTTP 404" in r.stderr
    assert "file not found" in r.stderr  # check-config's own message
    assert "NOT enabled or started" in r.stdout
    assert "edged models fetch --dir /var/lib/edged/models" in r.stdout
    assert "systemctl enable" not in r.stdout and "systemctl restart" not in r.stdout
    off = install_with_edged("--root", str(tmp_path / "off"), "--offline", "--start")
    assert off.returncode == 3
    assert "skip (--offline): edged models fetch" in off.stdout
    assert "systemctl restart" not in off.stdout


@pytest.mark.testdata
def test_example_config_validates_against_the_catalogue_default(tmp_path: Path,
                                                                testdata: Path) -> None:
    """config.example.yaml names the catalogue's default detector and its labels under
    /var/lib/edged/models, and validates once they are there. The real detector is not in
    ../shared/testdata (and cannot be downloaded here): the real coco_labels.txt and a stand-in
    .tflite with the same TFLite_Detection_PostProcess outputs (tests/models/ssd_grid.tflite)
    are installed under the catalogue's file names with --models; check-config only needs them
    to exist, and `edged models fetch` would refuse the stand-in (test_models.py)."""
    default = catalog.find(catalog.DEFAULT_MODEL)
    example = (ROOT / "config.example.yaml").read_text()
    assert f"  path: /var/lib/edged/models/{default.model.file}\n" in example
    assert f"  labels: /var/lib/edged/models/{default.labels.file}\n" in example  # type: ignore[union-attr]
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(ROOT / "tests/models/ssd_grid.tflite", own / default.model.file)
    shutil.copy(testdata / "labels/coco_labels.txt", own / "coco_labels.txt")
    root = tmp_path / "root"
    r = install_with_edged("--root", str(root), "--models", str(own), "--offline")
    assert r.returncode == 0, r.stdout + r.stderr
    installed = (root / "etc/edged/config.yaml").read_text()
    assert installed == example.replace("/var/lib/edged/models/",
                                        f"{root}/var/lib/edged/models/")
    assert check_config(root / "etc/edged/config.yaml").returncode == 0
