"""``edged convert`` on a real (tiny, trained-here) Keras model, checked through edged itself.

Tests that need TensorFlow skip when it is not importable (the daemon's venvs do not have it);
CI runs them in a venv with ``pip install -e '.[convert,litert,dev]'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import ROOT, receive_json, subscribe
from PIL import Image

from edged.cli import main
from edged.config import parse_config
from edged.shapes import SHAPE_NAMES, draw_shape

try:
    import tensorflow  # noqa: F401

    HAVE_TF = True
except ImportError:
    HAVE_TF = False

needs_tf = pytest.mark.skipif(not HAVE_TF, reason="TensorFlow is not installed (edged convert "
                              "needs pip install 'edged[convert]'; CI runs these in a TF venv)")
INPUT = (32, 32)
REPORT_KEYS = {"schema", "model", "output", "quantize", "io_type", "input", "calibration", "eval",
               "frames", "runtime", "float", "quantized", "size_ratio", "agreement",
               "accuracy_drop_points", "max_drop_points", "drop_exceeded", "score_diff",
               "labels_from", "files", "warnings"}
MODEL_KEYS = {"file", "bytes", "accuracy", "latency_ms"}


def _save_shapes(folder: Path, per_class: int, seed: int, by_class: bool) -> None:
    rng = np.random.default_rng(seed)
    sizes = [(320, 240), (240, 240), (400, 300)]
    for i in range(per_class):
        for name in SHAPE_NAMES:
            w, h = sizes[i % len(sizes)]
            target = folder / name if by_class else folder
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw_shape(name, w, h, rng)).save(target / f"{name}{i}.png")


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trained shapes model saved as .keras, .h5 and a SavedModel, with image folders."""
    if not HAVE_TF:
        pytest.skip("TensorFlow is not installed")
    from edged.convert.shapes_model import make_dataset, train

    root = tmp_path_factory.mktemp("convert")
    x, y = make_dataset(1200, 11, INPUT, ((320, 240), (240, 240), (400, 300)))
    model = train(x, y, epochs=6, seed=11, width=24)
    model.save(root / "shapes.keras")
    model.save(root / "shapes.h5")
    model.export(str(root / "shapes_savedmodel"), format="tf_saved_model", verbose=False)
    _save_shapes(root / "calib", 20, 12, by_class=False)
    _save_shapes(root / "eval", 40, 13, by_class=True)  # held out: other seed
    (root / "labels.txt").write_text("\n".join(SHAPE_NAMES) + "\n")
    return {"root": root, "keras": root / "shapes.keras", "h5": root / "shapes.h5",
            "savedmodel": root / "shapes_savedmodel"}


def convert_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["convert", *argv, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 or "--strict" in argv else {})


def _args(work: dict[str, Path], fmt: str, mode: str, out: Path) -> list[str]:
    return [str(work[fmt]), "--out", str(out), "--quantize", mode,
            "--calibration", str(work["root"] / "calib"), "--samples", "60",
            "--eval", str(work["root"] / "eval"), "--labels", str(work["root"] / "labels.txt")]


