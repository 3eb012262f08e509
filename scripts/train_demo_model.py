"""Train the embedded demo model and convert it with edged's own conversion path.

    /opt/tfvenv/bin/python scripts/train_demo_model.py   (from the repo root; needs TensorFlow)

Writes edged/demo/shapes_int8.tflite (full int8, uint8 in/out) and edged/demo/shapes_labels.txt.
Deterministic: the same seeds give the same training set, weights and calibration data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edged.convert.quantize import convert, from_keras  # noqa: E402
from edged.convert.shapes_model import make_dataset, representative, train  # noqa: E402
from edged.shapes import SHAPE_NAMES  # noqa: E402

TRAIN_SEED, CALIB_SEED, TEST_SEED = 20240601, 20240602, 20240603


def tflite_accuracy(model_bytes: bytes, images: np.ndarray, labels: np.ndarray) -> float:
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=model_bytes)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    hits = 0
    for image, label in zip(images, labels, strict=True):
        interp.set_tensor(inp["index"], image[None])  # uint8, scale 1, zero point 0
        interp.invoke()
        hits += int(np.argmax(interp.get_tensor(out["index"])[0]) == label)
    return hits / len(labels)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=6000, help="training images")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--out", type=Path, default=ROOT / "edged" / "demo")
    args = p.parse_args()

    start = time.perf_counter()
    x, y = make_dataset(args.train, TRAIN_SEED)
    calib, _ = make_dataset(300, CALIB_SEED)
    x_test, y_test = make_dataset(1000, TEST_SEED)
    print(f"data: {len(x)} train, {len(x_test)} test ({time.perf_counter() - start:.1f}s)")

    model = train(x, y, args.epochs, TRAIN_SEED)
    float_acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    print(f"trained ({time.perf_counter() - start:.1f}s): float accuracy {float_acc:.4f}")

    data = convert(from_keras(model, "demo model"), "int8", "uint8", representative(calib, 300))
    int8_acc = tflite_accuracy(data, x_test, y_test)
    print(f"int8: {len(data)} bytes, accuracy {int8_acc:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shapes_int8.tflite").write_bytes(data)
    (args.out / "shapes_labels.txt").write_text("\n".join(SHAPE_NAMES) + "\n")
    print(f"wrote {args.out / 'shapes_int8.tflite'} and shapes_labels.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
