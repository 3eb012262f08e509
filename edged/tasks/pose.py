"""Single-person pose (MoveNet): [1, 1, 17, 3] of (y, x, score), normalized to the input."""

from __future__ import annotations

from typing import Any

import numpy as np

from edged.preprocess import Transform
from edged.quant import dequantize
from edged.runtime.model import TensorInfo
from edged.tasks import DecoderContext, TaskSpec

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def matches(outputs: list[TensorInfo]) -> bool:
    return len(outputs) == 1 and outputs[0].shape == (1, 1, len(COCO_KEYPOINTS), 3)


def keypoints(raw: np.ndarray, info: TensorInfo, transform: Transform,
              min_score: float = 0.0) -> list[dict[str, Any]]:
    """Named keypoints in original-frame coordinates; those under ``min_score`` are left out."""
    kp = dequantize(raw.reshape(-1, 3), info.scale, info.zero_point)
    xs = transform.x(kp[:, 1])
    ys = transform.y(kp[:, 0])
    return [{"name": name, "x": round(float(x), 5), "y": round(float(y), 5),
             "score": round(float(s), 5)}
            for name, x, y, s in zip(COCO_KEYPOINTS, xs, ys, kp[:, 2], strict=True)
            if s >= min_score]


class PoseDecoder:
    task = "pose"

    def __init__(self, info: TensorInfo, min_score: float) -> None:
        self.info, self.min_score = info, min_score

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        points = keypoints(outputs[0], self.info, transform, self.min_score)
        score = float(np.mean([p["score"] for p in points])) if points else 0.0
        return {"keypoints": points, "pose_score": round(score, 5)}


def build(ctx: DecoderContext) -> PoseDecoder:
    return PoseDecoder(ctx.outputs[0], ctx.model_config.threshold or 0.0)


SPEC = TaskSpec(name="pose", matches=matches, build=build)
