"""``edged status`` against a real daemon, and with none running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", "status", *args],
                          capture_output=True, text=True, timeout=60)


def test_status_without_a_daemon_exits_2(tmp_path: Path) -> None:
    r = status("--endpoint", f"ipc://{tmp_path}/none.sock", "--timeout", "0.5")
    assert r.returncode == 2
    assert "edged is not running" in r.stderr


@pytest.mark.testdata
def test_status_of_a_running_daemon(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/cat.bmp"), "fps": 20},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")},
        "publish": {"status_interval": 3600}})
    # the config names the endpoint; the daemon answers a new status subscriber at once
    from conftest import receive_json, subscribe
    receive_json(subscribe(d.endpoint), 1)
    r = status("--config", str(d.config_path), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["state"] == "running" and s["frames"]["published"] >= 1
    assert s["labels"] == "metadata:mobilenet_v1_0.25_128_quant.tflite:imagenet_labels.txt"
    text = status("--endpoint", d.endpoint)
    assert text.returncode == 0 and "state:       running" in text.stdout
    assert d.stop() == 0


def test_cpu_temperature_from_the_thermal_zone(tmp_path: Path) -> None:
    from edged.daemon import cpu_temperature

    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temperature(zone) == 48.3
    assert cpu_temperature(tmp_path / "absent") is None


def test_inference_percentiles_are_numpys() -> None:
    """The status percentiles, computed without numpy, are np.percentile's to the bit,
    before and after the window of 512 wraps."""
    import numpy as np

    from edged.stats import WINDOW, Stats, percentile

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 511, 4000):
        values = (rng.random(n) * 50).round(3).tolist()
        for q in (0, 1, 37.5, 50, 99, 100):
            assert percentile(sorted(values), q) == float(np.percentile(values, q))
        stats = Stats()
        for v in values:
            stats.record_inference(v)
        window = values[-WINDOW:] if n > WINDOW else values
        assert stats.inference_percentiles() == {
            "p50": round(float(np.percentile(window, 50)), 3),
            "p99": round(float(np.percentile(window, 99)), 3)}
    assert Stats().inference_percentiles() == {"p50": 0.0, "p99": 0.0}
