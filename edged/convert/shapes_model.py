"""The demo model: a small CNN that names the shape edged.shapes draws.

Training images are drawn at several frame sizes and resized with edged's own Resizer, so the
model sees exactly the preprocessing the daemon applies. Used by scripts/train_demo_model.py
and, with fewer steps, by the conversion tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edged.convert.calibration import Normalization, representative_dataset
from edged.preprocess import Resizer
from edged.shapes import SHAPE_NAMES, draw_shape

INPUT_SIZE = (64, 64)  # (width, height)
FRAME_SIZES: tuple[tuple[int, int], ...] = (
    (640, 480), (320, 240), (1280, 720), (160, 120), (256, 256), (480, 480), (224, 224),
    (480, 640), (800, 600),
)


def make_dataset(n: int, seed: int, input_size: tuple[int, int] = INPUT_SIZE,
                 frame_sizes: tuple[tuple[int, int], ...] = FRAME_SIZES,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` resized frames (n, H, W, 3) uint8 and their class indices, classes balanced."""
    rng = np.random.default_rng(seed)
    w, h = input_size
    images = np.empty((n, h, w, 3), np.uint8)
    labels = np.arange(n, dtype=np.int64) % len(SHAPE_NAMES)
    rng.shuffle(labels)
    resizers: dict[tuple[int, int], Resizer] = {}
    for i in range(n):
        size = frame_sizes[int(rng.integers(len(frame_sizes)))]
        frame = draw_shape(SHAPE_NAMES[labels[i]], size[0], size[1], rng)
        resizer = resizers.setdefault(size, Resizer(size, input_size, "stretch", "bilinear"))
        resizer(frame, images[i])
    return images, labels


def build_model(input_size: tuple[int, int] = INPUT_SIZE, width: int = 16) -> Any:
    """Raw pixels 0..255 in (Rescaling inside the model), softmax over SHAPE_NAMES out.

    The Keras input is float32 so that full-int8 conversion (with black and white calibration
    frames) gives a uint8 input with scale 1, zero point 0: edged feeds pixels unchanged.
    """
    import keras
    from keras import layers

    w, h = input_size
    inputs = keras.Input((h, w, 3), dtype="float32", name="image")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for filters in (width, width * 2, width * 2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(width * 4, 3, padding="same", activation="relu")(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(len(SHAPE_NAMES), activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name="edged_shapes")


def train(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int,
          width: int = 16, batch_size: int = 64) -> Any:
    """A compiled and fitted build_model, deterministic for a given seed."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model((images.shape[2], images.shape[1]), width)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return model


def representative(images: np.ndarray, count: int = 200) -> Any:
    """Representative data for the converter: raw pixels as the float32 model input."""
    return representative_dataset(images[:count], Normalization(0.0, 1.0, "raw pixels"),
                                  np.dtype(np.float32))
