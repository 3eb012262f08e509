"""Generate tests/models/yolo_*.tflite: a tiny YOLO-shaped detector exported the way Ultralytics
exports (output [1, 4 + C, N], int8 input quantized with scale ~0.019 and a nonzero zero point,
boxes normalized to the input), with predictable answers.

The 64x64 input is cut into an 8x8 grid of 8x8 cells, one candidate per cell (N = 64), whose
box is exactly the cell. Class c's score is sigmoid(16 * (0.25 - d)), d the squared distance
from the cell's mean colour to the class colour (red, green, blue) with pixels in [0, 1]. So a
pure red 8x8 square on a grey background is found with a score near 1 only when the input is
pixel / 255; fed pixel - 128 or [-1, 1] (edged's old defaults) it finds nothing.

Files written (the same network each time):
  yolo_int8_json.tflite  card as metadata.json (newer Ultralytics exports)
  yolo_int8_dict.tflite  card as temp_meta.txt, a Python dict literal (older exports)
  yolo_int8_bare.tflite  no card
  yolo_float_json.tflite float32 input and output, card as metadata.json

Run with TensorFlow (make test-convert creates .venv-convert):

    .venv-convert/bin/python scripts/make_yolo_test_model.py tests/models
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

SIZE, CELL = 64, 8
GRID = SIZE // CELL
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
NAMES = {0: "red square", 1: "green square", 2: "blue square"}
# the real input range an Ultralytics int8 export calibrated to (scale ~0.0187, zero point -14)
INPUT_RANGE = (-2.13, 2.63)


def cell_boxes() -> np.ndarray:
    """[4, N]: cx, cy, w, h of each cell, normalized, row-major over the grid."""
    cy, cx = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    return np.stack([(cx.ravel() + 0.5) / GRID, (cy.ravel() + 0.5) / GRID,
                     np.full(GRID * GRID, 1 / GRID, np.float32),
                     np.full(GRID * GRID, 1 / GRID, np.float32)])


class GridYolo(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32, name="images")])
    def detect(self, image):
        cells = tf.nn.avg_pool2d(image, CELL, CELL, "VALID")  # [1, 8, 8, 3]
        cells = tf.reshape(cells, [1, GRID * GRID, 1, 3])
        d = tf.reduce_sum(tf.square(cells - COLOURS[None, None]), axis=-1)  # [1, N, C]
        scores = tf.transpose(tf.sigmoid(16.0 * (0.25 - d)), [0, 2, 1])  # [1, C, N]
        boxes = tf.constant(cell_boxes()[None]) + 0.0 * scores[:, :1, :]
        return tf.concat([boxes, scores], axis=1)  # [1, 4 + C, N]


def planted(colour: int, row: int, col: int, background: float = 0.5) -> np.ndarray:
    img = np.full((SIZE, SIZE, 3), background, np.float32)
    img[row * CELL:(row + 1) * CELL, col * CELL:(col + 1) * CELL] = COLOURS[colour]
    return img


def representative():
    rng = np.random.default_rng(0)
    for i in range(48):
        img = planted(i % 3, int(rng.integers(GRID)), int(rng.integers(GRID)),
                      float(rng.uniform(0.2, 0.8)))
        if i == 0:  # one pixel at each end of the range, as a real calibration set has
            img[0, 0], img[0, 1] = INPUT_RANGE
        yield [img[None]]


def convert(module: GridYolo, int8: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.detect.get_concrete_function()], module)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def card() -> dict[str, object]:
    return {"description": "edged test YOLO (grid of colour cells)", "author": "edged",
            "date": "2026-11-25", "version": "8.1.0", "license": "AGPL-3.0",
            "docs": "https://docs.ultralytics.com", "stride": CELL, "task": "detect",
            "batch": 1, "imgsz": [SIZE, SIZE], "names": NAMES}


def write(path: Path, model: bytes, member: str | None) -> None:
    path.write_bytes(model)
    if member is not None:  # appended the way Ultralytics does: a zip after the flatbuffer
        text = json.dumps(card(), indent=2) if member == "metadata.json" else str(card())
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(member, text)
    print(f"wrote {path}: {path.stat().st_size} bytes")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    module = GridYolo()
    int8 = convert(module, True)
    write(out / "yolo_int8_json.tflite", int8, "metadata.json")
    write(out / "yolo_int8_dict.tflite", int8, "temp_meta.txt")
    write(out / "yolo_int8_bare.tflite", int8, None)
    write(out / "yolo_float_json.tflite", convert(module, False), "metadata.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/models")
