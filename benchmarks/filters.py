"""How far each of edged's resize filters moves classification scores from an antialiased
reference (whole image, OpenCV INTER_AREA), for every classifier and photo in testdata.

    .venv/bin/python benchmarks/filters.py [--testdata ../shared/testdata]

Prints, per model x image x filter: edged's top-1 and its score, the INTER_AREA reference's
top-1, and the largest score difference over all classes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from edged.preprocess import INTERPOLATIONS, Resizer

MODELS = ("mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v1_0.25_128_quant.tflite")
PHOTOS = ("bird.bmp", "bird_segmentation.bmp", "cat.bmp", "cat_720p.jpg", "grace_hopper.bmp",
          "parrot.jpg", "squat.bmp")


def scores(interp: object, image: np.ndarray) -> np.ndarray:
    inp = interp.get_input_details()[0]  # type: ignore[attr-defined]
    interp.set_tensor(inp["index"], image[None])  # type: ignore[attr-defined]
    interp.invoke()  # type: ignore[attr-defined]
    out = interp.get_output_details()[0]  # type: ignore[attr-defined]
    scale, zp = out["quantization"]
    return (interp.get_tensor(out["index"]).reshape(-1).astype(np.float64) - zp) * scale  # type: ignore[attr-defined]  # noqa: E501


def main() -> None:
    from ai_edge_litert.interpreter import Interpreter

    ap = argparse.ArgumentParser()
    ap.add_argument("--testdata", type=Path, default=Path("../shared/testdata"))
    td = ap.parse_args().testdata
    print("| model | image | filter | top-1 (score) | reference top-1 | max score diff |")
    print("|---|---|---|---|---|---|")
    for model in MODELS:
        interp = Interpreter(model_path=str(td / "models" / model), num_threads=1)
        interp.allocate_tensors()
        _, h, w, _ = interp.get_input_details()[0]["shape"]
        for name in PHOTOS:
            with Image.open(td / "images" / name) as im:
                img = np.asarray(im.convert("RGB"))
            ref = scores(interp, cv2.resize(img, (int(w), int(h)),
                                            interpolation=cv2.INTER_AREA))
            for f in INTERPOLATIONS:
                out = np.empty((int(h), int(w), 3), np.uint8)
                Resizer((img.shape[1], img.shape[0]), (int(w), int(h)), "stretch",
                        f)(img, out)  # type: ignore[arg-type]
                s = scores(interp, out)
                top = int(np.argmax(s))
                print(f"| {model.split('_quant')[0]} | {name} | {f} | {top} ({s[top]:.3f}) | "
                      f"{int(np.argmax(ref))} | {np.abs(s - ref).max():.3f} |")


if __name__ == "__main__":
    main()
