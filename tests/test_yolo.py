"""Ultralytics YOLO exports: packed model card (both formats), pixel / 255 input, 114 letterbox,
names as labels, NMS-built-in and segment layouts, refusals by name.

The models in tests/models/yolo_*.tflite come from scripts/make_yolo_test_model.py: a pure red
8x8 square on grey, aligned to the 8x8 grid of the 64x64 input, is found with a score near 1
only when the input is pixel / 255 (see the script).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, receive_json, subscribe
from PIL import Image

from edged.errors import ModelError
from edged.messages import Prediction
from edged.metadata import packed_labels, ultralytics_metadata
from edged.preprocess import ResizerCache, Transform
from edged.runtime.model import ModelRunner, TensorInfo
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime
from edged.tasks import DecoderContext, build_decoder
from edged.tasks.detect import DetectionDecoder

MODELS = Path(__file__).parent / "models"
NAMES = {0: "red square", 1: "green square", 2: "blue square"}
# the red square on cell (row 2, column 5) of the 8x8 grid
EXPECTED_BOX = (5 / 8, 2 / 8, 6 / 8, 3 / 8)


def planted_png(path: Path, scale: int = 2) -> Path:
    """A grey frame (64 * scale square) with a pure red square exactly on cell (2, 5)."""
    img = np.full((64, 64, 3), 128, np.uint8)
    img[16:24, 40:48] = (255, 0, 0)
    Image.fromarray(img).resize((64 * scale, 64 * scale), Image.NEAREST).save(path)
    return path


def yolo_config(model: str, image: Path, **model_keys: object) -> dict:
    return {"source": {"type": "images", "path": str(image), "fps": 30},
            "model": {"path": str(MODELS / model), "threads": 1, **model_keys}}


@pytest.mark.parametrize("model, label", [("yolo_int8_json.tflite", "red square"),
                                          ("yolo_int8_dict.tflite", "red square"),
                                          ("yolo_int8_bare.tflite", None),
                                          ("yolo_float_json.tflite", "red square")])
def test_daemon_finds_the_planted_object_with_default_input(model: str, label: str | None,
                                                            tmp_path: Path,
                                                            daemon_factory) -> None:
    image = planted_png(tmp_path / "planted.png")
    d = daemon_factory(yolo_config(model, image), subdir="d")
    [m] = receive_json(subscribe(d.endpoint), 1, timeout=60)
    msg = Prediction.model_validate(m)
    assert msg.task == "detection" and msg.detections is not None
    [det] = msg.detections
    assert (det.index, det.label) == (0, label)
    assert det.score > 0.9
    assert det.box == pytest.approx(EXPECTED_BOX, abs=0.01)
    assert d.stop() == 0


@pytest.mark.parametrize("model", ["yolo_int8_json.tflite", "yolo_int8_bare.tflite"])
def test_yolo_frames_are_letterboxed_by_default(model: str, tmp_path: Path,
                                                daemon_factory) -> None:
    """A 4:3 frame: letterboxed (as Ultralytics predicts) the red square lands exactly on a
    grid cell; stretched it would straddle two rows of cells."""
    frame = np.full((96, 128, 3), 128, np.uint8)
    frame[32:48, 80:96] = (255, 0, 0)
    Image.fromarray(frame).save(tmp_path / "wide.png")
    d = daemon_factory(yolo_config(model, tmp_path / "wide.png", interpolation="nearest"),
                       subdir="d")
    [m] = receive_json(subscribe(d.endpoint), 1, timeout=60)
    [det] = m["detections"]
    assert det["score"] > 0.9
    assert det["box"] == pytest.approx([80 / 128, 32 / 96, 96 / 128, 48 / 96], abs=0.01)
    assert d.stop() == 0


@pytest.mark.parametrize("normalize", [{"mean": 128, "std": 128},  # old int8 default
                                       {"mean": 127.5, "std": 127.5}])  # old float default
def test_explicit_normalize_wins_and_wrong_input_finds_nothing(normalize: dict, tmp_path: Path,
                                                               daemon_factory) -> None:
    image = planted_png(tmp_path / "planted.png")
    d = daemon_factory(yolo_config("yolo_int8_json.tflite", image, normalize=normalize),
                       subdir="d")
    msgs = receive_json(subscribe(d.endpoint), 3, timeout=60)
    assert all(m["detections"] == [] for m in msgs)
    assert d.stop() == 0


def runner(model: str, **norm: float) -> ModelRunner:
    return ModelRunner(read_model_file(MODELS / model), select_runtime("auto"), 1,
                       mean=norm.get("mean"), std=norm.get("std"))


@pytest.mark.parametrize("model", ["yolo_int8_json.tflite", "yolo_int8_dict.tflite",
                                   "yolo_int8_bare.tflite"])
def test_card_or_not_the_same_input_tensor(model: str) -> None:
    """A model without metadata gets exactly the input the one with metadata gets."""
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ref, r = runner("yolo_int8_json.tflite"), runner(model)
    ref.set_input(image)
    r.set_input(image)
    got = r.interpreter.tensor(r.input.index)()[0].copy()
    assert np.array_equal(got, ref.interpreter.tensor(ref.input.index)()[0])
    # and it is pixel / 255 quantized with the model's own scale and zero point
    t = r.input
    expected = np.clip(np.rint(image / 255.0 / t.scale) + t.zero_point, -128, 127)
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert (r.plan.mean, r.plan.std, r.plan.pad_value) == (0.0, 255.0, 114)


def test_plan_origin_says_where_the_normalization_came_from() -> None:
    assert runner("yolo_int8_json.tflite").plan.origin.startswith(
        "packed metadata (metadata.json")
    assert runner("yolo_int8_dict.tflite").plan.origin.startswith(
        "packed metadata (temp_meta.txt")
    assert runner("yolo_int8_bare.tflite").plan.origin.startswith("model outputs (YOLO-shaped")
    assert runner("yolo_int8_json.tflite", mean=1, std=2).plan.origin == \
        "config (model.normalize)"
    assert runner("ssd_grid.tflite").plan.origin.startswith("model input dtype (float32")


def test_letterbox_bars_are_114_grey_for_yolo() -> None:
    r = runner("yolo_int8_bare.tflite")
    resizer = ResizerCache((64, 64), "letterbox", "nearest", r.plan.pad_value).get((128, 64))
    out = np.zeros((64, 64, 3), np.uint8)
    resizer(np.full((64, 128, 3), 200, np.uint8), out)
    assert (out[:16] == 114).all() and (out[48:] == 114).all() and (out[16:48] == 200).all()
    assert runner("ssd_grid.tflite").plan.pad_value == 0


# --- the packed card ---------------------------------------------------------------------


def test_both_card_formats_give_names_task_and_imgsz() -> None:
    for model, member in (("yolo_int8_json.tflite", "metadata.json"),
                          ("yolo_int8_dict.tflite", "temp_meta.txt")):
        meta = ultralytics_metadata(MODELS / model)
        assert meta is not None
        assert (meta.member, meta.task, meta.imgsz, meta.names) == \
            (member, "detect", (64, 64), NAMES)
        assert packed_labels(MODELS / model) == (NAMES, f"{member}:names")
    assert ultralytics_metadata(MODELS / "yolo_int8_bare.tflite") is None


def with_card(tmp_path: Path, member: str, text: str | bytes, name: str = "m.tflite") -> Path:
    path = tmp_path / name
    path.write_bytes((MODELS / "yolo_int8_bare.tflite").read_bytes())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text)
    return path


def test_dict_literal_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    path = with_card(tmp_path, "temp_meta.txt",
                     "{'task': 'detect', 'stride': 8, 'names': " + code + "}")
    assert ultralytics_metadata(path) is None
    assert not marker.exists()
    assert packed_labels(path) is None  # and the card is not read as a label file


def test_a_card_is_never_taken_for_a_label_file(tmp_path: Path) -> None:
    # unparseable card beside a real label file: the label file is used, not the card
    path = with_card(tmp_path, "temp_meta.txt", "{'task': ")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("labels.txt", "a\nb\nc\n")
    assert packed_labels(path) == ({0: "a", 1: "b", 2: "c"}, "labels.txt")


def test_oversized_card_is_not_read(tmp_path: Path) -> None:
    # 64 MB of names compressed to ~64 kB: the read stops at the cap
    big = json.dumps({"task": "detect", "stride": 8, "names": {"0": "x" * (64 << 20)}})
    path = with_card(tmp_path, "metadata.json", big)
    assert path.stat().st_size < 1 << 20
    assert ultralytics_metadata(path) is None


def ctx_for(path: Path, outputs: list[TensorInfo], size: tuple[int, int] = (64, 64),
            labels: dict[int, str] | None = None) -> DecoderContext:
    cfg = SimpleNamespace(threshold=0.25, class_thresholds={}, classes=None, max_detections=10,
                          iou_threshold=0.45)
    return DecoderContext(outputs, str(path), cfg, labels, "test", input_size=size)


@pytest.mark.parametrize("task, kpt_shape", [("obb", None), ("pose", [5, 3])])
def test_exports_that_fit_no_task_are_refused_by_name(task: str, kpt_shape: list | None,
                                                      tmp_path: Path) -> None:
    path = with_card(tmp_path, "metadata.json",
                     json.dumps({"task": task, "stride": 8, "imgsz": [64, 64],
                                 "names": {"0": "thing"}, "kpt_shape": kpt_shape}))
    out = TensorInfo(0, "output0", (1, 20, 84), np.dtype(np.float32), 0.0, 0)
    with pytest.raises(ModelError, match=f"Ultralytics '{task}' export"):
        build_decoder("auto", ctx_for(path, [out]))


def test_pose_export_publishes_the_best_persons_keypoints(tmp_path: Path) -> None:
    path = with_card(tmp_path, "metadata.json",
                     json.dumps({"task": "pose", "stride": 8, "imgsz": [64, 64],
                                 "names": {"0": "person"}, "kpt_shape": [17, 3]}))
    out = TensorInfo(0, "output0", (1, 56, 84), np.dtype(np.float32), 0.0, 0)
    dec = build_decoder("auto", ctx_for(path, [out]))
    assert dec.task == "pose"
    raw = np.zeros((1, 56, 84), np.float32)
    raw[0, :4, 3] = (32, 32, 20, 40)  # pixels: the keypoints are pixels too
    raw[0, 4, 3], raw[0, 4, 9] = 0.9, 0.6  # two people: the first wins
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = np.arange(17) + 24  # x pixels
    kp[:, 1] = 16.0  # y pixels
    kp[:, 2] = 0.8
    raw[0, 5:, 3] = kp.ravel()
    raw[0, 5:, 9] = 1.0  # the other person's keypoints must not be used
    msg = dec.decode([raw], Transform(scale_x=0.5, offset_x=0.25))  # e.g. a crop
    assert [p["name"] for p in msg["keypoints"]][:2] == ["nose", "left_eye"]
    nose = msg["keypoints"][0]
    assert (nose["x"], nose["y"], nose["score"]) == pytest.approx((0.25 + 0.5 * 24 / 64,
                                                                    16 / 64, 0.8))
    assert msg["pose_score"] == pytest.approx(0.8)
    raw[0, 4] = 0.1  # nobody
    assert dec.decode([raw], Transform()) == {"keypoints": [], "pose_score": 0.0}


def test_imgsz_that_contradicts_the_input_is_refused(tmp_path: Path) -> None:
    path = with_card(tmp_path, "metadata.json",
                     json.dumps({"task": "detect", "stride": 8, "imgsz": [640, 640],
                                 "names": NAMES}))
    out = TensorInfo(0, "output0", (1, 7, 64), np.dtype(np.float32), 0.0, 0)
    with pytest.raises(ModelError, match="imgsz 640x640"):
        build_decoder("auto", ctx_for(path, [out]))


def test_nms_built_in_export_decodes(tmp_path: Path) -> None:
    path = with_card(tmp_path, "metadata.json",
                     json.dumps({"task": "detect", "stride": 8, "imgsz": [64, 64],
                                 "names": NAMES, "args": {"nms": True}}))
    out = TensorInfo(0, "output0", (1, 300, 6), np.dtype(np.float32), 0.0, 0)
    dec = build_decoder("auto", ctx_for(path, [out], labels=NAMES))
    assert isinstance(dec, DetectionDecoder) and dec.yolo is not None
    assert dec.yolo.kind == "nms"
    raw = np.zeros((1, 300, 6), np.float32)
    raw[0, 0] = (32, 16, 48, 32, 0.9, 2)  # pixels of the 64x64 input
    raw[0, 1] = (33, 17, 47, 31, 0.8, 2)  # overlapping: the export's NMS kept it, so do we
    dets = dec.decode([raw], Transform())["detections"]
    assert [(d["label"], d["score"]) for d in dets] == [("blue square", 0.9),
                                                         ("blue square", 0.8)]
    assert dets[0]["box"] == pytest.approx([0.5, 0.25, 0.75, 0.5])


def test_segment_export_publishes_its_boxes(tmp_path: Path) -> None:
    path = with_card(tmp_path, "metadata.json",
                     json.dumps({"task": "segment", "stride": 8, "imgsz": [64, 64],
                                 "names": NAMES}))
    outs = [TensorInfo(0, "output0", (1, 4 + 3 + 32, 64), np.dtype(np.float32), 0.0, 0),
            TensorInfo(1, "output1", (1, 16, 16, 32), np.dtype(np.float32), 0.0, 0)]
    dec = build_decoder("auto", ctx_for(path, outs, labels=NAMES))
    raw = np.zeros((1, 39, 64), np.float32)
    raw[0, :4, 7] = (0.5, 0.5, 0.25, 0.25)
    raw[0, 5, 7] = 0.7  # class 1
    raw[0, 7:, :] = 5.0  # mask coefficients: never read as class scores
    dets = dec.decode([raw, np.zeros((1, 16, 16, 32), np.float32)], Transform())["detections"]
    assert [(d["label"], d["score"]) for d in dets] == [("green square", 0.7)]


def test_check_config_prints_the_plan(tmp_path: Path) -> None:
    image = planted_png(tmp_path / "planted.png")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(yolo_config("yolo_int8_dict.tflite", image, resize="letterbox")))
    res = subprocess.run([sys.executable, "-m", "edged", "check-config", str(cfg)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "normalize: real = (pixel - 0) / 255, from packed metadata (temp_meta.txt" \
        in res.stderr
    assert "mode letterbox (config), bars filled with 114" in res.stderr
    assert "labels: 3 names packed in the model (temp_meta.txt:names)" in res.stderr


def test_doctor_prints_the_plan(tmp_path: Path) -> None:
    image = planted_png(tmp_path / "planted.png")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(yolo_config("yolo_int8_bare.tflite", image,
                                          normalize={"mean": 127.5, "std": 127.5})))
    res = subprocess.run([sys.executable, "-m", "edged", "doctor", "--config", str(cfg),
                          "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "EDGED_SYSFS_ROOT": str(tmp_path / "sys")})
    [plan] = [c for c in json.loads(res.stdout) if c["name"] == "preprocessing"]
    assert "normalize: real = (pixel - 127.5) / 127.5, from config (model.normalize)" \
        in plan["detail"]
    assert "mode letterbox (default for YOLO exports, as Ultralytics predicts), bars filled " \
        "with 114" in plan["detail"]


def test_a_fifo_is_never_opened_for_metadata(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.tflite")  # opening it for reading would block forever
    assert ultralytics_metadata(tmp_path / "model.tflite") is None
    assert packed_labels(tmp_path / "model.tflite") is None
