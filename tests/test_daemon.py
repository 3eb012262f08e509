"""The daemon as a real subprocess, real models, real ZeroMQ subscribers."""

from __future__ import annotations

import io
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from conftest import receive_json, subscribe
from PIL import Image

from edged.messages import Prediction, Status

pytestmark = pytest.mark.testdata


def cat_config(td: Path, **model: object) -> dict:
    return {
        "source": {"type": "images", "path": str(td / "images/cat.bmp"), "fps": 50},
        "model": {"path": str(td / "models/mobilenet_v2_1.0_224_quant.tflite"),
                  "labels": str(td / "labels/imagenet_labels.txt"), "threads": 1, **model},
    }


def test_cat_is_an_egyptian_cat_with_consecutive_seq(testdata: Path, daemon_factory) -> None:
    d = daemon_factory(cat_config(testdata))
    sub = subscribe(d.endpoint)
    msgs = receive_json(sub, 10)
    for m in msgs:
        Prediction.model_validate(m)  # the published contract
        assert m["schema"] == "edged.prediction/1"
        assert m["task"] == "classification"
        top = m["classes"][0]
        assert (top["index"], top["label"]) == (286, "Egyptian cat")
        assert top["score"] == pytest.approx(0.76, abs=0.08)
        assert m["classes"][1]["label"] == "tabby, tabby cat"
        assert m["model"]["file"] == "mobilenet_v2_1.0_224_quant.tflite"
        assert len(m["model"]["sha256"]) == 64
        assert m["frame"] == [512, 341] or m["frame"][0] > 0
        assert m["publish_ns"] >= m["capture_ns"]
        assert m["latency_ms"]["inference"] > 0
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + 10))
    assert len({m["run_id"] for m in msgs}) == 1
    assert d.stop() == 0


def test_sigterm_exits_zero_promptly_and_removes_the_socket(testdata: Path,
                                                            daemon_factory) -> None:
    d = daemon_factory(cat_config(testdata))
    sub = subscribe(d.endpoint, (b"edged.status",))
    receive_json(sub, 1, topic=b"edged.status")
    t0 = time.monotonic()
    assert d.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 10
    assert not Path(d.endpoint[len("ipc://"):]).exists()


