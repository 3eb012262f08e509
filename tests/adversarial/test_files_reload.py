"""A running daemon (a real ``edged run``) gets each hostile config on SIGHUP: it logs why,
keeps running the old config, keeps publishing with consecutive seq, and does not grow."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import receive_json, subscribe
from files_support import billion_laughs, fifo, sparse_file
from test_runtime import crasher

GROWTH_MB = 50


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _wait_for_log(d, text: str, start: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.log()[start:]:
            return
        assert d.proc.poll() is None, f"the daemon died (exit {d.proc.returncode}):\n{d.log()}"
        time.sleep(0.05)
    raise AssertionError(f"'{text}' not logged within {timeout}s:\n{d.log()[start:]}")


def test_daemon_survives_each_hostile_config_on_sighup(tmp_path: Path, daemon_factory) -> None:
    d = daemon_factory({"source": {"type": "synthetic", "fps": 30}})
    sub = subscribe(d.endpoint)
    receive_json(sub, 3, timeout=60)
    good = d.config_path.read_text()
    sparse_file(tmp_path / "huge_labels.txt", 1 << 30)
    fifo(tmp_path / "fifo.tflite")
    hostile = [
        (billion_laughs(), "expands to more than 10000 values"),
        ("source: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested more than 64 levels deep"),
        ("source: !!python/object/apply:os.system ['touch pwned']\n", "unsupported tag"),
        ("model:\n  path: /dev/zero\n", "/dev/zero is a character device"),
        (f"model:\n  path: {tmp_path}/fifo.tflite\n", "is a FIFO (named pipe)"),
        (f"model:\n  labels: {tmp_path}/huge_labels.txt\n", "more than the 4.0 MB allowed"),
        ("source:\n  type: synthetic\n  fps: .inf\n", "source.fps (line 3)"),
        (None, "config file"),  # the config file itself replaced by a FIFO
    ]
    rss_before = _rss_mb(d.proc.pid)
    for text, fragment in hostile:
        d.config_path.unlink()
        if text is None:
            os.mkfifo(d.config_path)
        else:
            d.config_path.write_text(text)
        start = len(d.log())
        d.signal(signal.SIGHUP)
        _wait_for_log(d, fragment, start)
        msgs = receive_json(sub, 5, timeout=60)
        seqs = [m["seq"] for m in msgs]
        assert seqs == list(range(seqs[0], seqs[0] + 5)), seqs
        assert "Traceback" not in d.log()
    growth = _rss_mb(d.proc.pid) - rss_before
    assert growth < GROWTH_MB, f"grew {growth:.0f} MB over the hostile reloads"
    assert not (tmp_path / "pwned").exists()
    d.config_path.unlink()
    d.config_path.write_text(good)
    assert d.stop() == 0


@pytest.mark.testdata
def test_daemon_survives_a_model_that_crashes_the_runtime_on_sighup(
        testdata: Path, tmp_path: Path, daemon_factory) -> None:
    """On tflite-runtime (the tflite pass of make test) the model's first load runs in a child
    that dies of SIGSEGV; on LiteRT its verifier refuses the file. Either way: logged, and the
    old model keeps publishing."""
    d = daemon_factory({"source": {"type": "synthetic", "fps": 30}})
    sub = subscribe(d.endpoint)
    receive_json(sub, 3, timeout=60)
    bad = crasher(testdata, tmp_path)
    d.config_path.write_text(f"source:\n  type: synthetic\n  fps: 30\nmodel:\n  path: {bad}\n"
                             f"publish:\n  endpoint: {d.endpoint}\n")
    start = len(d.log())
    d.signal(signal.SIGHUP)
    _wait_for_log(d, f"model file {bad}", start, timeout=120)
    msgs = receive_json(sub, 5, timeout=60)
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + 5)), seqs
    assert all(m["model"]["file"] == "shapes_int8.tflite" for m in msgs)
    assert d.stop() == 0
