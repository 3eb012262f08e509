"""Files written next to the converted model: the labels file and a ready config.yaml snippet."""

from __future__ import annotations

from pathlib import Path

import yaml

from edged.convert.calibration import Normalization
from edged.runtime.model import TensorInfo


def companion_paths(out: Path) -> tuple[Path, Path]:
    """(labels, config snippet) next to the model ``out``: NAME_labels.txt, NAME_config.yaml."""
    return out.with_name(out.stem + "_labels.txt"), out.with_name(out.stem + "_config.yaml")


def write_labels(path: Path, labels: list[str]) -> None:
    """One label per line, in class-index order (the format edged reads)."""
    bad = [name for name in labels if not name.strip() or "\n" in name]
    if bad:
        raise ValueError(f"labels must be non-empty single lines: {bad!r}")
    path.write_text("".join(f"{name}\n" for name in labels), encoding="utf-8")


def guess_task(outputs: list[TensorInfo]) -> str:
    """The edged task name whose decoder accepts these outputs, or 'auto'."""
    from edged.tasks import detect_task

    return detect_task(outputs) or "auto"


def config_snippet(model_path: Path, labels_path: Path | None, task: str,
                   input_shape: tuple[int, ...], input_dtype: str, norm: Normalization,
                   resize: str) -> str:
    """The ``model:`` section for this model, as YAML with a comment header."""
    model: dict[str, object] = {"path": str(model_path.resolve())}
    if labels_path is not None:
        model["labels"] = str(labels_path.resolve())
    model["task"] = task
    model["resize"] = resize
    model["normalize"] = {"mean": norm.mean, "std": norm.std}
    _, h, w, _ = input_shape
    header = (
        f"# edged config for {model_path.name}, written by 'edged convert'.\n"
        f"# Model input: {w}x{h} RGB {input_dtype}; frames of any size are resized to it "
        f"('{resize}').\n"
        f"# normalize: real input = (pixel - mean) / std ({norm.source}).\n"
        "# Merge into /etc/edged/config.yaml (add a source: section) and check it with\n"
        "#   edged check-config /etc/edged/config.yaml\n")
    return header + yaml.safe_dump({"model": model}, sort_keys=False)