def test_status_topic_late_joiner_gets_status_at_once(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({**cat_config(testdata), "publish": {"status_interval": 3600}})
    first = subscribe(d.endpoint)
    receive_json(first, 1)  # running
    late = subscribe(d.endpoint, (b"edged.status",))
    [status] = receive_json(late, 1, timeout=5, topic=b"edged.status")
    s = Status.model_validate(status)
    assert s.state == "running"
    assert s.frames["published"] >= 1
    d.stop()


def drain(sock: zmq.Socket) -> list[dict]:
    out = []
    while sock.poll(200):
        out.append(json.loads(sock.recv_multipart()[1]))
    return out


def test_slow_subscriber_does_not_slow_the_publisher(testdata: Path, daemon_factory) -> None:
    config = cat_config(testdata)
    config["source"]["fps"] = 0
    config["model"]["path"] = str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")
    config["publish"] = {"hwm": 100}
    d = daemon_factory(config)
    stuck = subscribe(d.endpoint, hwm=10)  # connects, then never reads
    fast = subscribe(d.endpoint, hwm=100_000)
    # publish long enough that the stuck reader's queues overflow: far more messages than its
    # queue (10), the daemon's per-subscriber queue (100) and the socket buffers hold
    early = receive_json(fast, 2000, timeout=120)
    assert d.proc.poll() is None
    assert d.stop(timeout=10) == 0  # exits cleanly even with a stuck subscriber
    seen_by_fast = early + drain(fast)
    seen_by_stuck = drain(stuck)
    # the daemon kept publishing at full rate while one reader was stuck: the fast reader got
    # (nearly) every message, far more than the stuck reader's queue and socket buffers held
    seqs = [m["seq"] for m in seen_by_fast]
    assert len(seqs) >= 0.95 * (seqs[-1] - seqs[0] + 1)
    assert len(seen_by_fast) > 3 * len(seen_by_stuck)
    # and the stuck reader lost the rest (visible to it as a seq gap) instead of holding the
    # daemon back
    assert seen_by_stuck[-1]["seq"] < seqs[-1] - len(seqs) // 2


def test_finite_folder_publishes_each_image_once_then_exits(testdata: Path, tmp_path: Path,
                                                             daemon_factory) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("bird.bmp", "parrot.jpg", "cat.bmp"):
        (folder / name).symlink_to(testdata / "images" / name)
    (folder / "notes.txt").write_text("not an image")
    config = cat_config(testdata)
    config["source"] = {"type": "images", "path": str(folder), "loop": False, "fps": 2}
    d = daemon_factory(config, subdir="run")
    sub = subscribe(d.endpoint)
    assert d.proc.wait(60) == 0
    got = drain(sub)
    # in file-name order; a subscriber can only miss the start (it may connect late)
    labels = [m["classes"][0]["label"] for m in got]
    assert len(labels) >= 2
    assert labels == ["chickadee", "Egyptian cat", "macaw"][-len(labels):]
    assert [m["frame_seq"] for m in got] == [0, 1, 2][-len(got):]


@pytest.mark.parametrize("case", ["corrupt", "truncated", "labels-mismatch", "edgetpu-on-cpu",
                                  "not-an-image-model"])
def test_bad_models_give_clear_errors(case: str, testdata: Path, tmp_path: Path,
                                     daemon_factory) -> None:
    config = cat_config(testdata)
    model = tmp_path / "model.tflite"
    expected = ""
    if case == "corrupt":
        model.write_bytes(b"\x00" * 4096)
        expected = "not a TFLite model (no 'TFL3' flatbuffer identifier"
    elif case == "truncated":
        whole = (testdata / "models/mobilenet_v2_1.0_224_quant.tflite").read_bytes()
        model.write_bytes(whole[:5000])
        expected = "truncated or corrupt: operator codes length at byte"
    elif case == "labels-mismatch":
        model = testdata / "models/mobilenet_v2_1.0_224_quant.tflite"
        config["model"]["labels"] = str(testdata / "labels/pascal_voc_segmentation_labels.txt")
        expected = "labels but the model outputs 1001 classes"
    elif case == "edgetpu-on-cpu":
        model = testdata / "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite"
        expected = "compiled for the Coral Edge TPU"
    else:
        model = testdata / "models/movenet_single_pose_lightning_ptq.tflite"
        config["model"]["task"] = "classification"
        expected = "do not fit model.task: classification"
    config["model"]["path"] = str(model)
    d = daemon_factory(config, subdir=case)
    assert d.proc.wait(60) == 78
    log = d.log()
    assert expected in log, log
    assert str(model.name) in log or case == "labels-mismatch"
    assert "Traceback" not in log


def test_second_instance_on_the_same_endpoint_is_refused(testdata: Path,
                                                        daemon_factory) -> None:
    config = cat_config(testdata)
    first = daemon_factory(config, subdir="a")
    receive_json(subscribe(first.endpoint), 1)
    second = daemon_factory({**config, "publish": {"endpoint": first.endpoint}}, subdir="b")
    assert second.proc.wait(60) != 0
    assert "already publishing on" in second.log()
    assert first.proc.poll() is None
    first.stop()


def test_kill_9_leaves_no_stale_socket_blocking_restart(testdata: Path, daemon_factory) -> None:
    config = cat_config(testdata)
    first = daemon_factory(config, subdir="a")
    [before] = receive_json(subscribe(first.endpoint), 1)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    assert Path(first.endpoint[len("ipc://"):]).exists()  # left behind by kill -9
    second = daemon_factory({**config, "publish": {"endpoint": first.endpoint}}, subdir="b")
    after = receive_json(subscribe(first.endpoint), 2)
    assert after[0]["run_id"] != before["run_id"]  # subscribers can tell it restarted
    assert second.stop() == 0


def test_sighup_applies_a_new_model_without_restarting(testdata: Path, daemon_factory) -> None:
    config = cat_config(testdata)
    d = daemon_factory(config)
    sub = subscribe(d.endpoint)
    [before] = receive_json(sub, 1)
    config["model"]["path"] = str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")
    config["model"]["top_k"] = 1
    d.write_config(config)
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while True:
        [m] = receive_json(sub, 1, timeout=60)
        if m["model"]["file"].startswith("mobilenet_v1") or time.monotonic() > deadline:
            break
    assert m["model"]["file"] == "mobilenet_v1_0.25_128_quant.tflite"
    assert len(m["classes"]) == 1
    assert m["run_id"] == before["run_id"]  # same process, same run
    assert m["seq"] > before["seq"]
    after = receive_json(sub, 5)
    assert [x["seq"] for x in after] == list(range(after[0]["seq"], after[0]["seq"] + 5))
    assert "reloaded" in d.log()
    assert d.stop() == 0


def test_sighup_with_a_bad_config_keeps_running_the_old_one(testdata: Path,
                                                          daemon_factory) -> None:
    config = cat_config(testdata)
    d = daemon_factory(config)
    sub = subscribe(d.endpoint)
    [before] = receive_json(sub, 1)
    d.config_path.write_text(d.config_path.read_text() + "bogus_section: 1\n")
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60  # a condition, not a sleep: holds under any load
    while "reload failed" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.1)
    after = receive_json(sub, 3)
    assert all(m["run_id"] == before["run_id"] for m in after)
    assert all(m["classes"][0]["label"] == "Egyptian cat" for m in after)
    log = d.log()
    assert "reload failed, still running the previous config" in log
    assert "bogus_section (line" in log and "unknown key 'bogus_section'" in log
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_pose_end_to_end(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/squat.bmp"), "fps": 20},
        "model": {"path": str(testdata / "models/movenet_single_pose_lightning_ptq.tflite"),
                  "interpolation": "nearest", "threads": 1}})
    [m] = receive_json(subscribe(d.endpoint), 1)
    msg = Prediction.model_validate(m)
    assert msg.task == "pose" and msg.keypoints is not None
    nose = msg.keypoints[0]
    assert nose.name == "nose"
    assert (nose.x, nose.y) == (pytest.approx(0.589, abs=0.04), pytest.approx(0.332, abs=0.04))
    assert d.stop() == 0


