"""The embedded demo model recognises the synthetic source's shapes through edged's own path."""

from __future__ import annotations

import numpy as np
import pytest

from edged.config import DEMO_LABELS, DEMO_MODEL
from edged.labels import align_labels, read_label_file
from edged.preprocess import Resizer
from edged.runtime.model import ModelRunner
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime
from edged.shapes import SHAPE_NAMES, draw_shape
from edged.tasks.classify import ClassificationDecoder

SIZES = [(640, 480), (320, 240), (1280, 720), (300, 300), (200, 150)]


@pytest.fixture(scope="module")
def runner() -> ModelRunner:
    try:
        runtime = select_runtime("auto")
    except Exception as exc:  # RuntimeUnavailable
        pytest.skip(f"no TFLite runtime: {exc}")
    return ModelRunner(read_model_file(DEMO_MODEL), runtime, threads=1)


def test_demo_model_is_small_full_int8(runner: ModelRunner) -> None:
    assert DEMO_MODEL.stat().st_size < 100_000
    assert runner.input.dtype == np.uint8 and runner.input.shape == (1, 64, 64, 3)
    assert runner.outputs[0].dtype == np.uint8 and runner.outputs[0].shape == (1, 4)


def test_demo_labels_are_the_shape_names() -> None:
    assert DEMO_LABELS.read_text().split() == list(SHAPE_NAMES)


def test_demo_model_names_fresh_synthetic_frames(runner: ModelRunner) -> None:
    labels = align_labels(read_label_file(DEMO_LABELS), 4, "demo labels")
    decoder = ClassificationDecoder(runner.outputs[0], labels, k=1, threshold=0.0)
    rng = np.random.default_rng(987654)
    model_in = np.empty((64, 64, 3), np.uint8)
    outputs = runner.new_output_buffers()
    hits = total = 0
    for size in SIZES:
        resizer = Resizer(size, runner.input_size, "stretch", "bilinear")
        for _ in range(20):
            for name in SHAPE_NAMES:
                resizer(draw_shape(name, size[0], size[1], rng), model_in)
                runner.set_input(model_in)
                runner.invoke()
                runner.copy_outputs(outputs)
                best = decoder.decode(outputs, resizer.transform)["classes"][0]
                hits += best["label"] == name
                total += 1
    assert hits / total >= 0.97, f"{hits}/{total} correct"
