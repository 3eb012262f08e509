"""Float vs. quantized, side by side, on the runtime and preprocessing edged uses.

Both models are .tflite files run by edged's ModelRunner (the float one is the same model
converted without quantization), fed frames resized by edged's Resizer: the numbers are the
ones the daemon will see, not TensorFlow's.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edged.convert.calibration import (
    Normalization,
    list_images,
    read_rgb,
    resize_to_model,
)
from edged.convert.tfimport import ConversionError
from edged.preprocess import ResizeMode
from edged.quant import dequantize
from edged.runtime.model import ModelRunner
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import Runtime

REPORT_SCHEMA = "edged.convert-report/1"


@dataclass
class EvalSet:
    """Labelled images: ``labels[i]`` is the class index of ``paths[i]`` in ``class_names``."""

    source: str
    paths: list[Path]
    labels: np.ndarray
    class_names: list[str]


def _index_of(label: str, class_names: list[str], where: str) -> int:
    if label in class_names:
        return class_names.index(label)
    if label.isdigit() and int(label) < len(class_names):
        return int(label)
    raise ConversionError(f"{where}: label '{label}' is not one of the model's classes "
                          f"({', '.join(class_names)})")


def _eval_from_folders(folder: Path, class_names: list[str] | None) -> EvalSet:
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subdirs:
        raise ConversionError(f"eval folder {folder}: expected one sub-folder per class "
                              "(named like the labels), found none")
    # Keras' image_dataset_from_directory numbers classes by sorted folder name; so do we.
    names = class_names or [d.name for d in subdirs]
    paths: list[Path] = []
    labels: list[int] = []
    for d in subdirs:
        index = _index_of(d.name, names, f"eval folder {d}")
        files = list_images(d)
        paths += files
        labels += [index] * len(files)
    return EvalSet(str(folder), paths, np.array(labels, np.int64), names)


def _eval_from_csv(path: Path, class_names: list[str] | None) -> EvalSet:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise ConversionError(f"eval file {path}: cannot be read ({exc.strerror})") from None
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise ConversionError(f"eval file {path}: expected a CSV with a header row containing "
                              "'path' and 'label' columns and at least one row")
    names = class_names or sorted({r["label"] for r in rows})
    paths, labels = [], []
    for line, row in enumerate(rows, start=2):
        image = (path.parent / row["path"]).resolve()
        if not image.is_file():
            raise ConversionError(f"eval file {path} (line {line}): image {row['path']} "
                                  "not found")
        paths.append(image)
        labels.append(_index_of(row["label"].strip(), names, f"eval file {path} (line {line})"))
    return EvalSet(str(path), paths, np.array(labels, np.int64), names)


def load_eval_set(path: Path, class_names: list[str] | None) -> EvalSet:
    """A folder with one sub-folder per class, or a CSV with path,label columns."""
    if path.is_dir():
        return _eval_from_folders(path, class_names)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _eval_from_csv(path, class_names)
    raise ConversionError(f"eval set {path}: not found, or neither a folder nor a .csv file")


def load_pixels(paths: list[Path], input_size: tuple[int, int],
                mode: ResizeMode = "stretch") -> np.ndarray:
    return np.stack([resize_to_model(read_rgb(p), input_size, mode) for p in paths])


@dataclass
class RunResult:
    scores: np.ndarray  # (n, k) dequantized first output
    latency_ms: np.ndarray  # (n,) set_input + invoke + copy_outputs


def run_tflite(path: Path, pixels: np.ndarray, norm: Normalization, runtime: Runtime,
               threads: int) -> RunResult:
    """Every model-sized frame through ModelRunner, as the daemon's inference stage runs it."""
    runner = ModelRunner(read_model_file(path), runtime, threads, mean=norm.mean, std=norm.std)
    out_info = runner.outputs[0]
    buffers = runner.new_output_buffers()
    scores = np.empty((len(pixels), int(np.prod(out_info.shape))), np.float32)
    latency = np.empty(len(pixels), np.float64)
    for i, image in enumerate(pixels):
        start = time.perf_counter_ns()
        runner.set_input(image)
        runner.invoke()
        runner.copy_outputs(buffers)
        latency[i] = (time.perf_counter_ns() - start) / 1e6
        scores[i] = dequantize(buffers[0], out_info.scale, out_info.zero_point).reshape(-1)
    return RunResult(scores, latency)


