"""Untrusted inputs (config, model files, label files, images) never raise anything but the
user-facing error of their loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edged.config import parse_config
from edged.errors import ConfigError, ModelError, SourceError
from edged.labels import align_labels, parse_labels, read_label_file
from edged.runtime.modelfile import read_model_file
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
