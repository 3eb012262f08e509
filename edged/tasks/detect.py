"""Object detection: SSD (TFLite_Detection_PostProcess: boxes, classes, scores, count) and
YOLO outputs (v5 [1, N, 5+C], v8/v11 [1, 4+C, N], Ultralytics segment exports' boxes, and
Ultralytics exports with NMS built in [1, N, 6]). Boxes are published as normalized
[xmin, ymin, xmax, ymax] of the original frame."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edged.errors import ModelError
from edged.labels import Labels, align_labels
from edged.metadata import UltralyticsMeta, ultralytics_metadata
from edged.preprocess import Transform
from edged.quant import dequantize
from edged.runtime.model import TensorInfo
from edged.tasks import DecoderContext, TaskSpec
from edged.tasks.nms import nms
from edged.tasks.pose import COCO_KEYPOINTS
from edged.yolo import YoloLayout, yolo_layout

log = logging.getLogger("edged.tasks.detect")
PERSON_THRESHOLD = 0.25  # YOLO pose: Ultralytics' default confidence


def _ssd_roles(outputs: list[TensorInfo]) -> dict[str, int] | None:
    """Which output is boxes / count / the two [1, N] ones, by shape (export order varies)."""
    if len(outputs) != 4:
        return None
    boxes = [i for i, t in enumerate(outputs) if len(t.shape) == 3 and t.shape[2] == 4]
    count = [i for i, t in enumerate(outputs) if t.shape in ((1,), ())]
    pairs = [i for i, t in enumerate(outputs) if len(t.shape) == 2 and t.shape[0] == 1]
    if len(boxes) != 1 or len(count) != 1 or len(pairs) != 2:
        return None
    n = outputs[boxes[0]].shape[1]
    if any(outputs[i].shape[1] != n for i in pairs):
        return None
    a, b = pairs
    names = (outputs[a].name.lower(), outputs[b].name.lower())
    if "score" in names[0] or "class" in names[1]:
        a, b = b, a
    elif names[0].endswith(":2") and names[1].endswith(":1"):
        # the op's own output order (boxes :0, classes :1, scores :2, count :3) survives in
        # the tensor names of SavedModel exports even when the tensors are shuffled
        a, b = b, a
    return {"boxes": boxes[0], "count": count[0], "classes": a, "scores": b,
            "named": int(any(k in n for n in names for k in ("score", "class", ":1", ":2")))}


def matches(outputs: list[TensorInfo]) -> bool:
    return _ssd_roles(outputs) is not None or yolo_layout(outputs) is not None


def split_ssd(outputs: list[np.ndarray], roles: dict[str, int],
              infos: list[TensorInfo]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes [n, 4] as x0,y0,x1,y1 in model coords, classes [n], scores [n])."""
    def real(role: str) -> np.ndarray:
        t = infos[roles[role]]
        return dequantize(outputs[roles[role]], t.scale, t.zero_point)

    n = int(real("count").reshape(-1)[0])
    boxes, classes, scores = real("boxes")[0], real("classes")[0], real("scores")[0]
    n = max(0, min(n, boxes.shape[0]))
    classes, scores = classes[:n], scores[:n]
    # when names did not tell, the class tensor is the one holding whole numbers
    if not roles["named"] and not _whole(classes) and _whole(scores):
        classes, scores = scores, classes
    yx = boxes[:n]
    return yx[:, [1, 0, 3, 2]], classes.astype(np.int64), scores


