"""Runtime selection and model loading on the real runtimes installed in this venv."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edged.config import parse_config
from edged.errors import ModelError, RuntimeUnavailable
from edged.runtime.flatbuf import summarize
from edged.runtime.loader import load_model, resolve_threads
from edged.runtime.model import cpu_count
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime

HAS_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
NUMPY2 = int(np.__version__.split(".")[0]) >= 2


def test_auto_prefers_litert_then_tflite_runtime() -> None:
    rt = select_runtime("auto")
    assert rt.name == ("litert" if HAS_LITERT else "tflite-runtime")


HAS_TFLITE_RUNTIME = importlib.util.find_spec("tflite_runtime") is not None


@pytest.mark.skipif(not NUMPY2, reason="this venv has numpy<2, where tflite-runtime works")
@pytest.mark.skipif(not HAS_TFLITE_RUNTIME, reason="tflite-runtime is not installed here "
                    "(make setup adds it on Python <= 3.11)")
def test_tflite_runtime_with_numpy2_is_refused_with_the_reason() -> None:
    with pytest.raises(RuntimeUnavailable, match=r"tflite-runtime .* needs numpy<2 but numpy 2"):
        select_runtime("tflite-runtime")


@pytest.mark.skipif(HAS_LITERT, reason="LiteRT is installed in this venv")
def test_litert_missing_says_how_to_install() -> None:
    with pytest.raises(RuntimeUnavailable, match="pip install ai-edge-litert"):
        select_runtime("litert")


@pytest.mark.skipif(HAS_TFLITE_RUNTIME, reason="tflite-runtime is installed in this venv")
def test_tflite_runtime_missing_says_so() -> None:
    with pytest.raises(RuntimeUnavailable, match="tflite-runtime is not installed"):
        select_runtime("tflite-runtime")


def test_threads_default_and_cap() -> None:
    assert resolve_threads(None) == max(1, cpu_count() - 1)
    assert resolve_threads(cpu_count() + 8) == cpu_count()
    assert resolve_threads(1) == 1


@pytest.mark.testdata
def test_model_input_and_quantization_are_read_from_the_model(testdata: Path) -> None:
    cfg = parse_config(f"model:\n  path: {testdata}/models/mobilenet_v2_1.0_224_quant.tflite\n")
    runner = load_model(cfg)
    assert runner.input_size == (224, 224)
    assert runner.input.dtype == np.uint8
    assert runner.input.scale == pytest.approx(1 / 128) and runner.input.zero_point == 128
    assert runner.outputs[0].shape == (1, 1001)
    assert runner.outputs[0].scale == pytest.approx(1 / 256)


@pytest.mark.testdata
def test_edgetpu_model_is_detected_from_its_operators(testdata: Path) -> None:
    tpu = read_model_file(testdata / "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    cpu = read_model_file(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")
    assert tpu.edgetpu_compiled and "edgetpu-custom-op" in tpu.operator_codes
    assert not cpu.edgetpu_compiled


@pytest.mark.testdata
@pytest.mark.parametrize("cut", [16, 5000, 100_000])
def test_truncated_model_is_refused_before_the_runtime_sees_it(testdata: Path, tmp_path: Path,
                                                               cut: int) -> None:
    data = (testdata / "models/mobilenet_v2_1.0_224_quant.tflite").read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(data[:cut])
    with pytest.raises(ModelError, match=f"model file {bad}: truncated or corrupt"):
        read_model_file(bad)


@pytest.mark.testdata
def test_every_test_model_parses(testdata: Path) -> None:
    for model in sorted((testdata / "models").glob("*.tflite")):
        summary = summarize(model.read_bytes())
        assert summary.subgraphs == 1 and summary.operator_codes, model.name


def test_missing_and_directory_model_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        read_model_file(tmp_path / "nope.tflite")
    with pytest.raises(ModelError, match="is a directory"):
        read_model_file(tmp_path)
