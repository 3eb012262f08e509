"""Untrusted inputs (config, model files, label files, images) never raise anything but the
user-facing error of their loader; mutated models that pass edged's own pre-check are loaded
into each runtime usable here and give an error, never a dead process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runtime import crasher

from edged.config import parse_config
from edged.errors import ConfigError, ModelError, RuntimeUnavailable, SourceError
from edged.labels import align_labels, parse_labels, read_label_file
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime
from edged.sources.images import decode_image

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

yaml_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["source", "model", "publish", "log", "type", "path", "fps", "size",
                         "threads", "top_k", "endpoint", "hwm", "x"]), children, max_size=5),
    max_leaves=20)


@FAST
@given(st.text(max_size=300))
def test_config_text_only_raises_config_error(text: str) -> None:
    try:
        parse_config(text, check_files=False)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)


@FAST
@given(yaml_like)
def test_config_structures_only_raise_config_error(data: object) -> None:
    import yaml

    try:
        parse_config(yaml.safe_dump(data), check_files=False)
    except ConfigError as exc:
        assert all("(line" in e or e.startswith("(top level)") for e in exc.errors), exc.errors


@FAST
@given(st.binary(max_size=2000))
def test_labels_parse_anything(data: bytes) -> None:
    labels = parse_labels(data.decode("utf-8", errors="replace"))
    if labels:
        try:
            align_labels(labels, 10, "fuzz")
        except ModelError:
            pass


@FAST
@given(st.binary(max_size=500))
def test_label_file_bytes(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "labels.txt"
    f.write_bytes(data)
    try:
        read_label_file(f)
    except ModelError as exc:
        assert "labels file" in str(exc)


@pytest.mark.testdata
@FAST
@given(st.data())
def test_mutated_models_only_raise_model_error(testdata: Path, tmp_path: Path,
                                               data: st.DataObject) -> None:
    original = (testdata / "models/mobilenet_v1_0.25_128_quant.tflite").read_bytes()
    blob = bytearray(original[:data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 8))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    f = tmp_path / "fuzz.tflite"
    f.write_bytes(bytes(blob))
    try:
        read_model_file(f)
    except ModelError as exc:
        assert str(f) in str(exc)


@pytest.mark.testdata
@FAST
@given(st.data())
def test_mutated_images_only_raise_source_error(testdata: Path, tmp_path: Path,
                                                data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["cat.bmp", "parrot.jpg"]))
    original = (testdata / "images" / name).read_bytes()
    blob = bytearray(original[:data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 16))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    f = tmp_path / name
    f.write_bytes(bytes(blob))
    try:
        image = decode_image(f)
        assert image.ndim == 3 and image.shape[2] == 3
    except SourceError as exc:
        assert name in str(exc)


def test_image_claiming_huge_dimensions_is_refused(tmp_path: Path) -> None:
    import struct

    # a BMP header for a 60000 x 60000 image with no pixel data
    header = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0)
    f = tmp_path / "huge.bmp"
    f.write_bytes(header + info)
    with pytest.raises(SourceError, match="huge.bmp"):
        decode_image(f)


ROOT = Path(__file__).resolve().parent.parent
MUTANTS = 16  # that pass the pre-check; each costs a model load (and a child on tflite-runtime)

# Loads each mutant the way `edged run` does (build_model_parts: the model, on tflite-runtime
# in a child process first, then its decoder) in one process, which reports each result as a
# JSON line: if the runtime kills this process, the last "start" line names the model.
_DRIVER = """
import json, sys
from pathlib import Path
from edged.config import parse_config
from edged.errors import EdgedError
from edged.daemon import build_model_parts
for f in sorted(Path(sys.argv[1]).glob("*.tflite")):
    print(json.dumps({"file": f.name, "start": True}), flush=True)
    config = parse_config(f"model:\\n  path: {f}\\n  runtime: {sys.argv[2]}\\n  threads: 1\\n")
    try:
        build_model_parts(config)
        result = {"file": f.name, "result": "loaded"}
    except EdgedError as exc:
        result = {"file": f.name, "result": "error", "exit": exc.exit_code, "message": str(exc)}
    print(json.dumps(result), flush=True)
"""


def _usable(name: str) -> bool:
    try:
        select_runtime(name)  # type: ignore[arg-type]
    except RuntimeUnavailable:
        return False
    return True


def _mutants(original: bytes, folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` mutants (truncated and/or a few bytes changed) that pass read_model_file."""
    rng = random.Random(seed)
    out: list[Path] = []
    for i in range(count * 20):
        cut = len(original) if rng.random() < 0.7 else rng.randint(0, len(original))
        blob = bytearray(original[:cut])
        for _ in range(rng.randint(1, 8)):
            if blob:
                blob[rng.randrange(len(blob))] = rng.randrange(256)
        f = folder / f"mutant{i:04d}.tflite"
        f.write_bytes(bytes(blob))
        try:
            read_model_file(f)
        except ModelError:
            f.unlink()
            continue
        out.append(f)
        if len(out) == count:
            break
    return out


@pytest.mark.testdata
@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_mutants_passing_the_precheck_fail_cleanly_in_the_runtime(
        runtime: str, testdata: Path, tmp_path: Path) -> None:
    if not _usable(runtime):
        pytest.skip(f"{runtime} is not usable in this venv (the tflite pass of make test has it)")
    original = (testdata / "models/mobilenet_v1_0.25_128_quant.tflite").read_bytes()
    mutants = [crasher(testdata, tmp_path), *_mutants(original, tmp_path, MUTANTS, seed=12)]
    assert len(mutants) == MUTANTS + 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    r = subprocess.run([sys.executable, "-c", _DRIVER, str(tmp_path), runtime],
                       capture_output=True, text=True, env=env, timeout=900)
    lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    results = [ln for ln in lines if "result" in ln]
    last = lines[-1]["file"] if lines else None
    assert r.returncode == 0, (f"{runtime} took edged down (exit {r.returncode}) on {last}:"
                               f"\n{r.stderr[-2000:]}")
    assert [x["file"] for x in results] == [m.name for m in mutants]
    for x in results:
        if x["result"] == "error":
            assert x["exit"] == 78 and x["file"] in x["message"], x
    assert results[0]["result"] == "error"  # the known crasher, first in name order
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
