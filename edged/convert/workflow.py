"""All of ``edged convert``: load, calibrate, convert, check in edged, compare, write files."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edged.convert.calibration import (
    Normalization,
    calibration_pixels,
    representative_dataset,
    resolve_normalization,
)
from edged.convert.quantize import IoType, Mode, SourceModel, convert, load_source_model
from edged.convert.report import (
    REPORT_SCHEMA,
    EvalSet,
    compare,
    load_eval_set,
    load_pixels,
    run_tflite,
)
from edged.convert.snippet import companion_paths, config_snippet, guess_task, write_labels
from edged.convert.tfimport import ConversionError, import_tensorflow
from edged.errors import ModelError
from edged.labels import read_label_file
from edged.preprocess import ResizeMode
from edged.runtime.model import ModelRunner
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import Runtime, select_runtime

LATENCY_FRAMES = 50  # frames timed when there is no eval set


@dataclass
class Options:
    model: Path
    out: Path
    quantize: Mode = "int8"
    io_type: IoType = "uint8"
    calibration: Path | None = None
    samples: int = 200
    seed: int = 0
    mean: float | None = None
    std: float | None = None
    resize: ResizeMode = "stretch"
    eval: Path | None = None
    labels: Path | None = None
    max_drop: float = 1.0
    threads: int = 1


def _calibration(opts: Options, source: SourceModel, norm: Normalization) -> Any:
    if opts.quantize != "int8":
        return None
    if opts.calibration is None:
        raise ConversionError("--quantize int8 needs representative images: --calibration DIR "
                              "(a few hundred images like the ones the camera will see)")
    pixels = calibration_pixels(opts.calibration, opts.samples, opts.seed, source.input_size,
                                opts.resize)
    return representative_dataset(pixels, norm, source.input_dtype)


def _class_names(opts: Options) -> list[str] | None:
    if opts.labels is None:
        return None
    labels = read_label_file(opts.labels)
    return [labels.get(i, f"class{i}") for i in range(max(labels) + 1)]


def _check_in_edged(path: Path, runtime: Runtime, norm: Normalization, threads: int
                    ) -> ModelRunner:
    """Load the new file the way the daemon does; a failure here is a conversion failure."""
    try:
        return ModelRunner(read_model_file(path), runtime, threads, mean=norm.mean, std=norm.std)
    except ModelError as exc:
        raise ConversionError(f"the converted model does not load in edged: {exc}") from None


def _frames(opts: Options, source: SourceModel, eval_set: EvalSet | None) -> np.ndarray:
    if eval_set is not None:
        return load_pixels(eval_set.paths, source.input_size, opts.resize)
    if opts.calibration is not None:
        return calibration_pixels(opts.calibration, LATENCY_FRAMES, opts.seed + 1,
                                  source.input_size, opts.resize)
    w, h = source.input_size
    return np.random.default_rng(opts.seed).integers(0, 256, (LATENCY_FRAMES, h, w, 3), np.uint8)


def run_conversion(opts: Options) -> dict[str, Any]:
    """Convert, write the model, labels and config snippet, and return the report dict."""
    import_tensorflow()
    runtime = select_runtime("auto")
    source = load_source_model(opts.model)
    if source.input_shape[3] != 3:
        raise ConversionError(f"{opts.model}: input has {source.input_shape[3]} channels; "
                              "edged feeds RGB images (3 channels)")
    norm = resolve_normalization(opts.mean, opts.std, source)
    class_names = _class_names(opts)
    eval_set = load_eval_set(opts.eval, class_names) if opts.eval else None
    data = convert(source, opts.quantize, opts.io_type, _calibration(opts, source, norm))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_bytes(data)
    runner = _check_in_edged(opts.out, runtime, norm, opts.threads)
    frames = _frames(opts, source, eval_set)
    with tempfile.TemporaryDirectory(prefix="edged-convert-") as tmp:
        float_path = Path(tmp) / (opts.out.stem + "_float.tflite")
        float_path.write_bytes(data if opts.quantize == "none" else convert(source, "none"))
        float_run = run_tflite(float_path, frames, norm, runtime, opts.threads)
        quant_run = run_tflite(opts.out, frames, norm, runtime, opts.threads)
        report = compare(float_path, float_run, opts.out, quant_run, eval_set, opts.max_drop)
    report["float"]["file"] = f"(float32 conversion of {opts.model.name}, not kept)"
    report.update(_describe(opts, source, norm, runtime, len(frames), eval_set))
    names = class_names or (eval_set.class_names if eval_set else None)
    report["labels_from"] = str(opts.labels) if opts.labels else None
    report["files"] = _write_companions(opts, runner, source, norm, names)
    report["warnings"] = _warnings(report, names, runner)
    return report


def _describe(opts: Options, source: SourceModel, norm: Normalization, runtime: Runtime,
              frames: int, eval_set: EvalSet | None) -> dict[str, Any]:
    return {
        "schema": REPORT_SCHEMA, "model": str(opts.model), "output": str(opts.out),
        "quantize": opts.quantize, "io_type": opts.io_type if opts.quantize == "int8" else None,
        "input": {"shape": list(source.input_shape), "dtype": str(source.input_dtype),
                  "normalize": {"mean": norm.mean, "std": norm.std, "source": norm.source},
                  "resize": opts.resize},
        "calibration": ({"source": str(opts.calibration), "samples": opts.samples,
                         "seed": opts.seed} if opts.quantize == "int8" else None),
        "eval": ({"source": eval_set.source, "images": len(eval_set.paths),
                  "classes": eval_set.class_names} if eval_set else None),
        "frames": frames,
        "runtime": {"name": runtime.name, "version": runtime.version, "threads": opts.threads},
    }


def _write_companions(opts: Options, runner: ModelRunner, source: SourceModel,
                      norm: Normalization, names: list[str] | None) -> dict[str, str | None]:
    labels_path, snippet_path = companion_paths(opts.out)
    if names is not None:
        write_labels(labels_path, names)
    task = guess_task(runner.outputs)
    snippet_path.write_text(config_snippet(
        opts.out, labels_path if names is not None else None, task, source.input_shape,
        str(runner.input.dtype), norm, opts.resize), encoding="utf-8")
    return {"labels": str(labels_path) if names is not None else None,
            "config_snippet": str(snippet_path)}


def _warnings(report: dict[str, Any], names: list[str] | None, runner: ModelRunner) -> list[str]:
    out = []
    if report["drop_exceeded"]:
        out.append(f"quantized accuracy is {report['accuracy_drop_points']:.2f} points below "
                   f"float (more than --max-drop {report['max_drop_points']}); try more or more "
                   "representative --calibration images, or --quantize dynamic/float16")
    if report["eval"] is None:
        out.append("no --eval set: accuracy not measured (only agreement and latency)")
    n_out = int(np.prod(runner.outputs[0].shape))
    if names is not None and len(names) != n_out:
        out.append(f"{len(names)} labels but the model's first output has {n_out} values")
    if names is not None and report["eval"] and not report.get("labels_from"):
        out.append("class order taken from the sorted --eval folder names (as Keras' "
                   "image_dataset_from_directory numbers them); pass --labels if the model "
                   "was trained with another order")
    if names is None:
        out.append("no labels (give --labels FILE or an --eval folder): no labels file written")
    return out
