"""Representative data: images from a folder, resized and normalized the way the model expects.

Images are resized with edged's own Resizer (the daemon's resize), then mapped to the model's
input domain with real = (pixel - mean) / std. mean/std come from --mean/--std, or from the
model itself: a uint8 input, or Rescaling/Normalization layers at its input, means the model
takes raw pixels (mean 0, std 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edged.convert.quantize import SourceModel
from edged.convert.tfimport import ConversionError
from edged.preprocess import Interpolation, ResizeMode, Resizer

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
PREPROCESSING_LAYERS = ("Rescaling", "Normalization", "Resizing", "CenterCrop")


@dataclass(frozen=True)
class Normalization:
    """real model input = (pixel - mean) / std; ``source`` says where the values came from."""

    mean: float
    std: float
    source: str

    def apply(self, pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
        if np.dtype(dtype) == np.uint8:
            return pixels
        real = (pixels.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        return real.astype(dtype)


def _preprocessing_layers(keras_model: Any) -> list[str]:
    """Class names of the preprocessing layers directly after the input, in order."""
    found = []
    for layer in getattr(keras_model, "layers", []):
        name = type(layer).__name__
        if name == "InputLayer":
            continue
        if name not in PREPROCESSING_LAYERS:
            break
        found.append(name)
    return found


_GRAPH_LAYER = re.compile(r"(?:^|/)(rescaling|normalization)(?:_\d+)?/")


def _graph_preprocessing(function: Any) -> list[str]:
    """Keras preprocessing layers seen in a SavedModel's graph, by op name (Keras exports name
    ops 'model/rescaling/mul'); a SavedModel keeps no layer objects to inspect."""
    found: list[str] = []
    for op in function.graph.get_operations():
        m = _GRAPH_LAYER.search(op.name)
        if m and m.group(1) not in found:
            found.append(m.group(1))
    return found


def resolve_normalization(mean: float | None, std: float | None, source: SourceModel
                          ) -> Normalization:
    """The pixel -> model-input mapping, from the options or the model; a clear error if unknown."""
    where = source.path
    if (mean is None) != (std is None):
        raise ConversionError("--mean and --std go together; give both or neither")
    if std is not None and std <= 0:
        raise ConversionError(f"--std must be > 0, got {std}")
    if source.input_dtype == np.uint8:
        if mean is not None and (mean, std) != (0.0, 1.0):
            raise ConversionError(f"{where}: the model's input is uint8 pixels, so it does its "
                                  "own normalization; --mean/--std do not apply (drop them)")
        return Normalization(0.0, 1.0, "uint8 model input (raw pixels)")
    if source.input_dtype.kind != "f":
        raise ConversionError(f"{where}: input dtype {source.input_dtype} is not supported; "
                              "use a float32 or uint8 image input")
    if mean is not None and std is not None:
        return Normalization(float(mean), float(std), "--mean/--std")
    if source.keras_model is not None:
        layers = _preprocessing_layers(source.keras_model)
        kind = "model preprocessing layers"
    else:
        layers = _graph_preprocessing(source.function)
        kind = "preprocessing layers in the SavedModel graph"
    if layers:
        return Normalization(0.0, 1.0, f"{kind} ({', '.join(layers)}): raw pixels 0..255")
    raise ConversionError(
        f"{where}: cannot tell how the model expects its pixels normalized (no Rescaling or "
        "Normalization layer at its input); pass --mean and --std, e.g. --mean 127.5 --std 127.5 "
        "for inputs in [-1, 1], --mean 0 --std 255 for [0, 1], --mean 0 --std 1 for 0..255")


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; an error if there are none."""
    if not folder.is_dir():
        raise ConversionError(f"calibration folder {folder}: not found or not a directory")
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ConversionError(f"calibration folder {folder}: contains no images "
                              f"({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_rgb(path: Path) -> np.ndarray:
    """An HxWx3 uint8 RGB array; an error naming the file when it is not a readable image."""
    from edged.imagefile import ImageFileError, decode_file

    try:
        return decode_file(path)
    except ImageFileError as exc:
        raise ConversionError(str(exc)) from None


def resize_to_model(image: np.ndarray, input_size: tuple[int, int],
                    mode: ResizeMode = "stretch",
                    interpolation: Interpolation = "bilinear") -> np.ndarray:
    """``image`` at the model input size (width, height), resized exactly as the daemon does."""
    w, h = input_size
    out = np.empty((h, w, 3), np.uint8)
    Resizer((image.shape[1], image.shape[0]), input_size, mode, interpolation)(image, out)
    return out


def sample_images(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` files drawn without replacement (all of them if fewer), reproducibly."""
    files = list_images(folder)
    if count >= len(files):
        return files
    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), count, replace=False))]


def calibration_pixels(folder: Path, count: int, seed: int, input_size: tuple[int, int],
                       mode: ResizeMode = "stretch") -> np.ndarray:
    """(n, H, W, 3) uint8: sampled images at the model input size."""
    paths = sample_images(folder, count, seed)
    return np.stack([resize_to_model(read_rgb(p), input_size, mode) for p in paths])


def representative_dataset(pixels: np.ndarray, norm: Normalization, dtype: np.dtype):
    """A converter representative-dataset callable over ``pixels``.

    A black and a white frame come first: they pin the input tensor's range to the full pixel
    range, so the quantized input maps pixels exactly and edged feeds camera pixels unchanged.
    """
    h, w = pixels.shape[1:3]
    extremes = np.stack([np.zeros((h, w, 3), np.uint8), np.full((h, w, 3), 255, np.uint8)])
    batch = np.concatenate([extremes, pixels])

    def gen() -> Iterator[list[np.ndarray]]:
        for image in batch:
            yield [norm.apply(image[None], dtype)]
    return gen
