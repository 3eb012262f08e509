"""Pose, segmentation and detection decoders: real models where testdata has them, tensors
with known answers where it does not."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from edged.config import parse_config
from edged.daemon import build_model_parts
from edged.preprocess import Resizer, Transform
from edged.runtime.model import TensorInfo
from edged.sources.images import decode_image
from edged.tasks import DecoderContext, build_decoder, detect_task
from edged.tasks.detect import DetectionDecoder
from edged.tasks.nms import nms


def run_model(config_text: str, image: np.ndarray, interpolation: str = "bilinear",
              mode: str = "stretch"):
    runner, decoder, _ = build_model_parts(parse_config(config_text))
    buf = np.empty((runner.input_size[1], runner.input_size[0], 3), np.uint8)
    resizer = Resizer((image.shape[1], image.shape[0]), runner.input_size, mode,  # type: ignore[arg-type]
                      interpolation)  # type: ignore[arg-type]
    resizer(image, buf)
    runner.set_input(buf)
    runner.invoke()
    outputs = runner.new_output_buffers()
    runner.copy_outputs(outputs)
    return decoder, decoder.decode(outputs, resizer.transform)


@pytest.mark.testdata
def test_movenet_on_squat_matches_the_reference(testdata: Path) -> None:
    decoder, out = run_model(
        f"model:\n  path: {testdata}/models/movenet_single_pose_lightning_ptq.tflite\n",
        decode_image(testdata / "images/squat.bmp"), interpolation="nearest")
    assert decoder.task == "pose"
    reference = testdata / "reference/movenet_single_pose_lightning_ptq_squat.csv"
    ref = list(csv.DictReader(reference.open()))
    points = out["keypoints"]
    assert [p["name"] for p in points][:3] == ["nose", "left_eye", "right_eye"]
    assert len(points) == len(ref) == 17
    for p, r in zip(points, ref, strict=True):
        assert p["x"] == pytest.approx(float(r["keypoint_x"]), abs=0.04), p["name"]
        assert p["y"] == pytest.approx(float(r["keypoint_y"]), abs=0.04), p["name"]


def upstream_iou(pred: np.ndarray, mask: np.ndarray) -> float:
    """The upstream (coral) measure: equal pixels / (|a| + |b| - equal pixels)."""
    common = int(np.sum(pred == mask))
    return common / (pred.size + mask.size - common)


@pytest.mark.testdata
def test_deeplab_bird_summary_and_mask_iou(testdata: Path) -> None:
    decoder, out = run_model(
        f"model:\n  path: {testdata}/models/deeplabv3_mnv2_dm05_pascal_quant.tflite\n"
        f"  labels: {testdata}/labels/pascal_voc_segmentation_labels.txt\n"
        "publish:\n  masks: true\n",
        decode_image(testdata / "images/bird_segmentation.bmp"))
    seg = out["segmentation"]
    assert (seg["width"], seg["height"]) == (513, 513)
    by_label = {c["label"]: c for c in seg["classes"]}
    assert by_label["bird"]["fraction"] > 0.15
    assert sum(c["fraction"] for c in seg["classes"]) == pytest.approx(1.0, abs=1e-3)
    x0, y0, x1, y1 = by_label["bird"]["box"]
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    pred = np.asarray(Image.open(io.BytesIO(out["_mask"])))
    mask = np.asarray(Image.open(testdata / "images/bird_segmentation_mask.bmp"))
    assert upstream_iou(pred, mask) > 0.90


@pytest.mark.testdata
def test_auto_task_detection_for_every_test_model(testdata: Path) -> None:
    expected = {"mobilenet_v2_1.0_224_quant.tflite": "classification",
                "mobilenet_v1_0.25_128_quant.tflite": "classification",
                "movenet_single_pose_lightning_ptq.tflite": "pose",
                "deeplabv3_mnv2_dm05_pascal_quant.tflite": "segmentation"}
    for name, task in expected.items():
        runner, decoder, _ = build_model_parts(parse_config(
            f"model:\n  path: {testdata}/models/{name}\n"))
        assert decoder.task == task, name
        assert detect_task(runner.outputs) == task


# --- detection on tensors with known boxes ------------------------------------------------

def cfg(**kw: object) -> SimpleNamespace:
    base = {"threshold": 0.5, "class_thresholds": {}, "classes": None, "max_detections": 10,
            "iou_threshold": 0.5, "top_k": 5}
    return SimpleNamespace(**{**base, **kw})


def yolo_v8_tensor(dets: list[tuple[float, float, float, float, int, float]], n: int = 50,
                   classes: int = 3, size: int = 320) -> np.ndarray:
    """[1, 4 + C, N] with the given (cx, cy, w, h in pixels, class, score) and noise rows."""
    t = np.zeros((1, 4 + classes, n), np.float32)
    t[0, :4, :] = 10.0  # tiny background boxes with zero scores
    for j, (cx, cy, w, h, c, s) in enumerate(dets):
        t[0, :4, j] = (cx, cy, w, h)
        t[0, 4 + c, j] = s
    return t


def yolo_decoder(shape: tuple[int, ...], dtype=np.float32, scale=0.0, zp=0,
                 labels: list[str] | None = None, **kw: object) -> DetectionDecoder:
    info = TensorInfo(0, "output0", shape, np.dtype(dtype), scale, zp)
    label_map = dict(enumerate(labels)) if labels else None
    ctx = DecoderContext([info], "m.tflite", cfg(**kw), label_map, "test", input_size=(320, 320))
    dec = build_decoder("detection", ctx)
    assert isinstance(dec, DetectionDecoder)
    return dec


def test_yolo_v8_boxes_scores_and_class_aware_nms() -> None:
    t = yolo_v8_tensor([(160, 80, 64, 32, 0, 0.9),   # kept
                        (162, 80, 64, 32, 0, 0.8),   # same class, overlaps: suppressed
                        (162, 80, 64, 32, 2, 0.7),   # other class, overlaps: kept
                        (40, 300, 20, 20, 1, 0.3)])  # under the threshold
    dec = yolo_decoder(t.shape, labels=["person", "car", "dog"])
    dets = dec.decode([t], Transform())["detections"]
    assert [(d["label"], d["score"]) for d in dets] == [("person", 0.9), ("dog", 0.7)]
    assert dets[0]["box"] == pytest.approx([0.4, 0.2, 0.6, 0.3])


def test_yolo_v5_layout_multiplies_objectness_and_int8_dequantizes() -> None:
    real = np.zeros((1, 30, 5 + 2), np.float32)
    real[0, :, :4] = 0.01
    real[0, 3] = [0.5, 0.5, 0.2, 0.4, 0.9, 0.1, 1.0]  # normalized coords, class 1, 0.9
    scale, zp = 1 / 128, 0
    q = np.clip(np.round(real / scale) + zp, -128, 127).astype(np.int8)
    dec = yolo_decoder(q.shape, np.int8, scale, zp)
    [d] = dec.decode([q], Transform())["detections"]
    assert d["index"] == 1 and d["score"] == pytest.approx(0.9 * 127 / 128, abs=0.01)
    assert d["box"] == pytest.approx([0.4, 0.3, 0.6, 0.7], abs=0.01)


def test_yolo_no_detections_and_all_over_threshold_capped() -> None:
    empty = yolo_v8_tensor([])
    assert yolo_decoder(empty.shape).decode([empty], Transform()) == {"detections": []}
    many = yolo_v8_tensor([(16 + 32 * i, 16, 20, 20, 0, 0.6 + i * 0.01) for i in range(9)])
    dets = yolo_decoder(many.shape, max_detections=4).decode([many], Transform())["detections"]
    assert [d["score"] for d in dets] == [0.68, 0.67, 0.66, 0.65]


def test_ties_keep_the_lower_index_and_degenerate_boxes_are_dropped() -> None:
    t = yolo_v8_tensor([(50, 50, 20, 20, 0, 0.8), (250, 250, 20, 20, 0, 0.8),
                        (100, 100, 0, 20, 0, 0.95), (100, 100, 20, -5, 0, 0.95)])
    dets = yolo_decoder(t.shape).decode([t], Transform())["detections"]
    assert [d["box"][0] for d in dets] == pytest.approx([40 / 320, 240 / 320])


def test_allow_list_and_per_class_thresholds() -> None:
    t = yolo_v8_tensor([(50, 50, 20, 20, 0, 0.8), (150, 150, 20, 20, 1, 0.8),
                        (250, 250, 20, 20, 2, 0.6)])
    labels = ["person", "car", "dog"]
    only = yolo_decoder(t.shape, labels=labels, classes=["car", 2])
    assert [d["label"] for d in only.decode([t], Transform())["detections"]] == ["car", "dog"]
    strict = yolo_decoder(t.shape, labels=labels, class_thresholds={"dog": 0.7})
    assert [d["label"] for d in strict.decode([t], Transform())["detections"]] == ["person", "car"]


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center-crop"])
def test_boxes_are_mapped_back_to_the_original_frame(mode: str) -> None:
    """A box found in model space lands where the object is in a 640x480 frame."""
    r = Resizer((640, 480), (320, 320), mode)  # type: ignore[arg-type]
    frame_box = np.array([0.5, 0.25, 0.75, 0.75])  # the object, normalized in the frame
    # where that object appears in the model input: invert x = m * scale + offset
    tr = r.transform
    mx = (frame_box[[0, 2]] - tr.offset_x) / tr.scale_x
    my = (frame_box[[1, 3]] - tr.offset_y) / tr.scale_y
    cx, cy = mx.mean() * 320, my.mean() * 320
    w, h = (mx[1] - mx[0]) * 320, (my[1] - my[0]) * 320
    t = yolo_v8_tensor([(cx, cy, w, h, 0, 0.9)])
    [d] = yolo_decoder(t.shape).decode([t], r.transform)["detections"]
    expected = frame_box if mode != "center-crop" else np.clip(frame_box, 0.125, 0.875)
    assert d["box"] == pytest.approx(expected.tolist(), abs=1e-3)


def test_ssd_outputs_found_by_shape_whatever_their_order() -> None:
    n = 5
    boxes = np.zeros((1, n, 4), np.float32)
    boxes[0, 0] = [0.1, 0.2, 0.5, 0.6]  # ymin, xmin, ymax, xmax
    boxes[0, 1] = [0.3, 0.3, 0.4, 0.4]
    classes = np.array([[3, 1, 0, 0, 0]], np.float32)
    scores = np.array([[0.9, 0.4, 0.1, 0, 0]], np.float32)
    count = np.array([3], np.float32)
    tensors = {"count": count, "scores": scores, "boxes": boxes, "classes": classes}
    order = ["count", "scores", "boxes", "classes"]  # shuffled, names tell nothing
    infos = [TensorInfo(i, f"output_{i}", tensors[k].shape, np.dtype(np.float32), 0.0, 0)
             for i, k in enumerate(order)]
    ctx = DecoderContext(infos, "ssd.tflite", cfg(threshold=0.3), None, None, input_size=(64, 64))
    dec = build_decoder("auto", ctx)
    assert dec.task == "detection"
    dets = dec.decode([tensors[k] for k in order], Transform())["detections"]
    assert [(d["index"], d["score"]) for d in dets] == [(3, 0.9), (1, 0.4)]
    assert dets[0]["box"] == pytest.approx([0.2, 0.1, 0.6, 0.5])


def test_nms_keeps_best_and_is_class_aware() -> None:
    b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float64)
    kept = nms(b, np.array([0.5, 0.9, 0.7]), np.array([0, 0, 1]), 0.5, 10)
    assert kept.tolist() == [1, 2]


@pytest.mark.testdata
def test_labels_packed_in_the_model_are_used_when_none_are_configured(testdata: Path,
                                                                     caplog) -> None:
    import logging

    from edged.metadata import packed_labels
    packed = packed_labels(testdata / "models/mobilenet_v2_1.0_224_quant.tflite")
    assert packed is not None and packed[1] == "imagenet_labels.txt"
    assert packed_labels(testdata / "models/movenet_single_pose_lightning_ptq.tflite") is None
    with caplog.at_level(logging.INFO, logger="edged.daemon"):
        _, out = run_model(
            f"model:\n  path: {testdata}/models/mobilenet_v2_1.0_224_quant.tflite\n",
            decode_image(testdata / "images/parrot.jpg"))
    assert out["classes"][0]["label"] == "macaw"
    assert "labels from metadata:mobilenet_v2_1.0_224_quant.tflite:imagenet_labels.txt" \
        in caplog.text


def test_garbage_zip_tail_is_not_labels(tmp_path: Path) -> None:
    from edged.metadata import packed_labels
    f = tmp_path / "m.tflite"
    f.write_bytes(b"\0" * 100 + b"PK\x05\x06" + b"\xff" * 18)
    assert packed_labels(f) is None


# --- SSD: a generated model that really contains TFLite_Detection_PostProcess --------------

SSD_MODEL = Path(__file__).parent / "models" / "ssd_grid.tflite"  # scripts/make_ssd_test_model.py


def test_ssd_model_really_has_the_postprocess_op_and_shuffled_outputs() -> None:
    from edged.runtime.modelfile import read_model_file

    assert "TFLite_Detection_PostProcess" in read_model_file(SSD_MODEL).operator_codes
    runner, decoder, _ = build_model_parts(parse_config(f"model:\n  path: {SSD_MODEL}\n"))
    assert decoder.task == "detection"
    shapes = [t.shape for t in runner.outputs]
    assert shapes != [(1, 10, 4), (1, 10), (1, 10), (1,)]  # not in the op's own order


@pytest.mark.parametrize("mode,frame_size", [("stretch", (640, 480)),
                                             ("letterbox", (512, 256)),
                                             ("center-crop", (640, 320))])
def test_ssd_boxes_land_on_the_object_for_every_resize_mode(mode: str,
                                                            frame_size: tuple[int, int]) -> None:
    """Paint exactly the frame region that one grid cell of the model sees; the detector must
    report that region, in frame coordinates, whatever the resize did."""
    w, h = frame_size
    tr = Resizer(frame_size, (64, 64), mode).transform  # type: ignore[arg-type]
    cell = (0.5, 0.25, 0.75, 0.5)  # model-normalized x0, y0, x1, y1: grid row 1, column 2
    region = (float(tr.x(cell[0])), float(tr.y(cell[1])), float(tr.x(cell[2])),
              float(tr.y(cell[3])))
    frame = np.zeros((h, w, 3), np.uint8)
    rows = slice(round(region[1] * h), round(region[3] * h))
    frame[rows, round(region[0] * w):round(region[2] * w)] = 255
    _, out = run_model(f"model:\n  path: {SSD_MODEL}\n  resize: {mode}\n", frame,
                       interpolation="nearest", mode=mode)
    [det] = out["detections"]
    assert det["index"] == 0 and det["score"] > 0.9
    assert det["box"] == pytest.approx(list(region), abs=1e-3)


def test_ssd_black_frame_has_no_detections() -> None:
    _, out = run_model(f"model:\n  path: {SSD_MODEL}\n", np.zeros((64, 64, 3), np.uint8))
    assert out == {"detections": []}


def test_ssd_two_objects_best_first_and_labels(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("thing\n")
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[0:16, 0:16] = 255
    frame[48:64, 48:64] = 200
    _, out = run_model(f"model:\n  path: {SSD_MODEL}\n  labels: {labels}\n", frame)
    dets = out["detections"]
    assert [d["label"] for d in dets] == ["thing", "thing"]
    assert dets[0]["score"] >= dets[1]["score"]
    assert {tuple(d["box"]) for d in dets} == {(0.0, 0.0, 0.25, 0.25), (0.75, 0.75, 1.0, 1.0)}


def test_yolo_uint8_output_dequantizes() -> None:
    real = yolo_v8_tensor([(160, 160, 64, 64, 1, 0.8)], n=20, classes=2)
    scale, zp = 2.0, 10  # coordinates in pixels need a coarse scale to fit in uint8
    q = np.clip(np.round(real / scale) + zp, 0, 255).astype(np.uint8)
    q[0, 4:, :] = zp  # scores: zero...
    q[0, 4 + 1, 0] = zp + 1  # ... except one: (11 - 10) * 2.0 = 2.0, clipped to a "score"
    dec = yolo_decoder(q.shape, np.uint8, scale, zp, threshold=0.5)
    [d] = dec.decode([q], Transform())["detections"]
    assert d["index"] == 1
    assert d["box"] == pytest.approx([0.4, 0.4, 0.6, 0.6], abs=0.01)


# --- the per-frame cost work: raw-score thresholding, matrix NMS, uint8 class maps ---------

def test_raw_threshold_is_the_first_raw_value_reaching_the_threshold() -> None:
    from edged.quant import dequantize
    from edged.tasks.detect import raw_threshold

    for dtype, scale, zp in ((np.int8, 0.0187, -14), (np.uint8, 1 / 256, 0), (np.int8, 0.01, 5)):
        for thr in (0.0, 0.25, 0.5, 0.999):
            q = raw_threshold(np.dtype(dtype).str, scale, zp, thr)
            ii = np.iinfo(dtype)
            values = dequantize(np.arange(ii.min, ii.max + 1).astype(dtype), scale, zp)
            expected = [v for v, r in zip(range(ii.min, ii.max + 1), values, strict=True)
                        if r >= thr]
            assert q == (expected[0] if expected else None), (dtype, scale, zp, thr)
    assert raw_threshold(np.dtype(np.float32).str, 0.0, 0, 0.3) == 0.3


def reference_yolo_v8(q: np.ndarray, scale: float, zp: int, thr: float) -> set[tuple]:
    """Everything dequantized first, the straightforward way."""
    real = (q[0].astype(np.float64) - zp) * scale
    cls = real[4:]
    best, arg = cls.max(axis=0), cls.argmax(axis=0)
    return {(int(j), int(arg[j]), round(float(best[j]), 4))
            for j in np.flatnonzero(best >= thr - 1e-7)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_yolo_raw_thresholding_finds_exactly_the_anchors_a_full_dequantize_finds(
        seed: int) -> None:
    from edged.tasks.detect import split_yolo
    from edged.yolo import YoloLayout

    rng = np.random.default_rng(seed)
    scale, zp, thr = 0.0187, -128, 0.25
    q = rng.integers(-128, -112, (1, 84, 8400)).astype(np.int8)  # background under 0.3
    q[0, :4] = rng.integers(-100, 127, (4, 8400))
    for j in rng.integers(0, 8400, 40):  # objects, some right at the threshold
        q[0, 4 + rng.integers(0, 80), j] = rng.integers(-115, 127)
    info = TensorInfo(0, "out", (1, 84, 8400), np.dtype(np.int8), scale, zp)
    boxes, classes, scores = split_yolo(q, info, YoloLayout("v8", classes=80), (640, 640), thr)
    want = reference_yolo_v8(q, scale, zp, thr)
    assert len(want) >= 20 and len(boxes) == len(want)
    got = sorted((int(c), round(float(s), 4)) for c, s in zip(classes, scores, strict=True))
    assert got == sorted((c, s) for _, c, s in want)


def test_yolo_v5_raw_prefilter_keeps_every_anchor_over_the_threshold() -> None:
    from edged.tasks.detect import split_yolo
    from edged.yolo import YoloLayout

    rng = np.random.default_rng(3)
    scale, zp = 1 / 255, -128
    q = rng.integers(-128, 127, (1, 2000, 5 + 3)).astype(np.int8)
    info = TensorInfo(0, "out", q.shape, np.dtype(np.int8), scale, zp)
    _, classes, scores = split_yolo(q, info, YoloLayout("v5", classes=3), (320, 320), 0.5)
    real = (q[0].astype(np.float32) - np.float32(zp)) * np.float32(scale)
    s = real[:, 5:] * real[:, 4:5]
    best = s.max(axis=1)
    assert sorted(scores[scores >= 0.5].tolist()) == pytest.approx(sorted(best[best >= 0.5]))


@pytest.mark.parametrize("n", [1, 30, 400, 700])
def test_matrix_nms_agrees_with_the_one_by_one_loop(n: int) -> None:
    from edged.tasks import nms as nms_module

    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 0.8, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.02, 0.2, (n, 2))], axis=1)
    scores = rng.uniform(0, 1, n).round(2)  # ties too
    classes = rng.integers(0, 3, n)
    fast = nms(boxes, scores, classes, 0.45, 50)
    saved = nms_module.MATRIX_MAX
    nms_module.MATRIX_MAX = -1  # force the loop
    try:
        slow = nms(boxes, scores, classes, 0.45, 50)
    finally:
        nms_module.MATRIX_MAX = saved
    assert fast.tolist() == slow.tolist()


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_segmentation_summary_matches_per_class_masks(dtype: type) -> None:
    from edged.tasks.segment import SegmentationDecoder

    h, w = 97, 131
    m = np.zeros((1, h, w), dtype)
    m[0, 10:40, 20:90] = 3
    m[0, 50:96, 5:7] = 20
    if np.dtype(dtype).kind == "i":
        m[0, 0, 0] = -1  # negative indices count as background, as before
    info = TensorInfo(0, "seg", (1, h, w), np.dtype(dtype), 0.0, 0)
    dec = SegmentationDecoder(info, None, 21, 0.0, want_mask=True)
    for _ in range(2):  # the uint8 buffer is reused across frames
        fields = dec.decode([m], Transform())
    got = {c["index"]: c for c in fields["segmentation"]["classes"]}
    assert set(got) == {0, 3, 20}
    assert got[3]["fraction"] == pytest.approx(30 * 70 / (h * w), abs=1e-5)
    assert got[3]["box"] == pytest.approx([20 / w, 10 / h, 90 / w, 40 / h], abs=1e-5)
    assert got[20]["box"] == pytest.approx([5 / w, 50 / h, 7 / w, 96 / h], abs=1e-5)
    mask = np.asarray(Image.open(io.BytesIO(fields["_mask"])))
    assert mask[0, 0] == 0 and mask[20, 30] == 3 and mask[60, 6] == 20