def _whole(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def _to_unit(x: np.ndarray, y: np.ndarray, coords: np.ndarray,
             input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    if coords.size and float(np.max(coords)) > 2.0:  # pixels of the input, not 0..1
        return x / input_size[0], y / input_size[1]
    return x, y


@functools.lru_cache(maxsize=64)
def raw_threshold(dtype: str, scale: float, zero_point: int, threshold: float) -> float | None:
    """The smallest raw value whose real value is >= ``threshold`` (dequantization is monotonic
    for a positive scale), so scores can be thresholded before anything is dequantized; None
    when no raw value reaches it. Float tensors: the threshold itself."""
    dt = np.dtype(dtype)
    if dt.kind == "f" or scale <= 0:
        return threshold
    ii = np.iinfo(dt)
    raw = np.arange(ii.min, ii.max + 1, dtype=np.int64)
    ok = np.flatnonzero(dequantize(raw.astype(dt), scale, zero_point) >= threshold)
    return int(raw[ok[0]]) if ok.size else None


def split_yolo(raw: np.ndarray, info: TensorInfo, layout: YoloLayout,
               input_size: tuple[int, int], threshold: float = float("-inf")
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes [n, 4] x0,y0,x1,y1 normalized to the model input, class [n], score [n]) of the
    candidates scoring at least ``threshold``: found on the raw (quantized) values, so only
    those few are ever dequantized."""
    t, scale, zp = raw[0], info.scale, info.zero_point
    if layout.kind == "nms":  # [N, 6+]: x0, y0, x1, y1, score, class; already suppressed
        rows = dequantize(t, scale, zp)
        xs, ys = _to_unit(rows[:, [0, 2]], rows[:, [1, 3]], rows[:, :4], input_size)
        boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
        return boxes, np.rint(rows[:, 5]).astype(np.int64), rows[:, 4]
    c = layout.classes
    if layout.kind == "v8":  # [4 + C (+ mask coefficients), N]
        q = raw_threshold(info.dtype.str, scale, zp, threshold)
        best = t[4:4 + c].max(axis=0)  # per anchor, over classes: a SIMD reduction of raw values
        cand = np.flatnonzero(best >= q) if q is not None else np.empty(0, np.intp)
        classes = t[4:4 + c, cand].argmax(axis=0)
        scores = dequantize(best[cand], scale, zp)
        cx, cy, w, h = dequantize(t[:4, cand], scale, zp)
    else:  # v5 [N, 5 + C]: class probability x objectness, both <= 1, so objectness >= score
        top = float(dequantize(np.array([np.iinfo(t.dtype).max if t.dtype.kind in "iu"
                                         else 1.0], t.dtype), scale, zp)[0])
        q = raw_threshold(info.dtype.str, scale, zp, threshold / max(1.0, top))
        cand = np.flatnonzero(t[:, 4] >= q) if q is not None else np.empty(0, np.intp)
        rows = dequantize(t[cand], scale, zp)
        cls_scores = rows[:, 5:5 + c] * rows[:, 4:5]
        classes = cls_scores.argmax(axis=1)
        scores = cls_scores[np.arange(len(rows)), classes]
        cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    if cand.size and float(max(cx.max(), cy.max(), w.max(), h.max())) > 2.0:
        iw, ih = input_size  # pixels of the input, not 0..1
        cx, w, cy, h = cx / iw, w / iw, cy / ih, h / ih
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, classes, scores


class DetectionDecoder:
    task = "detection"

    def __init__(self, infos: list[TensorInfo], labels: Labels | None, cfg: Any,
                 input_size: tuple[int, int], meta: UltralyticsMeta | None = None) -> None:
        self.infos, self.labels, self.input_size = infos, labels, input_size
        self.ssd = _ssd_roles(infos)
        self.yolo = None if self.ssd else yolo_layout(infos, meta)
        self.threshold = 0.25 if cfg.threshold is None else cfg.threshold
        self.class_thresholds: dict[str, float] = dict(cfg.class_thresholds or {})
        self.allowed = {str(c) for c in cfg.classes} if cfg.classes else None
        self.max_detections = cfg.max_detections
        self.iou_threshold = cfg.iou_threshold

    def candidates(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        if self.ssd is not None:
            return split_ssd(outputs, self.ssd, self.infos)
        assert self.yolo is not None
        i = self.yolo.boxes
        return split_yolo(outputs[i], self.infos[i], self.yolo, self.input_size, self.threshold)

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        boxes, classes, scores = self.candidates(outputs)
        keep = self._filter(boxes, classes, scores)
        boxes, classes, scores = boxes[keep], classes[keep], scores[keep]
        if self.yolo is not None and self.yolo.kind != "nms":  # SSD's op has done NMS
            kept = nms(boxes, scores, classes, self.iou_threshold, self.max_detections)
            boxes, classes, scores = boxes[kept], classes[kept], scores[kept]
        else:
            order = np.argsort(-scores, kind="stable")[:self.max_detections]
            boxes, classes, scores = boxes[order], classes[order], scores[order]
        return {"detections": [self._detection(b, int(c), float(s), transform)
                               for b, c, s in zip(boxes, classes, scores, strict=True)]}

    def _filter(self, boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        ok = (scores >= self.threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if self.allowed is not None or self.class_thresholds:
            for i in np.flatnonzero(ok):
                label = self.labels.get(int(classes[i])) if self.labels else None
                keys = {str(int(classes[i])), label or ""}
                if self.allowed is not None and not keys & self.allowed:
                    ok[i] = False
                elif label in self.class_thresholds and scores[i] < self.class_thresholds[label]:
                    ok[i] = False
        return np.flatnonzero(ok)

    def _detection(self, box: np.ndarray, index: int, score: float,
                   transform: Transform) -> dict[str, Any]:
        # plain float arithmetic: numpy calls on 4 scalars cost ~40 us per detection
        x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in box.tolist())
        t = transform
        coords = (x0 * t.scale_x + t.offset_x, y0 * t.scale_y + t.offset_y,
                  x1 * t.scale_x + t.offset_x, y1 * t.scale_y + t.offset_y)
        return {"index": index, "label": self.labels.get(index) if self.labels else None,
                "score": round(score, 5),
                "box": [round(min(max(v, 0.0), 1.0), 5) for v in coords]}


def check_ultralytics(meta: UltralyticsMeta, ctx: DecoderContext) -> None:
    """Refuse what edged cannot decode, by name; check the card against the model."""
    where = f"model file {ctx.model_path}"
    pose_ok = meta.task == "pose" and meta.kpt_shape in ((17, 3), (17, 2))
    if meta.task in ("pose", "obb") and not pose_ok:
        shape = f" with kpt_shape {list(meta.kpt_shape or ())}" if meta.task == "pose" else ""
        raise ModelError(
            f"{where}: an Ultralytics '{meta.task}' export{shape} (its packed {meta.member} "
            f"says task: {meta.task}); edged decodes Ultralytics detect and segment exports as "
            "detection (segment: boxes only), pose exports with the 17 COCO keypoints as pose "
            f"(the best person) and classify exports as classification, but not this one")
    if meta.task not in (None, "detect", "segment", "pose"):
        raise ModelError(f"{where}: its packed {meta.member} says task: {meta.task}, but the "
                         "outputs are decoded as detection; set model.task to match the model")
    if meta.imgsz is not None and ctx.input_size != (0, 0) \
            and meta.imgsz != (ctx.input_size[1], ctx.input_size[0]):
        h, w = meta.imgsz
        raise ModelError(f"{where}: its packed {meta.member} says imgsz {h}x{w} (height x "
                         f"width), but the model input is {ctx.input_size[1]}x"
                         f"{ctx.input_size[0]}; is the card from another export?")


class YoloPoseDecoder:
    """Ultralytics pose export [1, 4 + 1 + 17 * k, N] (box, person score, keypoints as x, y
    [, visibility]) published as edged's single-person pose: the best-scoring person."""

    task = "pose"

    def __init__(self, info: TensorInfo, kpt_dims: int, cfg: Any,
                 input_size: tuple[int, int]) -> None:
        self.info, self.kpt_dims, self.input_size = info, kpt_dims, input_size
        self.min_score = cfg.threshold or 0.0  # per keypoint, as for MoveNet

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        rows = dequantize(outputs[0][0], self.info.scale, self.info.zero_point).T
        if rows.size == 0 or float(rows[:, 4].max()) < PERSON_THRESHOLD:
            return {"keypoints": [], "pose_score": 0.0}
        best = rows[int(rows[:, 4].argmax())]
        kp = best[5:5 + 17 * self.kpt_dims].reshape(17, self.kpt_dims)
        scores = kp[:, 2] if self.kpt_dims == 3 else np.full(17, best[4], np.float32)
        xs, ys = _to_unit(kp[:, 0], kp[:, 1], rows[:, :4], self.input_size)
        points = [{"name": name, "x": round(float(x), 5), "y": round(float(y), 5),
                   "score": round(float(sc), 5)}
                  for name, x, y, sc in zip(COCO_KEYPOINTS, transform.x(xs), transform.y(ys),
                                            scores, strict=True) if sc >= self.min_score]
        score = float(np.mean([p["score"] for p in points])) if points else 0.0
        return {"keypoints": points, "pose_score": round(score, 5)}


def build(ctx: DecoderContext) -> DetectionDecoder | YoloPoseDecoder:
    meta = ultralytics_metadata(Path(ctx.model_path))
    if meta is not None:
        check_ultralytics(meta, ctx)
        if meta.task == "pose" and meta.kpt_shape is not None:
            log.info("YOLO pose export: publishing the best person's keypoints")
            return YoloPoseDecoder(ctx.outputs[0], meta.kpt_shape[1], ctx.model_config,
                                   ctx.input_size)
    layout = yolo_layout(ctx.outputs, meta)
    if layout is not None and layout.extra and layout.kind == "v8":
        log.info("YOLO segment export: publishing its boxes; masks are not decoded")
    labels = None
    if ctx.label_map is not None:
        n = layout.classes if layout is not None and layout.kind != "nms" else 0
        n = n or max(ctx.label_map) + 1
        labels = align_labels(ctx.label_map, n, ctx.label_source or "labels")
    return DetectionDecoder(ctx.outputs, labels, ctx.model_config, ctx.input_size, meta)


SPEC = TaskSpec(name="detection", matches=matches, build=build)
