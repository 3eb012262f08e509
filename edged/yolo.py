"""YOLO output layouts, recognised from tensor shapes (and the Ultralytics card when packed).

Lives below the task decoders and the model runner so both can ask "is this a YOLO export?":
the runner to pick the input normalization (pixel / 255), the decoder to read the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edged.metadata import UltralyticsMeta

PIXEL_SCALE = 255.0  # every Ultralytics export takes pixel / 255
LETTERBOX_GREY = 114  # the padding Ultralytics trains and predicts with


class Tensor(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def scale(self) -> float: ...


@dataclass(frozen=True)
class YoloLayout:
    """How to read a YOLO detection output.

    kind: v5 [1, N, 5+C] | v8 [1, 4+C(+extra), N] | nms [1, N, 6(+extra)] (x0, y0, x1, y1,
    score, class). ``boxes`` is the index of that output; ``classes`` the class count (v5/v8);
    ``extra``: trailing per-candidate values edged does not decode (mask coefficients).
    """

    kind: str
    boxes: int = 0
    classes: int = 0
    extra: int = 0


def _single(outputs: Sequence[Tensor]) -> YoloLayout | None:
    t = outputs[0]
    if len(t.shape) != 3 or t.shape[0] != 1:
        return None
    if t.dtype.kind == "i" and t.scale == 0:  # an integer class map is segmentation
        return None
    _, a, b = t.shape
    if a > b and b >= 6:
        return YoloLayout("v5", classes=b - 5)
    if b > a and a >= 5:
        return YoloLayout("v8", classes=a - 4)
    return None


def _segment(outputs: Sequence[Tensor]) -> YoloLayout | None:
    """Ultralytics segment: [1, 4+C+nm, N] and prototypes [1, H, W, nm] (or [1, nm, H, W])."""
    if len(outputs) != 2:
        return None
    dets = [i for i, t in enumerate(outputs) if len(t.shape) == 3]
    protos = [t for t in outputs if len(t.shape) == 4]
    if len(dets) != 1 or len(protos) != 1:
        return None
    p = protos[0].shape
    nm = p[1] if p[2] == p[3] and p[1] != p[2] else p[3]  # NCHW, else NHWC
    _, a, b = outputs[dets[0]].shape
    if b > a and a >= 5 + nm:
        return YoloLayout("v8", boxes=dets[0], classes=a - 4 - nm, extra=nm)
    if a > b and b >= 6 + nm:
        return YoloLayout("v5", boxes=dets[0], classes=b - 5 - nm, extra=nm)
    return None


def yolo_layout(outputs: Sequence[Tensor],
                meta: UltralyticsMeta | None = None) -> YoloLayout | None:
    """The YOLO layout of a model's outputs, or None when they are not YOLO-shaped."""
    if not outputs:
        return None
    layout = _single(outputs) if len(outputs) == 1 else _segment(outputs)
    if meta is None or layout is None:
        return layout
    # Ultralytics (v8 and later) never exports the v5 layout: [1, N, 6+] is NMS built in
    if layout.kind == "v5":
        return YoloLayout("nms", boxes=layout.boxes, extra=outputs[layout.boxes].shape[2] - 6)
    return layout


def is_yolo(outputs: Sequence[Tensor], meta: UltralyticsMeta | None) -> bool:
    """A YOLO export: an Ultralytics card is packed, or the outputs are YOLO-shaped."""
    return meta is not None or yolo_layout(outputs) is not None