@needs_tf
@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
@pytest.mark.parametrize("mode", ["int8", "float16", "dynamic", "none"])
def test_every_mode_from_every_format(work: dict[str, Path], fmt: str, mode: str,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{fmt}_{mode}.tflite"
    code, report = convert_json(capsys, *_args(work, fmt, mode, out))
    assert code == 0
    assert out.read_bytes()[4:8] == b"TFL3"
    assert report["quantize"] == mode and report["eval"]["images"] == 160
    assert report["quantized"]["accuracy"] >= 0.95
    assert report["agreement"] >= 0.98
    if mode == "none":
        assert report["score_diff"]["max"] < 1e-5
    if mode == "int8":
        assert report["io_type"] == "uint8"


@needs_tf
def test_int8_close_to_float_and_3x_smaller(work: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, report = convert_json(capsys, *_args(work, "keras", "int8", tmp_path / "m.tflite"))
    assert code == 0
    assert report["float"]["accuracy"] - report["quantized"]["accuracy"] <= 0.01
    assert report["accuracy_drop_points"] <= 1.0 and not report["drop_exceeded"]
    assert report["float"]["bytes"] >= 3 * report["quantized"]["bytes"]
    assert report["size_ratio"] >= 3.0


@needs_tf
def test_report_json_has_the_documented_fields(work: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.tflite"
    code, report = convert_json(capsys, *_args(work, "keras", "int8", out))
    assert code == 0
    assert set(report) == REPORT_KEYS
    assert report["schema"] == "edged.convert-report/1"
    for side in ("float", "quantized"):
        assert set(report[side]) == MODEL_KEYS
        assert set(report[side]["latency_ms"]) == {"median", "p90"}
        assert report[side]["latency_ms"]["median"] > 0
    assert report["input"]["shape"] == [1, 32, 32, 3]
    assert report["input"]["normalize"]["mean"] == 0.0
    assert "Rescaling" in report["input"]["normalize"]["source"]
    assert report["runtime"]["name"] in ("litert", "tflite-runtime")
    assert report["eval"]["classes"] == list(SHAPE_NAMES)
    worst = report["score_diff"]["worst"]
    assert len(worst) == 5 and set(worst[0]) == {"image", "class", "float", "quantized"}
    assert abs(worst[0]["float"] - worst[0]["quantized"]) == pytest.approx(
        report["score_diff"]["max"], abs=1e-4)
    assert report["quantized"]["bytes"] == out.stat().st_size


@needs_tf
def test_table_output_and_companion_files(work: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shapes.tflite"
    assert main(["convert", *_args(work, "keras", "int8", out)]) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy" in text and "latency median" in text and "size ratio" in text
    labels = tmp_path / "shapes_labels.txt"
    assert labels.read_text().split() == list(SHAPE_NAMES)
    snippet = (tmp_path / "shapes_config.yaml").read_text()
    config = parse_config(snippet + "source: {type: synthetic}\n")
    assert config.model.path == out.resolve() and config.model.task == "classification"
    assert config.model.normalize is not None and config.model.normalize.std == 1.0


@needs_tf
def test_converted_model_runs_in_the_daemon(work: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            daemon_factory: Any) -> None:
    out = tmp_path / "shapes.tflite"
    code, _ = convert_json(capsys, *_args(work, "keras", "int8", out))
    assert code == 0
    config = yaml.safe_load((tmp_path / "shapes_config.yaml").read_text())
    config["source"] = {"type": "synthetic", "size": [320, 240], "fps": 50, "seed": 3}
    config["model"]["top_k"] = 1
    daemon = daemon_factory(config, env={"PYTHONPATH": str(ROOT)}, subdir="daemon")
    sock = subscribe(daemon.endpoint)
    try:
        messages = receive_json(sock, 16, timeout=60)
    except AssertionError:
        raise AssertionError(daemon.log()) from None
    finally:
        sock.close()
    assert daemon.stop() == 0
    for m in messages:
        assert m["task"] == "classification" and m["model"]["file"] == "shapes.tflite"
        # the synthetic source shows each shape twice, in SHAPE_NAMES order
        expected = SHAPE_NAMES[(m["frame_seq"] // 2) % len(SHAPE_NAMES)]
        assert m["classes"][0]["label"] == expected, m


@needs_tf
def test_strict_fails_on_a_model_that_quantizes_badly(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An activation outlier (one unit 1000x the others, a classic int8 failure) crushes the
    informative units to zero: float is right on every colour, int8 only by chance."""
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")
    x = hidden(x)
    logits = keras.layers.Dense(3, name="logits")
    outputs = keras.layers.Softmax()(logits(x))
    model = keras.Model(inputs, outputs)
    hidden.set_weights([np.array([[1, 0, 0, 1000], [0, 1, 0, 0], [0, 0, 1, 0]], np.float32),
                        np.zeros(4, np.float32)])
    logits.set_weights([np.vstack([np.eye(3) * 20, np.zeros((1, 3))]).astype(np.float32),
                        np.zeros(3, np.float32)])
    model.save(tmp_path / "outlier.keras")
    colours = {"red": (200, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 200)}
    for name, rgb in colours.items():
        (tmp_path / "eval" / name).mkdir(parents=True)
        for i in range(5):
            image = np.full((40, 40, 3), rgb, np.uint8) + np.uint8(i)
            Image.fromarray(image).save(tmp_path / "eval" / name / f"{i}.png")
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\n")
    argv = [str(tmp_path / "outlier.keras"), "--out", str(tmp_path / "o.tflite"),
            "--calibration", str(tmp_path / "eval"), "--eval", str(tmp_path / "eval"),
            "--labels", str(tmp_path / "labels.txt")]
    code, report = convert_json(capsys, *argv, "--strict")
    assert code == 1
    assert report["float"]["accuracy"] == 1.0
    assert report["accuracy_drop_points"] > 1.0 and report["drop_exceeded"]
    assert any("points below float" in w for w in report["warnings"])
    # without --strict it is a warning, not a failure; a generous --max-drop passes --strict
    assert convert_json(capsys, *argv)[0] == 0
    assert convert_json(capsys, *argv, "--strict", "--max-drop", "100")[0] == 0


@needs_tf
def test_unsupported_op_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras
    import tensorflow as tf

    class SingularValues(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return tf.linalg.svd(x, compute_uv=False)

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Flatten()(SingularValues()(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.export(str(tmp_path / "svd"), format="tf_saved_model", verbose=False)
    code = main(["convert", str(tmp_path / "svd"), "--out", str(tmp_path / "o.tflite"),
                 "--quantize", "dynamic", "--mean", "0", "--std", "1"])
    err = capsys.readouterr().err
    assert code == 65
    assert "op(s) Svd have no TFLite builtin kernel" in err and "Traceback" not in err
    assert not (tmp_path / "o.tflite").exists()


@needs_tf
def test_dynamic_input_shape_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3)(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2)(x)).save(tmp_path / "dyn.keras")
    code = main(["convert", str(tmp_path / "dyn.keras"), "--out", str(tmp_path / "o.tflite"),
                 "--quantize", "none"])
    err = capsys.readouterr().err
    assert code == 65
    assert "dyn.keras" in err and "dynamic height/width" in err and "fixed input size" in err


@needs_tf
def test_float_model_without_preprocessing_needs_mean_std(
        work: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(2)(x)).save(tmp_path / "plain.keras")
    argv = ["convert", str(tmp_path / "plain.keras"), "--out", str(tmp_path / "p.tflite"),
            "--calibration", str(work["root"] / "calib"), "--samples", "10"]
    assert main(argv) == 65
    assert "pass --mean and --std" in capsys.readouterr().err
    assert main([*argv, "--mean", "127.5", "--std", "127.5"]) == 0
    snippet = yaml.safe_load((tmp_path / "p_config.yaml").read_text())
    assert snippet["model"]["normalize"] == {"mean": 127.5, "std": 127.5}


@needs_tf
def test_int8_without_calibration_is_a_clear_error(work: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(work["keras"]), "--out", str(tmp_path / "o.tflite")]) == 65
    assert "--calibration DIR" in capsys.readouterr().err


def test_without_tensorflow_the_command_says_how_to_get_it(tmp_path: Path) -> None:
    """A real subprocess; where TF is installed its import is blocked for this process only."""
    model = tmp_path / "m.keras"
    model.write_bytes(b"not really a model")
    block = "import sys; sys.modules['tensorflow'] = None; " if HAVE_TF else ""
    code = (f"{block}from edged.cli import main; "
            f"raise SystemExit(main(['convert', {str(model)!r}, '--out', 'x.tflite']))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 69
    assert "pip install 'edged[convert]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.tflite").exists()
