"""Greedy non-maximum suppression in numpy."""

from __future__ import annotations

import numpy as np


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [x0, y0, x1, y1] box with each row of ``boxes``."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


MATRIX_MAX = 512  # up to this many candidates, one pairwise IoU matrix (<= 2 MB) beats a loop


def _nms_matrix(boxes: np.ndarray, order: np.ndarray, iou_threshold: float,
                max_keep: int) -> np.ndarray:
    """Greedy NMS over boxes already sorted best first, from one pairwise IoU matrix."""
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    w = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    h = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    inter = w * h
    areas = (x1 - x0) * (y1 - y0)
    over = inter / np.maximum(areas[:, None] + areas - inter, 1e-12) > iou_threshold
    suppressed = np.zeros(len(boxes), bool)
    keep: list[int] = []
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        if len(keep) >= max_keep:
            break
        suppressed |= over[i]
    return np.array(keep, dtype=np.intp)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float,
        max_keep: int) -> np.ndarray:
    """Indices kept, best score first; boxes of different classes never suppress each other.

    Ties in score keep the lower index first (a stable sort), so results are deterministic.
    """
    if boxes.size == 0:
        return np.zeros(0, dtype=np.intp)
    # shift each class into its own region of the plane: one NMS pass covers all classes
    span = float(np.max(boxes) - np.min(boxes)) + 1.0
    shifted = boxes + (classes.astype(np.float64) * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    if order.size <= MATRIX_MAX:
        return _nms_matrix(shifted[order], order, iou_threshold, max_keep)
    keep: list[int] = []
    while order.size and len(keep) < max_keep:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        order = rest[iou_one_to_many(shifted[best], shifted[rest]) <= iou_threshold]
    return np.array(keep, dtype=np.intp)
