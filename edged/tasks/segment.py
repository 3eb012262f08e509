"""Semantic segmentation: a class map ([1,H,W] indices, or [1,H,W,C] scores) summarized per
class (pixel fraction and bounding box); the map itself only as a PNG side frame on request."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from edged.labels import Labels, align_labels
from edged.preprocess import Transform
from edged.runtime.model import TensorInfo
from edged.tasks import DecoderContext, TaskSpec


def _is_map(t: TensorInfo) -> bool:
    s = t.shape
    if len(s) == 3:  # argmax map: integer class indices
        return s[0] == 1 and s[1] > 1 and s[2] > 1 and t.dtype.kind in "iu" and t.scale == 0
    return len(s) == 4 and s[0] == 1 and s[1] > 1 and s[2] > 1 and s[3] > 1


def matches(outputs: list[TensorInfo]) -> bool:
    return len(outputs) == 1 and _is_map(outputs[0])


def class_map(raw: np.ndarray) -> np.ndarray:
    """[H, W] class indices from either output layout (argmax over scores is monotonic in the
    quantized values, so no dequantization is needed)."""
    if raw.ndim == 4:
        return raw[0].argmax(axis=-1)
    return raw[0]


def summarize(classes: np.ndarray, n_classes: int, transform: Transform,
              labels: Labels | None, min_fraction: float = 0.0) -> list[dict[str, Any]]:
    """Per present class: pixel fraction and [xmin, ymin, xmax, ymax] in the original frame."""
    h, w = classes.shape
    counts = np.bincount(classes.reshape(-1), minlength=n_classes)
    out = []
    for c in np.flatnonzero(counts).tolist():
        fraction = counts[c] / classes.size
        if fraction < min_fraction:
            continue
        # few classes are present in a frame: one compare per present class is cheaper than
        # scattering every pixel into per-class row and column tables
        mask = classes == c
        ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = [float(transform.x(xs[0] / w)), float(transform.y(ys[0] / h)),
               float(transform.x((xs[-1] + 1) / w)), float(transform.y((ys[-1] + 1) / h))]
        out.append({"index": c, "label": labels.get(c) if labels else None,
                    "fraction": round(float(fraction), 5), "box": [round(v, 5) for v in box]})
    return out


def mask_png(classes: np.ndarray) -> bytes:
    """The class map as an 8-bit grayscale PNG (pixel value = class index)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(classes.astype(np.uint8, copy=False)).save(buf, format="PNG",
                                                              compress_level=1)
    return buf.getvalue()


class SegmentationDecoder:
    task = "segmentation"

    def __init__(self, info: TensorInfo, labels: Labels | None, n_classes: int,
                 min_fraction: float, want_mask: bool) -> None:
        self.info, self.labels, self.n_classes = info, labels, n_classes
        self.min_fraction, self.want_mask = min_fraction, want_mask
        self._u8: np.ndarray | None = None

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        raw = class_map(outputs[0])
        if raw.dtype.kind in "iu" and self.n_classes <= 255:
            # one pass to uint8 (negative -> 0, as before), into a buffer kept across frames:
            # the compares and counts that follow then touch 1 byte per pixel, not 8
            if self._u8 is None or self._u8.shape != raw.shape:
                self._u8 = np.empty(raw.shape, np.uint8)
            classes = np.clip(raw, 0, 255, out=self._u8, casting="unsafe")
        else:
            classes = np.clip(raw, 0, None) if raw.dtype.kind == "i" else raw
        h, w = classes.shape
        fields: dict[str, Any] = {"segmentation": {
            "width": w, "height": h,
            "classes": summarize(classes, self.n_classes, transform, self.labels,
                                 self.min_fraction)}}
        if self.want_mask:
            fields["_mask"] = mask_png(classes)
        return fields


def build(ctx: DecoderContext) -> SegmentationDecoder:
    info = ctx.outputs[0]
    labels = None
    n = info.shape[3] if len(info.shape) == 4 else 0
    if ctx.label_map is not None:
        n_labels = max(ctx.label_map) + 1
        n = n or n_labels
        labels = align_labels(ctx.label_map, n, ctx.label_source or "labels")
    return SegmentationDecoder(info, labels, max(n, 1), ctx.model_config.threshold or 0.0,
                               ctx.masks)


SPEC = TaskSpec(name="segmentation", matches=matches, build=build)
