"""Task decoders: pure functions from output tensors to message fields, plus a registry.

Each task module exposes ``build(ctx) -> Decoder`` and ``matches(outputs) -> bool``; the
registry picks one by ``model.task`` or, for ``auto``, by the shapes of the model's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edged.errors import ModelError
from edged.preprocess import Transform
from edged.runtime.model import TensorInfo


class Decoder(Protocol):
    task: str

    def decode(self, outputs: list[np.ndarray], transform: Transform) -> dict[str, Any]:
        """Message fields for one frame (e.g. {"classes": [...]}); must not keep ``outputs``."""
        ...


@dataclass(frozen=True)
class DecoderContext:
    """Everything a task needs to build its decoder."""

    outputs: list[TensorInfo]
    model_path: str
    model_config: Any  # edged.config.ModelConfig (typed loosely to avoid an import cycle)
    label_map: dict[int, str] | None  # raw labels; the task aligns them to its class count
    label_source: str | None
    masks: bool = False  # publish.masks: the decoder may add a "_mask" side frame
    input_size: tuple[int, int] = (0, 0)  # model input (width, height)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    matches: Callable[[list[TensorInfo]], bool]
    build: Callable[[DecoderContext], Decoder]


_REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> None:
    _REGISTRY[spec.name] = spec


def task_names() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)


def _load_builtin() -> None:
    if _REGISTRY:
        return
    from edged.tasks import classify

    register(classify.SPEC)
    for name in ("detect", "pose", "segment"):
        try:
            module = __import__(f"edged.tasks.{name}", fromlist=["SPEC"])
        except ModuleNotFoundError:
            continue
        register(module.SPEC)


def detect_task(outputs: list[TensorInfo]) -> str | None:
    _load_builtin()
    # most specific first: classification matches any [1, N] output
    for name in sorted(_REGISTRY, key=lambda n: n == "classification"):
        if _REGISTRY[name].matches(outputs):
            return name
    return None


def build_decoder(task: str, ctx: DecoderContext) -> Decoder:
    """The decoder for ``task`` ("auto" detects it); ModelError when the model disagrees."""
    _load_builtin()
    shapes = [list(t.shape) for t in ctx.outputs]
    if task == "auto":
        found = detect_task(ctx.outputs)
        if found is None:
            raise ModelError(f"model file {ctx.model_path}: cannot tell its task from its "
                             f"outputs {shapes}; set model.task")
        task = found
    spec = _REGISTRY.get(task)
    if spec is None:
        raise ModelError(f"task '{task}' is not available in this build of edged")
    if not spec.matches(ctx.outputs):
        raise ModelError(f"model file {ctx.model_path}: outputs {shapes} do not fit "
                         f"model.task: {task}")
    return spec.build(ctx)
