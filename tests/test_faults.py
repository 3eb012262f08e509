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

from edged.runtime.model import cpu_count

pytestmark = pytest.mark.testdata


def config(td: Path, threads: int = 1) -> dict:
    return {"source": {"type": "images", "path": str(td / "images/cat.bmp"), "fps": 50},
            "model": {"path": str(td / "models/mobilenet_v1_0.25_128_quant.tflite"),
                      "threads": threads}}


# every core: one thread runs every stage (edged.pipeline), and is stopped and replaced
@pytest.mark.parametrize("threads", [1, cpu_count()], ids=["threads-1", "every-core"])
def test_sighup_storm_is_survived_without_losing_the_run(testdata: Path, daemon_factory,
                                                         threads: int) -> None:
    d = daemon_factory(config(testdata, threads))
    sub = subscribe(d.endpoint)
    [before] = receive_json(sub, 1)
    for _ in range(100):
        os.kill(d.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "reloaded" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.1)
    after = receive_json(sub, 20, timeout=60)
    assert d.proc.poll() is None
    assert {m["run_id"] for m in after} == {before["run_id"]}
    seqs = [m["seq"] for m in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # continuing, gap-free
    assert seqs[0] > before["seq"]
    assert d.log().count("reloaded") < 100  # bursts are coalesced
    assert ("one thread reads" in d.log()) == (threads == cpu_count())
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


def test_full_disk_for_the_socket_folder_is_a_clear_error(testdata: Path, tmp_path: Path,
                                                          daemon_factory) -> None:
    """The daemon writes two files: the ipc socket and its lock. On a full filesystem it says
    so and exits without a traceback (a tmpfs of 64 KiB, filled, stands in for a full disk)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                            str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a full filesystem")
    try:
        (mnt / "run").mkdir()
        with open(mnt / "fill", "wb") as f:
            try:
                f.write(b"\0" * 1024 * 1024)
            except OSError:
                pass
        cfg = config(testdata)
        cfg["publish"] = {"endpoint": f"ipc://{mnt}/run/p.sock"}
        d = daemon_factory(cfg, subdir="d")
        assert d.proc.wait(60) not in (0, None)
        log = d.log()
        assert "No space left on device" in log and "Traceback" not in log
        assert not (mnt / "run/p.sock.lock").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_interpreter_that_raises_degrades_without_losing_the_good_frames(
        tmp_path: Path, daemon_factory) -> None:
    """A real model whose invoke() fails on bright frames (scripts/make_failing_test_model.py):
    failures are counted and reported, the other frames are still published, gap-free."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(np.full((32, 32, 3), 250, np.uint8)).save(folder / "a_bright.png")
    Image.fromarray(np.full((32, 32, 3), 5, np.uint8)).save(folder / "b_dark.png")
    model = Path(__file__).parent / "models/fails_on_bright.tflite"
    d = daemon_factory({"source": {"type": "images", "path": str(folder), "fps": 40},
                        "model": {"path": str(model)}}, subdir="d")
    sub = subscribe(d.endpoint, (b"edged.predictions", b"edged.status"))
    preds = receive_json(sub, 6)
    statuses = receive_json(sub, 2, topic=b"edged.status", timeout=15)
    assert all(m["frame_seq"] % 2 == 1 for m in preds)  # only the dark frames
    seqs = [m["seq"] for m in preds]
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # nothing lost among published ones
    assert max(s["frames"]["inference_errors"] for s in statuses) >= 1
    assert d.proc.poll() is None
    log = d.log()
    assert log.count("inference failed") <= 3  # logged per state change, not per frame
    assert "num_input_elements != num_output_elements" in log
    assert d.stop() == 0
