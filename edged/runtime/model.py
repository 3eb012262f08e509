"""One loaded model: input conversion, invoke, output copies into preallocated buffers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edged.errors import ModelError
from edged.plan import input_plan
from edged.quant import pixel_lut
from edged.runtime.modelfile import ModelFile
from edged.runtime.select import Runtime

log = logging.getLogger("edged.model")


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_detail(cls, d: dict[str, Any]) -> TensorInfo:
        scale, zp = d.get("quantization", (0.0, 0))
        return cls(int(d["index"]), str(d["name"]), tuple(int(n) for n in d["shape"]),
                   np.dtype(d["dtype"]), float(scale), int(zp))


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """Cores minus one, so capture and publishing keep a core; at least one."""
    return max(1, cpu_count() - 1)


class ModelRunner:
    """Owns the interpreter. Only the inference thread calls set_input/invoke/copy_outputs."""

    def __init__(self, model_file: ModelFile, runtime: Runtime, threads: int,
                 delegates: Sequence[Any] = (), delegate_name: str = "cpu",
                 mean: float | None = None, std: float | None = None) -> None:
        self.file = model_file
        self.runtime = runtime
        self.threads = threads
        self.delegate_name = delegate_name
        self.device: str | None = None  # the Edge TPU device, when delegate_name is edgetpu
        path = model_file.path
        if model_file.edgetpu_compiled and not delegates:
            raise ModelError(
                f"model file {path}: compiled for the Coral Edge TPU (contains the custom op "
                "'edgetpu-custom-op') and cannot run on the CPU; set model.delegate: edgetpu "
                "(or auto) with this file as model.edgetpu_path, and a CPU model as model.path")
        start = time.perf_counter()
        try:
            self.interpreter = runtime.interpreter_class(
                model_path=str(path), num_threads=threads,
                experimental_delegates=list(delegates) or None)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"model file {path}: {runtime.name} cannot load it: {exc}") from None
        self.inputs = [TensorInfo.from_detail(d) for d in self.interpreter.get_input_details()]
        self.outputs = [TensorInfo.from_detail(d) for d in self.interpreter.get_output_details()]
        self.input = self._check_image_input()
        self.input_size = (self.input.shape[2], self.input.shape[1])  # (width, height)
        self._input_view = self.interpreter.tensor(self.input.index)
        self._output_views = [self.interpreter.tensor(t.index) for t in self.outputs]
        self._convert = self._input_converter(mean, std)
        self.warm_up()
        self.load_seconds = time.perf_counter() - start

    def _check_image_input(self) -> TensorInfo:
        if len(self.inputs) != 1:
            raise ModelError(f"model file {self.file.path}: has {len(self.inputs)} inputs; "
                             "edged runs models with one image input")
        t = self.inputs[0]
        if len(t.shape) != 4 or t.shape[0] != 1 or t.shape[3] != 3:
            raise ModelError(f"model file {self.file.path}: input '{t.name}' has shape "
                             f"{list(t.shape)}; expected an RGB image [1, height, width, 3]")
        if t.dtype not in (np.uint8, np.int8, np.float32):
            raise ModelError(f"model file {self.file.path}: input dtype {t.dtype} is not "
                             "supported (uint8, int8 or float32)")
        return t

    def _input_converter(self, mean: float | None, std: float | None):
        t = self.input
        self.plan = input_plan(self.file.path, t, self.outputs, mean, std)
        mean, std = self.plan.mean, self.plan.std
        lut = pixel_lut(t.dtype, t.scale, t.zero_point, mean, std)
        view = self._input_view
        if lut is None:
            return lambda image: np.copyto(view()[0], image)
        if t.dtype == np.int8 and np.array_equal(lut, (np.arange(256) - 128).astype(np.int8)):
            # pixel - 128 as int8 is the pixel with its top bit flipped
            return lambda image: np.bitwise_xor(image, 0x80, out=view()[0].view(np.uint8))
        return lambda image: np.take(lut, image, out=view()[0])

    def set_input(self, image: np.ndarray) -> None:
        """Write a model-sized HxWx3 uint8 RGB image into the input tensor, converted."""
        self._convert(image)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def new_output_buffers(self) -> list[np.ndarray]:
        return [np.empty(t.shape, dtype=t.dtype) for t in self.outputs]

    def copy_outputs(self, into: list[np.ndarray]) -> None:
        for view, buf in zip(self._output_views, into, strict=True):
            np.copyto(buf, view())

    def warm_up(self) -> None:
        self.set_input(np.zeros((self.input.shape[1], self.input.shape[2], 3), np.uint8))
        try:
            self.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(
                f"model file {self.file.path}: first inference failed: {exc}") from None

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"file": self.file.path.name, "sha256": self.file.sha256,
                                "runtime": self.runtime.name, "delegate": self.delegate_name,
                                "threads": self.threads}
        if self.device is not None:
            info["device"] = self.device
        return info
