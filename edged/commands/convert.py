"""``edged convert MODEL --out model.tflite``: Keras/SavedModel -> quantized .tflite + report.

Runs on a workstation with TensorFlow (``pip install 'edged[convert]'``), not on the Pi.
Exit codes: 0 ok; 1 with --strict when the accuracy drop exceeds --max-drop; 65 a model or
data problem; 69 TensorFlow or the TFLite runtime missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.convert.quantize import MODES

EXIT_DROP = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="a .keras or .h5 file, or a SavedModel directory")
    p.add_argument("--out", type=Path, required=True, help="the .tflite file to write")
    p.add_argument("--quantize", choices=MODES, default="int8",
                   help="int8: full integer (default); float16: half weights; dynamic: int8 "
                        "weights, float activations; none: float32")
    p.add_argument("--io-type", choices=("uint8", "int8"), default="uint8",
                   help="int8 mode: dtype of the input and output tensors (default uint8)")
    p.add_argument("--calibration", type=Path, metavar="DIR",
                   help="folder of representative images (needed for int8)")
    p.add_argument("--samples", type=int, default=200, help="calibration images used (200)")
    p.add_argument("--seed", type=int, default=0, help="seed for choosing calibration images")
    p.add_argument("--mean", type=float, help="model input = (pixel - mean) / std; default: "
                   "read from the model (uint8 input or Rescaling/Normalization layers)")
    p.add_argument("--std", type=float, help="see --mean")
    p.add_argument("--resize", choices=("stretch", "letterbox", "center-crop"),
                   default="stretch", help="how frames are resized (as model.resize in edged)")
    p.add_argument("--eval", type=Path, metavar="DIR|CSV",
                   help="labelled images: one sub-folder per class, or a CSV with path,label")
    p.add_argument("--labels", type=Path, help="labels file (one per line, class order); "
                   "default: the --eval sub-folder names, sorted")
    p.add_argument("--max-drop", type=float, default=1.0,
                   help="accuracy drop (points) that triggers a warning (default 1)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when the drop exceeds --max-drop (needs --eval)")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads for latency (1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    # Imported here so `edged --help` and the daemon never load the converter's modules' deps.
    from edged.convert.report import format_table
    from edged.convert.workflow import Options, run_conversion

    if args.strict and args.eval is None:
        print("edged convert: --strict needs --eval (a labelled set to measure the drop on)",
              file=sys.stderr)
        return 2
    if args.samples < 1 or args.threads < 1:
        print("edged convert: --samples and --threads must be >= 1", file=sys.stderr)
        return 2
    opts = Options(model=args.model, out=args.out, quantize=args.quantize, io_type=args.io_type,
                   calibration=args.calibration, samples=args.samples, seed=args.seed,
                   mean=args.mean, std=args.std, resize=args.resize, eval=args.eval,
                   labels=args.labels, max_drop=args.max_drop, threads=args.threads)
    report = run_conversion(opts)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
        files = report["files"]
        print(f"wrote {report['output']}" + "".join(
            f", {p}" for p in (files["labels"], files["config_snippet"]) if p))
    for warning in report["warnings"]:
        print(f"edged convert: warning: {warning}", file=sys.stderr)
    if args.strict and report["drop_exceeded"]:
        return EXIT_DROP
    return 0
