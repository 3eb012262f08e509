"""Load a Keras file or SavedModel, fix its input shape, and convert it to TFLite bytes.

Every input goes through one path: a concrete function with a static [1, H, W, C] input,
variables frozen to constants, then ``TFLiteConverter.from_concrete_functions``. A static batch
of one is what edged feeds and what edgetpu_compiler requires.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edged.convert.tfimport import ConversionError, import_tensorflow

Mode = Literal["int8", "float16", "dynamic", "none"]
IoType = Literal["uint8", "int8"]
MODES: tuple[str, ...] = ("int8", "float16", "dynamic", "none")
Representative = Callable[[], Iterator[list[np.ndarray]]]


@dataclass
class SourceModel:
    """A loaded model reduced to what conversion needs."""

    path: str
    function: Any  # tf ConcreteFunction taking one [1, H, W, C] tensor
    input_shape: tuple[int, int, int, int]
    input_dtype: np.dtype
    keras_model: Any | None  # the Keras model when there is one (preprocessing layers, labels)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.input_shape[2], self.input_shape[1]


def static_input_shape(shape: Any, where: str) -> tuple[int, int, int, int]:
    """[batch, H, W, C] with batch fixed to 1; a clear error for anything dynamic or odd."""
    dims = list(shape) if shape is not None else None
    if dims is None or len(dims) != 4:
        raise ConversionError(f"{where}: input shape {dims} is not an image batch "
                              "[batch, height, width, channels]; edged runs image models")
    _, h, w, c = (None if d is None else int(d) for d in dims)
    if h is None or w is None or c is None or min(h, w, c) <= 0:
        raise ConversionError(
            f"{where}: input shape {dims} has a dynamic height/width/channels; TFLite for edged "
            "needs a fixed input size. Rebuild the model with a fixed keras.Input(shape=(H, W, 3)) "
            "(e.g. load the weights into a copy built with a fixed shape) and convert that")
    if dims[0] not in (None, 1, -1):
        raise ConversionError(f"{where}: input batch size is {dims[0]}; edged runs one frame "
                              "at a time, so export with batch size 1 or None")
    return 1, h, w, c


def _freeze(fn: Any) -> Any:
    # Calibration cannot read resource variables of an unfrozen concrete function.
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(fn)


def from_keras(model: Any, where: str = "<keras model>") -> SourceModel:
    """A SourceModel from an in-memory Keras model."""
    tf = import_tensorflow()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ConversionError(f"{where}: the Keras model has no defined inputs (a subclassed "
                              "model that was never built?); build it with keras.Input")
    if len(inputs) != 1:
        raise ConversionError(f"{where}: the model has {len(inputs)} inputs; edged runs models "
                              "with one image input")
    shape = static_input_shape(inputs[0].shape, where)
    dtype = tf.as_dtype(inputs[0].dtype)
    spec = tf.TensorSpec(shape, dtype)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return SourceModel(where, _freeze(fn), shape, np.dtype(dtype.as_numpy_dtype), model)


def _load_saved_model(path: Path) -> SourceModel:
    tf = import_tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises many unrelated types for a broken directory
        raise ConversionError(f"{path}: cannot load the SavedModel ({exc})") from None
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise ConversionError(f"{path}: the SavedModel has no 'serving_default' signature "
                              f"(has: {sorted(signatures) or 'none'})")
    sig = signatures["serving_default"]
    args = sig.structured_input_signature[1]
    if len(args) != 1:
        raise ConversionError(f"{path}: the serving signature has {len(args)} inputs; edged runs "
                              "models with one image input")
    name, spec_in = next(iter(args.items()))
    shape = static_input_shape(spec_in.shape.as_list() if spec_in.shape.rank else None,
                               f"{path} (input '{name}')")
    spec = tf.TensorSpec(shape, spec_in.dtype)

    def call(x: Any) -> Any:
        out = sig(**{name: x})
        if len(out) != 1:
            return [out[k] for k in sorted(out)]
        return next(iter(out.values()))

    fn = tf.function(call).get_concrete_function(spec)
    fn._edged_keep_alive = loaded  # the signature's variables live as long as ``loaded``
    return SourceModel(str(path), _freeze(fn), shape, np.dtype(spec_in.dtype.as_numpy_dtype),
                       None)


def load_source_model(path: Path) -> SourceModel:
    """Load a ``.keras``/``.h5`` file or a SavedModel directory."""
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ConversionError(f"{path}: a directory but not a SavedModel (no saved_model.pb)")
        return _load_saved_model(path)
    if not path.exists():
        raise ConversionError(f"{path}: not found")
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ConversionError(f"{path}: unknown model format '{path.suffix}'; expected a .keras "
                              "or .h5 file, or a SavedModel directory")
    import_tensorflow()
    import keras

    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, TypeError... for bad files
        raise ConversionError(f"{path}: Keras cannot load it ({type(exc).__name__}: {exc})") \
            from None
    return from_keras(model, str(path))


def _unsupported_ops(message: str) -> list[str]:
    """TF op names the converter could not map, from its error text."""
    found = re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", message)
    for listed in re.findall(r"(?:TF Select ops|Custom ops): ([\w, ]+)", message):
        found += [op.strip() for op in listed.split(",") if op.strip()]
    return sorted(set(found))


def convert(source: SourceModel, mode: Mode = "int8", io_type: IoType = "uint8",
            representative: Representative | None = None) -> bytes:
    """The TFLite flatbuffer of ``source`` quantized with ``mode``.

    int8: full integer (weights and activations), input/output tensors of ``io_type``;
    needs ``representative`` (yields [array shaped like the model input, model dtype]).
    float16: float16 weights. dynamic: int8 weights, float activations. none: float32.
    """
    tf = import_tensorflow()
    if mode not in MODES:
        raise ConversionError(f"unknown quantization mode {mode!r}; expected one of {MODES}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([source.function])
    if mode != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if representative is None:
            raise ConversionError("int8 quantization needs representative data (--calibration)")
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = tf.uint8 if io_type == "uint8" else tf.int8
        converter.inference_input_type = io
        converter.inference_output_type = io
    try:
        with warnings.catch_warnings():
            # "Statistics for quantized inputs were expected": the input range comes from
            # calibration, which is what we want
            warnings.simplefilter("ignore", UserWarning)
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError, RuntimeError from calibration...
        raise _explain(exc, source, mode) from None


def _explain(exc: Exception, source: SourceModel, mode: str) -> ConversionError:
    text = str(exc)
    ops = _unsupported_ops(text)
    if ops:
        return ConversionError(
            f"{source.path}: cannot be converted for edged: TensorFlow op(s) {', '.join(ops)} "
            "have no TFLite builtin kernel, and edged's runtime (LiteRT without the "
            "TensorFlow 'Flex' delegate) cannot run them; replace those layers with standard "
            "Keras layers (Conv2D, Dense, pooling, activations...) and convert again")
    hint = ""
    if mode == "int8" and ("quantiz" in text.lower() or "int8" in text.lower()):
        hint = ("; full int8 needs an int8 kernel for every op: try --quantize dynamic or "
                "float16, which keep float activations")
    return ConversionError(f"{source.path}: conversion ({mode}) failed{hint}: "
                           f"{type(exc).__name__}: {_first_lines(text)}")


def _first_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    more = f"\n  ... ({len(lines) - n} more lines)" if len(lines) > n else ""
    return "\n  ".join(lines[:n]) + more
