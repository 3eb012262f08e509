"""Generate tests/models/ssd_grid.tflite: a tiny SSD-style detector that really contains the
TFLite_Detection_PostProcess custom op, with predictable answers.

The "backbone" has fixed weights: the 64x64 input is cut into a 4x4 grid of 16x16 cells; one
anchor per cell; box encodings are zero, so a detected box is exactly its cell; a cell's class-1
score is sigmoid(10 * brightness), brightness in [-1, 1]. A white 16x16 square on black gives
one box on its cell with a score near 1. Run with TensorFlow (pip install 'edged[convert]'):

    python scripts/make_ssd_test_model.py tests/models/ssd_grid.tflite

The converter only keeps the op when the model goes through a SavedModel (the concrete-function
path folds the stub away); its outputs come out in an order of the converter's choosing.
"""

from __future__ import annotations

import sys
import tempfile

import numpy as np
import tensorflow as tf

GRID, CELL, MAX_DET = 4, 16, 10

IMPLEMENTS = " ".join([
    'name: "TFLite_Detection_PostProcess"',
    f'attr {{ key: "max_detections" value {{ i: {MAX_DET} }} }}',
    'attr { key: "max_classes_per_detection" value { i: 1 } }',
    'attr { key: "detections_per_class" value { i: 100 } }',
    'attr { key: "use_regular_nms" value { b: false } }',
    'attr { key: "nms_score_threshold" value { f: 0.3 } }',
    'attr { key: "nms_iou_threshold" value { f: 0.5 } }',
    'attr { key: "num_classes" value { i: 1 } }',
    'attr { key: "y_scale" value { f: 10.0 } }',
    'attr { key: "x_scale" value { f: 10.0 } }',
    'attr { key: "h_scale" value { f: 5.0 } }',
    'attr { key: "w_scale" value { f: 5.0 } }',
])


def anchors() -> np.ndarray:
    """[N, 4] anchors as (ycenter, xcenter, h, w), normalized, row-major over the grid."""
    out = []
    for r in range(GRID):
        for c in range(GRID):
            out.append([(r + 0.5) / GRID, (c + 0.5) / GRID, 1 / GRID, 1 / GRID])
    return np.array(out, np.float32)


@tf.function(experimental_implements=IMPLEMENTS)
def detection_postprocess(box_encodings, class_predictions, anchor_boxes):
    # stands in for the op; the converter replaces this function with it
    del box_encodings, class_predictions, anchor_boxes
    return (tf.zeros([1, MAX_DET, 4]), tf.zeros([1, MAX_DET]), tf.zeros([1, MAX_DET]),
            tf.zeros([1]))


class GridDetector(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="image")])
    def detect(self, image):
        cells = tf.nn.avg_pool2d(image, CELL, CELL, "VALID")  # [1, 4, 4, 3], in [-1, 1]
        brightness = tf.reshape(tf.reduce_mean(cells, axis=-1), [1, GRID * GRID, 1])
        scores = tf.concat([tf.zeros_like(brightness), tf.sigmoid(10.0 * brightness)], axis=-1)
        encodings = tf.zeros([1, GRID * GRID, 4]) + 0.0 * brightness
        return detection_postprocess(encodings, scores, tf.constant(anchors()))


def main(out: str) -> None:
    module = GridDetector()
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.detect})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.allow_custom_ops = True
        model = converter.convert()
    if b"TFLite_Detection_PostProcess" not in model:
        raise SystemExit("the converter folded the post-processing op away")
    with open(out, "wb") as f:
        f.write(model)
    print(f"wrote {out}: {len(model)} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/models/ssd_grid.tflite")
