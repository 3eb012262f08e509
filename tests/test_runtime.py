"""Runtime selection and model loading on the real runtimes installed in this venv."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edged.config import parse_config
from edged.errors import ModelError, RuntimeUnavailable
from edged.runtime.flatbuf import summarize
from edged.runtime.loader import load_model, probe_model, resolve_threads
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


# --- hostile models: the first load on tflite-runtime happens in a child -------------------

# One byte of the tiny MobileNet changed: the flatbuffer still passes edged's pre-check, LiteRT's
# verifier refuses it, and tflite-runtime 2.14 (no verifier) dies of SIGSEGV on load, every time.
CRASHER_BYTE = (487707, 118)


def crasher(testdata: Path, folder: Path) -> Path:
    blob = bytearray((testdata / "models/mobilenet_v1_0.25_128_quant.tflite").read_bytes())
    blob[CRASHER_BYTE[0]] = CRASHER_BYTE[1]
    path = folder / "crasher.tflite"
    path.write_bytes(bytes(blob))
    read_model_file(path)  # passes the pre-check: only a runtime can tell
    return path


def _usable(name: str) -> bool:
    try:
        select_runtime(name)  # type: ignore[arg-type]
    except RuntimeUnavailable:
        return False
    return True


@pytest.mark.testdata
@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_a_model_that_crashes_the_runtime_is_a_model_error(runtime: str, testdata: Path,
                                                           tmp_path: Path) -> None:
    if not _usable(runtime):
        pytest.skip(f"{runtime} is not usable in this venv")
    path = crasher(testdata, tmp_path)
    expected = ("tflite-runtime crashed (SIGSEGV) loading it or running its first inference"
                if runtime == "tflite-runtime" else "litert cannot load it")
    with pytest.raises(ModelError, match=re.escape(expected)) as info:
        load_model(parse_config(f"model:\n  path: {path}\n  runtime: {runtime}\n"))
    assert str(path) in str(info.value)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"model:\n  path: {path}\n  runtime: {runtime}\n"
                   f"publish:\n  endpoint: ipc://{tmp_path}/p.sock\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for verb in (["run", "--config"], ["check-config"]):
        r = subprocess.run([sys.executable, "-m", "edged", *verb, str(cfg)], capture_output=True,
                           text=True, timeout=180, env=env)
        assert r.returncode == 78, (verb, r.returncode, r.stderr[-2000:])
        assert expected in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_probe_reports_what_the_runtime_says(tmp_path: Path) -> None:
    """The child's own error (not a crash) comes back with the runtime's words."""
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    runtime = select_runtime("auto").name
    with pytest.raises(ModelError, match=f"model file {re.escape(str(bad))}: {runtime} cannot "
                       "load it: ValueError"):
        probe_model(runtime, bad)


def test_model_file_must_be_regular_and_within_its_cap(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.tflite")
    with pytest.raises(ModelError, match=r"is a FIFO \(named pipe\), expected a regular file"):
        read_model_file(tmp_path / "fifo.tflite")
    with pytest.raises(ModelError, match="is a character device"):
        read_model_file(Path("/dev/zero"))
    big = tmp_path / "big.tflite"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)
    with pytest.raises(ModelError, match=r"2.0 MB, more than the 1.0 MB allowed \(model.max_"):
        read_model_file(big, max_bytes=1024 * 1024)


def test_label_file_must_be_regular_and_within_its_cap(tmp_path: Path) -> None:
    from edged.labels import align_labels, read_label_file

    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(ModelError, match=r"labels file .*fifo.txt: is a FIFO"):
        read_label_file(tmp_path / "fifo.txt")
    with pytest.raises(ModelError, match="is a character device"):
        read_label_file(Path("/dev/zero"))
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(5 * 1024 * 1024)
    with pytest.raises(ModelError, match="5.0 MB, more than the 4.0 MB allowed"):
        read_label_file(big)
    # an index of a billion is refused, not expanded into a billion-entry list
    (tmp_path / "sparse.txt").write_text("0 cat\n999999999 dog\n")
    with pytest.raises(ModelError, match="1000000000 labels but the model outputs 2 classes"):
        align_labels(read_label_file(tmp_path / "sparse.txt"), 2, "sparse")
