"""Pick a TFLite runtime: LiteRT first, tflite-runtime as the fallback.

Returns the ``Interpreter`` class and ``load_delegate`` function of the chosen package, or
raises RuntimeUnavailable with the reason each candidate was rejected.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from edged.errors import RuntimeUnavailable

RuntimeName = Literal["auto", "litert", "tflite-runtime"]

_MODULES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
}


@dataclass(frozen=True)
class Runtime:
    name: str  # "litert" | "tflite-runtime"
    version: str
    interpreter_class: Any
    load_delegate: Any


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def _import(name: str) -> Runtime:
    module_name, dist = _MODULES[name]
    ver = _version(dist)
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        hint = f"pip install {dist}"
        if name == "tflite-runtime" and sys.version_info >= (3, 12):
            hint = "tflite-runtime has no wheels for Python 3.12+; use ai-edge-litert"
        raise RuntimeUnavailable(f"{dist} is not installed; {hint}")
    if name == "tflite-runtime" and int(np.__version__.split(".")[0]) >= 2:
        # tflite-runtime 2.14 was built against numpy 1.x: with numpy 2 it crashes on import
        # or on first use, so refuse it with the reason instead of a traceback.
        raise RuntimeUnavailable(
            f"tflite-runtime {ver} needs numpy<2 but numpy {np.__version__} is installed; "
            "use LiteRT (pip install ai-edge-litert) or a venv with 'numpy<2' "
            "(tflite-runtime has no wheels past Python 3.11)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install {dist}"
        if name == "tflite-runtime" and sys.version_info >= (3, 12):
            hint = "tflite-runtime has no wheels for Python 3.12+; use ai-edge-litert"
        raise RuntimeUnavailable(f"{dist} is not installed ({exc}); {hint}") from None
    return Runtime(name, ver, module.Interpreter, module.load_delegate)


def select_runtime(preference: RuntimeName = "auto") -> Runtime:
    if preference != "auto":
        return _import(preference)
    reasons = []
    for name in ("litert", "tflite-runtime"):
        try:
            return _import(name)
        except RuntimeUnavailable as exc:
            reasons.append(f"{name}: {exc}")
    raise RuntimeUnavailable("no TFLite runtime is usable:\n  " + "\n  ".join(reasons))
