"""Generate tests/models/fails_on_bright.tflite: a tiny classifier whose invoke() really fails
for bright frames (it reshapes its input by a size computed from the pixels: 7 rows do not
divide 192 values), and works for dark ones. The fault tests use it as an interpreter that
raises at run time, without mocking the interpreter. Needs TensorFlow:

    python scripts/make_failing_test_model.py tests/models/fails_on_bright.tflite
"""

from __future__ import annotations

import sys

import tensorflow as tf


@tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32)])
def classify(image):
    bright = tf.cast(tf.reduce_mean(image) > 0.0, tf.int32)  # input is in [-1, 1]
    rows = bright * 5 + 2  # dark: 2 rows (fine), bright: 7 rows (192 % 7 != 0: fails)
    folded = tf.reshape(image, tf.stack([rows, -1]))
    total = tf.reduce_sum(folded) / 192.0
    return tf.reshape(tf.nn.softmax(tf.stack([total, -total])), [1, 2])


def main(out: str) -> None:
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [classify.get_concrete_function()])
    model = converter.convert()
    with open(out, "wb") as f:
        f.write(model)
    print(f"wrote {out}: {len(model)} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/models/fails_on_bright.tflite")