def _model_entry(path: Path, result: RunResult, labels: np.ndarray | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": str(path), "bytes": path.stat().st_size,
        "latency_ms": {"median": round(float(np.median(result.latency_ms)), 4),
                       "p90": round(float(np.percentile(result.latency_ms, 90)), 4)},
        "accuracy": None,
    }
    if labels is not None:
        entry["accuracy"] = round(float(np.mean(result.scores.argmax(1) == labels)), 6)
    return entry


def compare(float_path: Path, float_run: RunResult, quant_path: Path, quant_run: RunResult,
            eval_set: EvalSet | None, max_drop: float, worst: int = 5) -> dict[str, Any]:
    """The report's comparison fields (see docs/convert.md for each field)."""
    labels = eval_set.labels if eval_set else None
    f = _model_entry(float_path, float_run, labels)
    q = _model_entry(quant_path, quant_run, labels)
    diff = np.abs(float_run.scores - quant_run.scores)
    per_frame = diff.max(axis=1)
    order = np.argsort(-per_frame, kind="stable")[:worst]
    names = eval_set.class_names if eval_set else None
    worst_frames = []
    for i in order:
        k = int(diff[i].argmax())
        worst_frames.append({
            "image": str(eval_set.paths[i]) if eval_set else f"frame {i}",
            "class": names[k] if names and k < len(names) else k,
            "float": round(float(float_run.scores[i, k]), 5),
            "quantized": round(float(quant_run.scores[i, k]), 5)})
    drop = None
    if f["accuracy"] is not None and q["accuracy"] is not None:
        drop = round((f["accuracy"] - q["accuracy"]) * 100, 4)
    return {
        "float": f, "quantized": q,
        "size_ratio": round(f["bytes"] / q["bytes"], 3),
        "agreement": round(float(np.mean(
            float_run.scores.argmax(1) == quant_run.scores.argmax(1))), 6),
        "accuracy_drop_points": drop,
        "max_drop_points": max_drop,
        "drop_exceeded": drop is not None and drop > max_drop,
        "score_diff": {"max": round(float(diff.max()), 5), "mean": round(float(diff.mean()), 6),
                       "worst": worst_frames},
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable report."""
    f, q = report["float"], report["quantized"]
    rows = [("", "float", f"quantized ({report['quantize']})"),
            ("file", Path(f["file"]).name, Path(q["file"]).name),
            ("size", f"{f['bytes'] / 1024:.1f} KiB", f"{q['bytes'] / 1024:.1f} KiB"),
            ("top-1 accuracy", _pct(f["accuracy"]), _pct(q["accuracy"])),
            ("latency median", f"{f['latency_ms']['median']:.3f} ms",
             f"{q['latency_ms']['median']:.3f} ms"),
            ("latency p90", f"{f['latency_ms']['p90']:.3f} ms", f"{q['latency_ms']['p90']:.3f} ms")]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    ev = report.get("eval")
    lines.append(f"frames: {ev['images']} from {ev['source']}" if ev else
                 f"frames: {report['frames']} (no --eval: latency and agreement only)")
    lines.append(f"size ratio: {report['size_ratio']:.2f}x smaller; top-1 agreement "
                 f"{_pct(report['agreement'])}")
    if report["accuracy_drop_points"] is not None:
        lines.append(f"accuracy drop: {report['accuracy_drop_points']:.2f} points "
                     f"(max allowed {report['max_drop_points']})")
    sd = report["score_diff"]
    lines.append(f"score difference: max {sd['max']:.4f}, mean {sd['mean']:.5f}; largest:")
    for w in sd["worst"]:
        lines.append(f"  {w['image']}  class {w['class']}: float {w['float']:.4f} "
                     f"quantized {w['quantized']:.4f}")
    rt = report["runtime"]
    lines.append(f"runtime: {rt['name']} {rt['version']}, {rt['threads']} thread(s) "
                 "on this machine (a Pi 4 is several times slower)")
    return "\n".join(lines)
