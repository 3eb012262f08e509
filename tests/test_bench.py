"""``edged bench`` runs and reports every documented field (numbers are for benchmarks/, not
asserted here beyond being sane), and its figures are computed the documented way."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from edged.bench.counter import cpu_by_role, summarize, thread_cpu
from edged.config import DEMO_MODEL

FIGURES = {"bare_fps", "invoke_ms_p50", "daemon_fps", "ratio", "inference_ms_p50",
           "e2e_ms_p50", "e2e_ms_p99", "overhead_ms_p50", "overhead_ms_p99",
           "cpu_outside_invoke_us", "cpu_total_us", "rss_mb", "rss_growth_mb", "rss_anon_mb",
           "rss_file_mb", "startup_s", "gaps"}


def test_bench_json_report_has_every_field_per_run_and_summarized() -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "bench", "--model", str(DEMO_MODEL),
                        "--seconds", "1.5", "--repeat", "2", "--json"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert report["command"].startswith("edged bench --model")
    assert report["settings"]["repeat"] == 2 and report["settings"]["interpolation"] == "area"
    [res] = report["results"]
    assert res["model"] == DEMO_MODEL.name and res["threads"] == 1
    assert len(res["runs"]) == 2
    for run in res["runs"]:
        assert run["bare"]["fps"] > 0 and run["bare"]["invoke_ms_p50"] > 0
        d = run["daemon"]
        assert d["received"] > 0 and d["fps"] > 0 and d["daemon_exit_code"] == 0
        assert 0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p95"] <= d["latency_ms"]["p99"]
        assert d["inference_ms"]["p50"] > 0
        assert d["overhead_ms"]["p50"] <= d["overhead_ms"]["p99"]
        assert d["startup_s"] > 0
        assert d["rss_mb"]["end"] > 10 and d["rss_mb"]["growth"] is not None
        assert set(d["dropped"]) >= {"capture_slot", "publish_backlog", "send"}
        assert d["gaps"] >= 0
        cpu = d["cpu_us_per_frame"]
        assert 0 < cpu["outside_invoke"] < cpu["total"]
        assert {"capture", "inference", "publish", "main"} <= set(cpu["by_thread"])
        assert run["ratio"] > 0 and set(run["latency_overhead_ms"]) == {"p50", "p99"}
    summary = res["summary"]
    assert set(summary) == FIGURES
    ratios = sorted(run["ratio"] for run in res["runs"])
    assert summary["ratio"]["min"] == ratios[0] and summary["ratio"]["max"] == ratios[1]
    assert summary["ratio"]["median"] == pytest.approx(sum(ratios) / 2)


def test_overhead_is_per_frame_not_a_difference_of_percentiles() -> None:
    """Slow inference on the frames with long e2e: per frame the overhead is constant."""
    latencies = [10.0 + i for i in range(100)]
    inference = [9.0 + i for i in range(100)]
    r = summarize(1, 1.0, latencies, inference, list(range(100)), {}, {})
    assert r["overhead_ms"] == {"p50": pytest.approx(1.0), "p99": pytest.approx(1.0)}
    assert r["latency_ms"]["p99"] - r["inference_ms"]["p50"] > 40  # the old, wrong figure


def test_cpu_outside_invoke_subtracts_invoke_and_the_runtime_pool() -> None:
    cpu_s = {"capture": 0.02, "inference": 0.5, "publish": 0.01, "main": 0.0, "zmq": 0.01,
             "runtime": 0.4}
    # 100 frames of 4.8 ms inference (wall): the inference thread used 0.5 s of CPU
    r = summarize(1, 1.0, [6.0] * 100, [4.8] * 100, list(range(100)), {}, cpu_s)
    cpu = r["cpu_us_per_frame"]
    assert cpu["total"] == pytest.approx(9400)
    # outside = all - runtime pool - min(inference thread CPU, summed invoke wall time)
    assert cpu["outside_invoke"] == pytest.approx((0.94 - 0.4 - 0.48) / 100 * 1e6)


def test_cpu_outside_invoke_when_one_thread_runs_every_stage() -> None:
    """Model on every core, pulled source: ``edged-pipeline`` invokes too (edged.pipeline)."""
    cpu_s = {"pipeline": 0.55, "publish": 0.005, "main": 0.0, "zmq": 0.01, "runtime": 0.4}
    r = summarize(1, 1.0, [6.0] * 100, [4.8] * 100, list(range(100)), {}, cpu_s)
    assert r["cpu_us_per_frame"]["outside_invoke"] == pytest.approx(
        (0.965 - 0.4 - 0.48) / 100 * 1e6)


def test_thread_cpu_sees_named_threads_of_another_process() -> None:
    code = ("import threading, time\n"
            "from edged.threadname import set_os_thread_name\n"
            "def spin():\n"
            "    set_os_thread_name('edged-capture')\n"
            "    t = time.thread_time()\n"
            "    while time.thread_time() - t < 0.3: pass\n"
            "    print('done', flush=True); time.sleep(60)\n"
            "threading.Thread(target=spin, daemon=True).start(); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        before = thread_cpu(p.pid)
        assert p.stdout is not None and p.stdout.readline().strip() == "done"
        deadline = time.monotonic() + 30
        while "edged-capture" not in {n for n, _ in thread_cpu(p.pid).values()}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        used = cpu_by_role(p.pid, before, thread_cpu(p.pid))
        assert used["capture"] >= 0.25  # the spinning thread, by its OS name
        assert used.get("runtime", 0.0) < 0.1
    finally:
        p.kill()
        p.wait(timeout=30)
