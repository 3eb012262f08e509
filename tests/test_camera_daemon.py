"""The daemon end to end with the fake Pi camera: fake picamera2 -> real model -> real ZeroMQ.

The daemon is a real subprocess; ``PYTHONPATH`` puts tests/fakes first so it imports the fake
``picamera2``/``libcamera``, and the test drives the camera (unplug, time out, blank frames)
by rewriting the fake's JSON state file while the daemon runs.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import subscribe

from edged.messages import Prediction
from edged.runtime.model import cpu_count

pytestmark = pytest.mark.testdata

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"
MACAW = (89, "macaw")


class Camera:
    """The fake camera's state file, shared with the daemon process."""

    def __init__(self, path: Path, scene: Path) -> None:
        self.path, self.scene = path, scene

    def set(self, **state: Any) -> None:
        state.setdefault("scene", str(self.scene))
        state.setdefault("frame_interval_s", 0.03)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)  # atomic: the daemon never reads half a file

    def env(self) -> dict[str, str]:
        paths = [str(FAKES), str(ROOT), os.environ.get("PYTHONPATH", "")]
        return {"PYTHONPATH": os.pathsep.join(p for p in paths if p),
                "FAKE_PICAMERA2_STATE": str(self.path)}


class Listener:
    """Everything the daemon publishes, predictions and status, in arrival order."""

    def __init__(self, endpoint: str) -> None:
        self.sock = subscribe(endpoint, (b"edged.predictions", b"edged.status"))
        self.predictions: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []

    def until(self, done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; last status: "
                                     f"{self.statuses[-1:]}, predictions: "
                                     f"{len(self.predictions)}")
            if self.sock.poll(int(min(remaining, 0.5) * 1000)):
                topic, payload = self.sock.recv_multipart()[:2]
                box = self.predictions if topic == b"edged.predictions" else self.statuses
                box.append(json.loads(payload))

    def more_predictions(self, n: int) -> None:
        goal = len(self.predictions) + n
        self.until(lambda: len(self.predictions) >= goal, f"{n} more predictions")

    def state(self, state: str) -> None:
        start = len(self.statuses)
        self.until(lambda: any(s["state"] == state for s in self.statuses[start:]),
                   f"status {state!r}")


@pytest.fixture
def camera(tmp_path: Path, testdata: Path) -> Camera:
    cam = Camera(tmp_path / "camera.json", testdata / "images/parrot.jpg")
    cam.set(cameras=1)
    return cam


def config(td: Path, **source: Any) -> dict[str, Any]:
    return {
        "source": {"type": "picamera2", "timeout_s": 0.5,
                   "backoff": {"initial_s": 0.05, "max_s": 0.2}, **source},
        "model": {"path": str(td / "models/mobilenet_v2_1.0_224_quant.tflite"),
                  "labels": str(td / "labels/imagenet_labels.txt"), "threads": 1},
        "publish": {"status_interval": 0.2},
    }


def assert_macaw(msgs: list[dict[str, Any]]) -> None:
    for m in msgs:
        Prediction.model_validate(m)
        assert (m["classes"][0]["index"], m["classes"][0]["label"]) == MACAW
        assert m["frame"] == [224, 224]  # the ISP delivered model size: no CPU resize of a frame


def assert_one_continuous_run(msgs: list[dict[str, Any]]) -> None:
    assert len({m["run_id"] for m in msgs}) == 1
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


@pytest.mark.parametrize("stream", ["main", "lores"])
def test_fake_camera_to_model_to_published_message(testdata: Path, camera: Camera,
                                                   daemon_factory: Any, stream: str) -> None:
    d = daemon_factory(config(testdata, stream=stream), env=camera.env())
    listen = Listener(d.endpoint)
    listen.more_predictions(5)
    assert_macaw(listen.predictions)
    assert_one_continuous_run(listen.predictions)
    stamps = [m["capture_ns"] for m in listen.predictions]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # sensor timestamps
    assert d.stop() == 0


def test_a_camera_with_a_model_on_every_core_keeps_its_own_thread(
        testdata: Path, camera: Camera, daemon_factory: Any) -> None:
    """A live source is read on its own thread while invoke runs; the stages take turns
    (edged.cpugate) instead of running on one thread as a pulled source's do."""
    cfg = config(testdata)
    cfg["model"]["threads"] = cpu_count()
    d = daemon_factory(cfg, env=camera.env())
    listen = Listener(d.endpoint)
    listen.more_predictions(5)
    assert_macaw(listen.predictions)
    assert_one_continuous_run(listen.predictions)
    assert d.stop() == 0
    assert "take turns with invoke" in d.log()
    assert "one thread reads" not in d.log()


FAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (state that breaks the camera, state that heals it)
    "unplugged": ({"cameras": 0}, {"cameras": 1}),
    "timeouts": ({"timeouts": 6}, {}),
    "blank frames": ({"blank_frames": 40}, {}),
    "garbage frames": ({"short_frames": 60}, {}),
    "busy after a timeout": ({"timeouts": 1, "acquire_failures": 4}, {}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_camera_fault_degrades_then_resumes_same_run_continuing_seq(
        testdata: Path, camera: Camera, daemon_factory: Any, fault: str) -> None:
    broken, healed = FAULTS[fault]
    d = daemon_factory(config(testdata, blank_frames_limit=5), env=camera.env())
    listen = Listener(d.endpoint)
    listen.more_predictions(3)
    camera.set(**broken)
    listen.state("degraded")
    camera.set(**healed)
    listen.state("running")
    listen.more_predictions(3)
    assert d.proc.poll() is None, "the daemon must survive a camera fault"
    assert_one_continuous_run(listen.predictions)
    assert_macaw(listen.predictions)
    degraded = [s for s in listen.statuses if s["state"] == "degraded"]
    assert all(s["reason"].startswith("source:") for s in degraded)
    assert max(s["frames"]["source_errors"] for s in listen.statuses) >= 1
    assert d.stop() == 0


def test_camera_missing_at_start_is_retried_and_logged_once(
        testdata: Path, camera: Camera, daemon_factory: Any) -> None:
    camera.set(cameras=0)
    d = daemon_factory(config(testdata), env=camera.env())
    listen = Listener(d.endpoint)
    listen.state("degraded")
    listen.until(lambda: listen.statuses[-1]["frames"]["source_errors"] >= 4, "several retries")
    camera.set(cameras=1)
    listen.more_predictions(3)
    assert_macaw(listen.predictions)
    assert_one_continuous_run(listen.predictions)
    assert d.stop() == 0
    log = d.log()
    assert "no cameras found" in log
    assert log.count("no cameras found") == 1, log  # once per state change, not per retry


def test_wrong_camera_index_stops_with_the_cameras_found(testdata: Path, camera: Camera,
                                                         daemon_factory: Any) -> None:
    d = daemon_factory(config(testdata, camera=3), env=camera.env())
    code = d.proc.wait(30)
    assert code != 0
    log = d.log()
    assert "camera 3 does not exist" in log and "0: imx708" in log
    assert "Traceback" not in log


def test_missing_picamera2_stops_with_install_instructions(testdata: Path, tmp_path: Path,
                                                           daemon_factory: Any) -> None:
    # no fakes on the path: this machine has no picamera2, as on a venv without system packages
    env = {"PYTHONPATH": str(ROOT)}
    d = daemon_factory(config(testdata), env=env)
    code = d.proc.wait(30)
    assert code != 0
    log = d.log()
    assert "python3-picamera2" in log and "--system-site-packages" in log
    assert "Traceback" not in log



def test_a_reload_to_a_camera_that_does_not_exist_goes_back_to_the_previous_config(
        testdata: Path, camera: Camera, daemon_factory: Any) -> None:
    """The new camera can only be opened after the swap (one camera is never open twice);
    when it fails for good, the daemon must not exit (systemd would not restart a 78): it
    goes back to the camera it had, as a refused reload would."""
    d = daemon_factory(config(testdata), env=camera.env())
    listen = Listener(d.endpoint)
    listen.more_predictions(3)
    cfg = config(testdata, camera=5)  # one camera plugged in: index 5 does not exist
    cfg["publish"]["endpoint"] = d.endpoint
    d.write_config(cfg)
    d.signal(signal.SIGHUP)
    listen.until(lambda: "going back to the previous config" in d.log(), "the rollback")
    listen.more_predictions(5)  # the first camera again
    assert_macaw(listen.predictions[-5:])
    listen.state("running")
    assert d.proc.poll() is None
    log = d.log()
    assert "source.camera: camera 5 does not exist" in log and "Traceback" not in log
    d.write_config({**cfg, "source": {**cfg["source"], "camera": 0}})
    d.signal(signal.SIGHUP)  # a later good reload still works
    listen.more_predictions(3)
    assert d.stop() == 0
