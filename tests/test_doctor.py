"""``edged doctor`` on this machine and on a fake sysfs tree with a Coral plugged in (the
hardware is absent here, so sysfs is the part that is faked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.testdata


def doctor(config: Path, sysfs: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if sysfs is not None:
        env["EDGED_SYSFS_ROOT"] = str(sysfs)
    return subprocess.run([sys.executable, "-m", "edged", "doctor", "--config", str(config),
                           "--json"], capture_output=True, text=True, timeout=120, env=env)


def fake_sysfs(root: Path, speed: str) -> Path:
    dev = root / "bus/usb/devices/2-1"
    dev.mkdir(parents=True)
    (dev / "idVendor").write_text("18d1\n")
    (dev / "idProduct").write_text("9302\n")
    (dev / "speed").write_text(f"{speed}\n")
    zone = root / "class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("83500\n")
    return root


def by_name(r: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(r.stdout)}


def test_doctor_reports_model_and_config(testdata: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {testdata}/models/mobilenet_v1_0.25_128_quant_edgetpu.tflite"
                   "\n  delegate: cpu\n")
    r = doctor(cfg)
    checks = by_name(r)
    assert checks["config"]["status"] == "ok"
    model = checks["model mobilenet_v1_0.25_128_quant_edgetpu.tflite"]
    assert model["status"] == "fail" and "Edge-TPU-compiled" in model["detail"]
    assert "model.delegate: edgetpu or auto" in model["fix"]
    assert r.returncode == 1


def test_doctor_sees_a_coral_on_usb2_and_a_hot_cpu(testdata: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {testdata}/models/mobilenet_v1_0.25_128_quant.tflite\n"
                   "  delegate: auto\n  edgetpu_library: /nonexistent/libedgetpu.so.1\n")
    checks = by_name(doctor(cfg, fake_sysfs(tmp_path / "sys", "480")))
    usb = checks["edge tpu usb"]
    assert "18d1:9302" in usb["detail"] and usb["status"] == "warn" and "USB 3" in usb["fix"]
    assert checks["edge tpu library"]["status"] == "fail"
    assert "libedgetpu1-std" in checks["edge tpu library"]["fix"]
    assert checks["temperature"]["detail"] == "83.5 °C"
    assert checks["temperature"]["status"] == "warn"


def test_doctor_bad_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  tresh: 1\n")
    r = doctor(cfg)
    assert r.returncode == 1
    assert "model.tresh (line 2)" in by_name(r)["config"]["detail"]