def test_segmentation_end_to_end_with_masks_topic(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/bird_segmentation.bmp"),
                   "fps": 5},
        "model": {"path": str(testdata / "models/deeplabv3_mnv2_dm05_pascal_quant.tflite"),
                  "labels": str(testdata / "labels/pascal_voc_segmentation_labels.txt")},
        "publish": {"masks": True}})
    sub = subscribe(d.endpoint, (b"edged.predictions",))  # prefix: also gets .mask
    got: dict[bytes, list] = {}
    deadline = time.monotonic() + 30
    while (len(got.get(b"edged.predictions.mask", [])) < 1 or
           len(got.get(b"edged.predictions", [])) < 1) and time.monotonic() < deadline:
        if sub.poll(1000):
            frames = sub.recv_multipart()
            got.setdefault(frames[0], []).append(frames)
    pred = json.loads(got[b"edged.predictions"][0][1])
    msg = Prediction.model_validate(pred)
    assert msg.segmentation is not None
    assert "bird" in {c.label for c in msg.segmentation.classes}
    assert len(pred) < 4000  # a compact summary, not the 513x513 map
    topic, header, png = got[b"edged.predictions.mask"][0]
    meta = json.loads(header)
    assert meta["run_id"] == pred["run_id"]
    mask = np.asarray(Image.open(io.BytesIO(png)))
    reference = np.asarray(Image.open(testdata / "images/bird_segmentation_mask.bmp"))
    common = int(np.sum(mask == reference))
    assert common / (mask.size + reference.size - common) > 0.90
    assert d.stop() == 0


def test_detection_end_to_end_with_the_generated_ssd_model(tmp_path: Path,
                                                           daemon_factory) -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[120:240, 320:480] = 255  # exactly grid cell (row 1, column 2) after the stretch
    Image.fromarray(frame).save(tmp_path / "frame.png")
    ssd = Path(__file__).parent / "models/ssd_grid.tflite"
    d = daemon_factory({"source": {"type": "images", "path": str(tmp_path / "frame.png"),
                                   "fps": 20},
                        "model": {"path": str(ssd), "interpolation": "nearest"}}, subdir="d")
    [m] = receive_json(subscribe(d.endpoint), 1)
    msg = Prediction.model_validate(m)
    assert msg.task == "detection" and msg.detections is not None
    [det] = msg.detections
    assert det.box == pytest.approx((0.5, 0.25, 0.75, 0.5), abs=1e-3)
    assert d.stop() == 0


def test_frames_are_published_as_jpeg_on_their_own_socket(testdata: Path,
                                                          daemon_factory) -> None:
    config = cat_config(testdata)
    config["publish"] = {"frames": True}
    d = daemon_factory(config, subdir="f")
    frames_endpoint = d.endpoint.rsplit("/", 1)[0] + "/frames.sock"
    fsub = subscribe(frames_endpoint, (b"edged.frames",))
    preds = receive_json(subscribe(d.endpoint), 3)
    deadline = time.monotonic() + 20
    while not fsub.poll(1000):
        assert time.monotonic() < deadline, "no frame"
    topic, header, jpeg = fsub.recv_multipart()
    meta = json.loads(header)
    assert topic == b"edged.frames"
    assert meta["run_id"] == preds[0]["run_id"] and (meta["width"], meta["height"]) == (224, 224)
    image = np.asarray(Image.open(io.BytesIO(jpeg)))
    assert image.shape == (224, 224, 3)
    assert image.mean() > 20  # the cat, not an empty buffer
    assert d.stop() == 0
