"""Faults through the real daemon: signal storms, stop requests mid-start, subscribers that
die. "Nothing lost" is checked through seq and run_id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import receive_json, subscribe
from test_systemd import NotifySocket

pytestmark = pytest.mark.testdata


def config(td: Path) -> dict:
    return {"source": {"type": "images", "path": str(td / "images/cat.bmp"), "fps": 50},
            "model": {"path": str(td / "models/mobilenet_v1_0.25_128_quant.tflite"),
                      "threads": 1}}


def test_sighup_storm_is_survived_without_losing_the_run(testdata: Path, daemon_factory) -> None:
    d = daemon_factory(config(testdata))
    sub = subscribe(d.endpoint)
    [before] = receive_json(sub, 1)
    for _ in range(100):
        os.kill(d.proc.pid, signal.SIGHUP)
    time.sleep(1.0)
    after = receive_json(sub, 20)
    assert d.proc.poll() is None
    assert {m["run_id"] for m in after} == {before["run_id"]}
    seqs = [m["seq"] for m in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # continuing, gap-free
    assert seqs[0] > before["seq"]
    assert d.log().count("reloaded") < 100  # bursts are coalesced
    assert d.stop() == 0


def test_sigterm_while_loading_the_model_exits_cleanly(testdata: Path, tmp_path: Path,
                                                      daemon_factory) -> None:
    ns = NotifySocket(str(tmp_path / "n.sock"), str(tmp_path / "n.sock"))
    d = daemon_factory(config(testdata), env={"NOTIFY_SOCKET": ns.address})
    ns.until("STATUS=loading model mobilenet_v1_0.25_128_quant.tflite")
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    ns.collect(0.3)
    assert "READY=1" not in ns.events() or ns.events()[-1] == "STOPPING=1"
    assert not Path(d.endpoint[len("ipc://"):]).exists()


def test_subscriber_killed_mid_stream_does_not_disturb_others(testdata: Path,
                                                             daemon_factory) -> None:
    d = daemon_factory(config(testdata))
    victim = subprocess.Popen([sys.executable, "-m", "edged", "listen", "--endpoint",
                               d.endpoint], stdout=subprocess.DEVNULL)
    sub = subscribe(d.endpoint)
    receive_json(sub, 5)
    victim.kill()
    victim.wait()
    after = receive_json(sub, 30)
    seqs = [m["seq"] for m in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert d.proc.poll() is None
    assert d.stop() == 0
