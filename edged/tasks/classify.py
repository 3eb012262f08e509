"""Classification: top-k classes from a [1, N] (or [N]) score tensor."""

from __future__ import annotations

from typing import Any

import numpy as np

from edged.labels import Labels, align_labels
from edged.preprocess import Transform
from edged.quant import quantize
from edged.runtime.model import TensorInfo
from edged.tasks import DecoderContext, TaskSpec


def matches(outputs: list[TensorInfo]) -> bool:
    if len(outputs) != 1:
        return False
    shape = outputs[0].shape
    return (len(shape) == 2 and shape[0] == 1 and shape[1] > 1) or (
        len(shape) == 1 and shape[0] > 1)


def top_k(scores: np.ndarray, k: int, min_score: float | int = 0) -> list[tuple[int, Any]]:
    """Indices and raw scores of the k best entries >= min_score, best first, ties by index.

    Works on raw quantized scores too: dequantization is monotonic when the scale is positive,
    so ranking and thresholding happen before converting only the k winners.
    """
    flat = scores.reshape(-1)
    k = min(k, flat.size)
    if flat.dtype.kind in "iu" and flat.dtype.itemsize <= 2:
        # quantized scores: a stable radix sort of the bitwise complement (order reversed,
        # ties kept by index) is one O(n) call; fewer numpy calls than partition + lexsort
        order = np.argsort(~flat, kind="stable")[:k].tolist()
        return [(i, v) for i, v in zip(order, flat[order].tolist(), strict=True)
                if v >= min_score]
    if k < flat.size:
        candidates = np.argpartition(flat, flat.size - k)[flat.size - k:]
        # widen the set with every entry tied with the k-th best, so ties resolve by index
        kth = flat[candidates].min()
        candidates = np.flatnonzero(flat >= kth)
    else:
        candidates = np.arange(flat.size)
    values = flat[candidates].astype(np.float64)
    order = np.lexsort((candidates, -values))[:k]  # by score descending, then index
    return [(int(candidates[j]), flat[candidates[j]]) for j in order
            if values[j] >= min_score]


class ClassificationDecoder:
    task = "classification"

    def __init__(self, info: TensorInfo, labels: Labels | None, k: int, threshold: float) -> None:
        self.info = info
        self.labels = labels
        self.k = k
        self.scale = info.scale if info.dtype.kind in "iu" and info.scale > 0 else 0.0
        if self.scale:
            # threshold on the raw values: the smallest quantized value whose score >= threshold
            q = int(quantize(np.array([threshold]), self.scale, info.zero_point, info.dtype)[0])
            if (q - info.zero_point) * self.scale < threshold:
                q += 1
            self.raw_threshold: float | int = q
        else:
            self.raw_threshold = threshold

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        best = top_k(outputs[0], self.k, self.raw_threshold)
        zp, scale = self.info.zero_point, self.scale
        classes = []
        for index, raw in best:
            score = (int(raw) - zp) * scale if scale else float(raw)
            label = self.labels.get(index) if self.labels else None
            classes.append({"index": index, "label": label, "score": round(score, 5)})
        return {"classes": classes}


def build(ctx: DecoderContext) -> ClassificationDecoder:
    info = ctx.outputs[0]
    n = info.shape[-1]
    labels = align_labels(ctx.label_map, n, ctx.label_source or "labels") \
        if ctx.label_map is not None else None
    cfg = ctx.model_config
    return ClassificationDecoder(info, labels, cfg.top_k, cfg.threshold or 0.0)


SPEC = TaskSpec(name="classification", matches=matches, build=build)
