"""The preprocessing plan: how a frame becomes the model's input, and why.

``input_plan`` decides the normalization (config, packed Ultralytics card, YOLO-shaped outputs,
or the input quantization) and the letterbox padding; the model runner applies it and
``check-config`` / ``doctor`` print it (``describe_plan``), so what runs is what is said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edged.metadata import packed_labels, ultralytics_metadata
from edged.preprocess import Transform
from edged.quant import default_normalization
from edged.yolo import LETTERBOX_GREY, PIXEL_SCALE, Tensor, is_yolo


class InputTensor(Tensor, Protocol):
    @property
    def zero_point(self) -> int: ...


@dataclass(frozen=True)
class InputPlan:
    mean: float
    std: float
    origin: str  # why this normalization: config, packed metadata, YOLO outputs, quantization
    pad_value: int = 0  # letterbox bars
    yolo: bool = False


def input_plan(model_path: Path, inp: InputTensor, outputs: Sequence[Tensor],
               mean: float | None = None, std: float | None = None) -> InputPlan:
    """The normalization and padding for a model; an explicit mean/std (model.normalize)
    always wins."""
    meta = ultralytics_metadata(model_path)
    yolo = is_yolo(outputs, meta)
    pad = LETTERBOX_GREY if yolo else 0
    if mean is not None or std is not None:
        d_mean, d_std = default_normalization(inp.dtype, inp.scale, inp.zero_point)
        return InputPlan(d_mean if mean is None else mean, d_std if std is None else std,
                         "config (model.normalize)", pad, yolo)
    if meta is not None:
        task = meta.task or "unknown"
        return InputPlan(0.0, PIXEL_SCALE, f"packed metadata ({meta.member}: Ultralytics "
                         f"{task} export, pixel / 255)", pad, True)
    if yolo:
        return InputPlan(0.0, PIXEL_SCALE, "model outputs (YOLO-shaped, no packed "
                         "metadata: pixel / 255 as every YOLO export)", pad, True)
    d_mean, d_std = default_normalization(inp.dtype, inp.scale, inp.zero_point)
    return InputPlan(d_mean, d_std, _quant_origin(inp), pad, False)


def effective_resize(model_cfg: Any, plan: InputPlan) -> tuple[str, str]:
    """(model.resize mode, why): what the config says, or, when it says nothing, letterbox for
    YOLO exports (Ultralytics predicts on a letterboxed, 114-grey-padded square) and stretch
    for everything else."""
    fields_set = getattr(model_cfg, "model_fields_set", {"resize"})
    if "resize" in fields_set or not plan.yolo:
        return model_cfg.resize, "config" if "resize" in fields_set else "default"
    return "letterbox", "default for YOLO exports, as Ultralytics predicts"


def _quant_origin(inp: InputTensor) -> str:
    dtype = np.dtype(inp.dtype)
    if dtype.kind == "f":
        return "model input dtype (float32: [-1, 1], the MobileNet convention)"
    return (f"model input quantization ({dtype.name}, scale {inp.scale:.6g}, zero point "
            f"{inp.zero_point}: raw pixels{' - 128' if dtype == np.int8 else ''})")


def describe_plan(model_cfg: Any, model_path: Path, plan: InputPlan, inp: InputTensor,
                  frame_size: str = "each frame") -> list[str]:
    """Human lines: the whole plan from frame to input tensor."""
    h, w = inp.shape[1], inp.shape[2]
    resize, why = effective_resize(model_cfg, plan)
    interpolation = getattr(model_cfg, "interpolation", "bilinear")
    bars = f", bars filled with {plan.pad_value}" if resize == "letterbox" else ""
    lines = [
        f"model {model_path.name}: input {w}x{h} RGB {np.dtype(inp.dtype).name}"
        f" (scale {inp.scale:.6g}, zero point {inp.zero_point})",
        f"resize: {frame_size} -> {w}x{h}, mode {resize} ({why}){bars}, interpolation "
        f"{interpolation}",
        f"normalize: real = (pixel - {plan.mean:g}) / {plan.std:g}, from {plan.origin}",
    ]
    lines.append(f"labels: {_labels_origin(model_cfg, model_path)}")
    return lines


def _labels_origin(model_cfg: Any, model_path: Path) -> str:
    if model_cfg.labels is not None:
        return f"file {model_cfg.labels}"
    packed = packed_labels(model_path)
    if packed is None:
        return "none (indices only)"
    labels, member = packed
    meta = ultralytics_metadata(model_path)
    what = "names" if meta is not None and member.startswith(meta.member) else "labels"
    return f"{len(labels)} {what} packed in the model ({member})"


def plan_for_config(config: Any) -> list[str]:
    """Load the configured model's tensors (no inference) and describe its plan; lines that
    say why when it cannot be loaded."""
    from edged.errors import EdgedError
    from edged.runtime.model import TensorInfo
    from edged.runtime.select import select_runtime

    path = config.model_path
    if not Path(path).is_file():  # never open a FIFO or a device: it could block
        return [f"plan: model {path} is not a regular file"]
    try:
        interp = select_runtime(config.model.runtime).interpreter_class(model_path=str(path))
        inputs = [TensorInfo.from_detail(d) for d in interp.get_input_details()]
        outputs = [TensorInfo.from_detail(d) for d in interp.get_output_details()]
    except (EdgedError, ValueError, RuntimeError) as exc:
        return [f"plan: model {path} cannot be read ({exc})"]
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        return [f"plan: model {path.name} has no single image input"]
    norm = config.model.normalize
    plan = input_plan(path, inputs[0], outputs, norm.mean if norm else None,
                      norm.std if norm else None)
    size = getattr(config.source, "size", None)
    frame = f"{size[0]}x{size[1]} frames" if size else "each frame"
    return describe_plan(config.model, path, plan, inputs[0], frame)


def with_fov(t: Transform, fov: tuple[float, float, float, float] | None) -> Transform:
    """``t`` (model input -> frame) followed by the source's frame -> field-of-view map, so
    boxes land in the sensor's field of view when the camera crops in hardware."""
    if fov is None:
        return t
    sx, sy, ox, oy = fov
    return Transform(t.scale_x * sx, t.scale_y * sy, t.offset_x * sx + ox, t.offset_y * sy + oy)
