"""Classification known answers on the shared test models, through edged's own model code
(runs inside the arm64 root under qemu; see stage.sh).

usage: python known_answers.py TESTDATA [--runtime auto|litert|tflite-runtime] [--threads 1 4]
Exit 0 only when every image gets its top-1 index and label, with a score near the reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from edged.config import parse_config
from edged.daemon import build_model_parts
from edged.preprocess import Resizer
from edged.sources.images import decode_image

# testdata/README.md: image -> (index, label, score measured with LiteRT on x86)
ANSWERS = {
    "cat.bmp": (286, "Egyptian cat", 0.76),
    "bird.bmp": (20, "chickadee", 0.98),
    "parrot.jpg": (89, "macaw", 0.99),
    "grace_hopper.bmp": (653, "military uniform", 0.89),
}
SCORE_TOLERANCE = 0.08  # int8 kernels differ slightly between runtimes and CPUs


def classify(testdata: Path, runtime: str, threads: int) -> list[str]:
    config = parse_config(
        f"model:\n  path: {testdata}/models/mobilenet_v2_1.0_224_quant.tflite\n"
        f"  labels: {testdata}/labels/imagenet_labels.txt\n"
        f"  runtime: {runtime}\n  threads: {threads}\n")
    runner, decoder, _ = build_model_parts(config)
    failures = []
    for name, (index, label, score) in ANSWERS.items():
        image = decode_image(testdata / "images" / name)
        buf = np.empty((runner.input_size[1], runner.input_size[0], 3), np.uint8)
        resizer = Resizer((image.shape[1], image.shape[0]), runner.input_size, "stretch",
                          "bilinear")
        resizer(image, buf)
        runner.set_input(buf)
        start = time.perf_counter()
        runner.invoke()
        ms = (time.perf_counter() - start) * 1000
        outputs = runner.new_output_buffers()
        runner.copy_outputs(outputs)
        top = decoder.decode(outputs, resizer.transform)["classes"][0]
        ok = (top["index"], top["label"]) == (index, label) and \
            abs(top["score"] - score) <= SCORE_TOLERANCE
        print(f"  {runtime:>14} threads={threads} {name:<17} -> {top['index']:>4} "
              f"{top['label']!r:<20} {top['score']:.3f} ({ms:.0f} ms) "
              f"{'ok' if ok else f'WRONG, expected {index} {label!r} ~{score}'}")
        if not ok:
            failures.append(f"{name} with {runtime} threads={threads}")
    return failures


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("testdata", type=Path)
    p.add_argument("--runtime", default="auto")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = p.parse_args()
    failures = []
    for threads in args.threads:
        failures += classify(args.testdata, args.runtime, threads)
    if failures:
        print("known answers FAILED: " + ", ".join(failures))
        return 1
    print(f"known answers: {len(ANSWERS) * len(args.threads)}/"
          f"{len(ANSWERS) * len(args.threads)} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
