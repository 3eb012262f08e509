"""``edged bench`` runs and reports every documented field (numbers are for benchmarks/, not
asserted here beyond being sane)."""

from __future__ import annotations

import json
import subprocess
import sys

from edged.config import DEMO_MODEL


def test_bench_json_report_has_every_field() -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "bench", "--model", str(DEMO_MODEL),
                        "--seconds", "1.5", "--json"], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["machine"]["cores"] >= 1
    [res] = report["results"]
    assert res["model"] == DEMO_MODEL.name and res["threads"] == 1
    assert res["bare"]["fps"] > 0 and res["bare"]["invoke_ms_p50"] > 0
    d = res["daemon"]
    assert d["received"] > 0 and d["fps"] > 0 and d["daemon_exit_code"] == 0
    assert 0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p95"] <= d["latency_ms"]["p99"]
    assert d["inference_ms"]["p50"] > 0
    assert d["startup_s"] > 0
    assert d["rss_mb"]["end"] > 10 and d["rss_mb"]["growth"] is not None
    assert set(d["dropped"]) >= {"capture_slot", "publish_backlog", "send"}
    assert d["gaps"] >= 0
    assert res["ratio"] > 0 and set(res["latency_overhead_ms"]) == {"p50", "p99"}
