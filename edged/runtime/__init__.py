"""TFLite runtimes (LiteRT, tflite-runtime) behind one small interface."""

from edged.runtime.model import ModelRunner, TensorInfo

__all__ = ["ModelRunner", "TensorInfo"]
