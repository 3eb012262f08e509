"""The lifecycle as systemd and subscribers see it, with a real daemon subprocess: READY=1
only after the first published prediction (a real notify socket), status ``running`` only
after an inferred frame, exit codes (0 only on a stop request or a finished source, 78 for
a source that can never work), and a SIGTERM that ends even a process whose invoke hangs."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import receive_json, subscribe
from test_camera_daemon import Camera
from test_edgetpu import fake_libedgetpu  # noqa: F401 - the session fixture
from test_systemd import NotifySocket

pytestmark = pytest.mark.testdata


@pytest.fixture
def notify(tmp_path: Path):
    ns = NotifySocket(str(tmp_path / "notify.sock"), str(tmp_path / "notify.sock"))
    yield ns
    ns.sock.close()


def model(td: Path) -> dict:
    return {"path": str(td / "models/mobilenet_v1_0.25_128_quant.tflite"), "threads": 1}


def states(sub, seconds: float) -> list[str]:
    """The status states published during ``seconds``."""
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if sub.poll(int(left * 1000) + 1):
            topic, body = sub.recv_multipart()[:2]
            if topic == b"edged.status":
                out.append(json.loads(body)["state"])
    return out


def test_ready_comes_with_the_first_prediction_and_says_running(
        testdata: Path, notify: NotifySocket, daemon_factory) -> None:
    d = daemon_factory({"source": {"type": "images", "path": str(testdata / "images/cat.bmp"),
                                   "fps": 20}, "model": model(testdata)},
                       env={"NOTIFY_SOCKET": notify.address})
    notify.until("READY=1", timeout=60)
    ready = next(m for m in notify.messages if "READY=1" in m)
    # sent with READY: the state after a frame was inferred, and a rate from published ones
    assert any(f.startswith("STATUS=running: ") for f in ready), ready
    [status] = receive_json(subscribe(d.endpoint, (b"edged.status",)), 1, timeout=10,
                            topic=b"edged.status")
    assert status["frames"]["published"] >= 1 and status["frames"]["inferred"] >= 1
    assert d.stop() == 0


def test_no_ready_and_no_running_while_no_frame_was_inferred(
        testdata: Path, notify: NotifySocket, daemon_factory) -> None:
    """An absent V4L2 camera is transient (retried with backoff): edged waits for it, never
    tells systemd READY (the old code did after 30 s), and never says running."""
    d = daemon_factory({"source": {"type": "opencv", "device": 99,
                                   "backoff": {"initial_s": 0.2, "max_s": 1.0}},
                        "model": model(testdata)},
                       env={"NOTIFY_SOCKET": notify.address})
    sub = subscribe(d.endpoint, (b"edged.status",))
    seen = states(sub, 33.0)  # past the old 30 s READY timeout
    notify.collect(0.2)
    assert "READY=1" not in notify.events()
    assert seen and "running" not in seen, seen
    assert set(seen) <= {"starting", "degraded"}
    assert d.proc.poll() is None  # transient: retrying, not exiting
    assert "retrying with backoff" in d.log()
    assert d.stop() == 0
    notify.collect(0.3)
    assert notify.events()[-1] == "STOPPING=1"


def test_empty_images_folder_exits_78_without_ready(testdata: Path, tmp_path: Path,
                                                   notify: NotifySocket,
                                                   daemon_factory) -> None:
    (tmp_path / "empty").mkdir()
    d = daemon_factory({"source": {"type": "images", "path": str(tmp_path / "empty")},
                        "model": model(testdata)},
                       env={"NOTIFY_SOCKET": notify.address}, subdir="d")
    assert d.proc.wait(60) == 78  # RestartPreventExitStatus=78: no restart loop
    notify.collect(0.3)
    assert "READY=1" not in notify.events()
    log = d.log()
    assert "contains no image" in log and "Traceback" not in log


def test_missing_picamera2_exits_78(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({"source": {"type": "picamera2"}, "model": model(testdata)})
    assert d.proc.wait(60) == 78
    assert "picamera2" in d.log() and "Traceback" not in d.log()


def test_absent_camera_index_exits_78(testdata: Path, tmp_path: Path,
                                      daemon_factory) -> None:
    camera = Camera(tmp_path / "camera.json", testdata / "images/parrot.jpg")
    camera.set()
    d = daemon_factory({"source": {"type": "picamera2", "camera": 3}, "model": model(testdata)},
                       env=camera.env(), subdir="d")
    assert d.proc.wait(60) == 78
    assert "camera 3 does not exist" in d.log()


def test_finite_source_done_exits_0_and_sigterm_exits_0(testdata: Path, tmp_path: Path,
                                                        daemon_factory) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "cat.bmp").symlink_to(testdata / "images/cat.bmp")
    done = daemon_factory({"source": {"type": "images", "path": str(folder), "loop": False},
                           "model": model(testdata)}, subdir="a")
    assert done.proc.wait(60) == 0
    running = daemon_factory({"source": {"type": "images", "path": str(folder)},
                              "model": model(testdata)}, subdir="b")
    receive_json(subscribe(running.endpoint), 1, timeout=60)
    assert running.stop(timeout=15) == 0


def test_a_start_that_cannot_bind_exits_non_zero(testdata: Path, daemon_factory) -> None:
    first = daemon_factory({"source": {"type": "images",
                                       "path": str(testdata / "images/cat.bmp")},
                            "model": model(testdata)}, subdir="a")
    receive_json(subscribe(first.endpoint), 1, timeout=60)
    second = daemon_factory({"source": {"type": "images",
                                        "path": str(testdata / "images/cat.bmp")},
                             "model": model(testdata),
                             "publish": {"endpoint": first.endpoint}}, subdir="b")
    assert second.proc.wait(60) not in (0, 78)  # restarted by systemd: it may free up
    assert first.stop() == 0


def test_sigterm_ends_a_process_whose_invoke_hangs_within_10_s(
        testdata: Path, tmp_path: Path, fake_libedgetpu: Path,  # noqa: F811
        daemon_factory) -> None:
    """The fake Edge TPU answers 40 invokes (2 s at 20 fps), then never again (it sleeps, as a
    wedged accelerator would). SIGTERM: the hung thread is abandoned after a bounded join and
    the process exits 0 well within systemd's TimeoutStopSec."""
    record = tmp_path / "delegate.txt"
    path = str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")
    (tmp_path / "d").mkdir()
    endpoint = f"ipc://{tmp_path}/d/predictions.sock"
    # subscribed before the daemon binds: a slow joiner under load would miss the answers
    # given before the hang and wait for ones that never come
    sub = subscribe(endpoint)
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/parrot.jpg"), "fps": 20},
        "model": {"path": path, "edgetpu_path": path, "delegate": "edgetpu",
                  "edgetpu_library": str(fake_libedgetpu), "edgetpu_retry_s": 600,
                  "edgetpu_options": {"hang_after": "40", "record": str(record)}},
        "publish": {"endpoint": endpoint}},
        subdir="d")
    receive_json(sub, 1, timeout=60)
    deadline = time.monotonic() + 30
    while "hang" not in (record.read_text().splitlines() if record.exists() else []):
        assert time.monotonic() < deadline, "the fake TPU never hung"
        time.sleep(0.1)
    # "hang" is written inside the delegate's invoke, right before it sleeps: the thread is
    # in the hung invoke now
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    code = d.proc.wait(15)
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed
    assert code == 0
    log = d.log()
    assert "did not finish within" in log and "exiting without waiting" in log
    assert "Traceback" not in log
