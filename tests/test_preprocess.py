"""Resize modes, the coordinate transform each produces, and quantization arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from edged.preprocess import Resizer, place
from edged.quant import default_normalization, dequantize, pixel_lut, quantize


def square_frame(w: int, h: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Black frame with a white rectangle [x0, y0, x1, y1) in pixels."""
    img = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 255
    return img


def white_extent(out: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(out[..., 0] > 127)
    h, w = out.shape[:2]
    return xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h


@pytest.mark.parametrize("mode", ["stretch", "letterbox", "center-crop"])
@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_transform_maps_model_coordinates_back_to_the_frame(mode: str, interp: str) -> None:
    src, dst = (640, 480), (160, 160)
    box = (320, 160, 480, 320)  # x 0.5..0.75, y 0.333..0.667 of the frame
    r = Resizer(src, dst, mode, interp)  # type: ignore[arg-type]
    out = np.full((160, 160, 3), 77, np.uint8)
    r(square_frame(*src, box), out)
    x0, y0, x1, y1 = white_extent(out)
    fx0, fy0, fx1, fy1 = r.transform.x(x0), r.transform.y(y0), r.transform.x(x1), r.transform.y(y1)
    tol = 2.5 / 160 * (640 / 160)  # two model pixels, in frame units
    assert fx0 == pytest.approx(0.5, abs=tol)
    assert fx1 == pytest.approx(0.75, abs=tol)
    assert fy0 == pytest.approx(1 / 3, abs=tol)
    assert fy1 == pytest.approx(2 / 3, abs=tol)


def test_letterbox_pads_with_black_bars_every_frame() -> None:
    r = Resizer((640, 320), (100, 100), "letterbox", "nearest")
    out = np.full((100, 100, 3), 9, np.uint8)
    r(np.full((320, 640, 3), 200, np.uint8), out)
    assert (out[:25] == 0).all() and (out[75:] == 0).all()
    assert (out[25:75] == 200).all()


def test_center_crop_keeps_the_middle() -> None:
    p = place((400, 200), (100, 100), "center-crop")
    assert (p.src_x0, p.src_w, p.src_h) == (100, 200, 200)


def test_identity_size_copies() -> None:
    img = np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    out = np.empty_like(img)
    Resizer((48, 64), (48, 64))(img, out)
    assert np.array_equal(out, img)


def test_bilinear_of_a_constant_image_is_exact() -> None:
    out = np.empty((37, 53, 3), np.uint8)
    Resizer((640, 480), (53, 37), "stretch", "bilinear")(np.full((480, 640, 3), 123, np.uint8), out)
    assert (out == 123).all()


def test_bilinear_halfway_between_two_pixels() -> None:
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 1] = 200
    out = np.empty((1, 1, 3), np.uint8)
    Resizer((2, 1), (1, 1), "stretch", "bilinear")(img, out)
    assert out[0, 0, 0] == 100


def test_quantize_round_trip_and_saturation() -> None:
    q = quantize(np.array([-2.0, 0.0, 0.5, 2.0]), 1 / 128, 128, np.uint8)
    assert q.tolist() == [0, 128, 192, 255]
    assert dequantize(q, 1 / 128, 128).tolist() == pytest.approx([-1.0, 0.0, 0.5, 127 / 128])
    assert quantize(np.array([-1.0, 1.0]), 1 / 128, 0, np.int8).tolist() == [-128, 127]


def test_pixel_lut_identity_for_standard_uint8_models() -> None:
    mean, std = default_normalization(np.dtype(np.uint8), 1 / 128, 128)
    assert pixel_lut(np.dtype(np.uint8), 1 / 128, 128, mean, std) is None


def test_pixel_lut_int8_is_pixel_minus_128() -> None:
    mean, std = default_normalization(np.dtype(np.int8), 1 / 255, -128)
    lut = pixel_lut(np.dtype(np.int8), 1 / 255, -128, mean, std)
    assert lut is not None and lut.tolist() == list(range(-128, 128))


def test_pixel_lut_float_with_explicit_normalization() -> None:
    lut = pixel_lut(np.dtype(np.float32), 0.0, 0, 0.0, 255.0)
    assert lut is not None and lut[255] == pytest.approx(1.0) and lut[0] == 0.0


def test_unquantized_uint8_input_takes_raw_pixels() -> None:
    mean, std = default_normalization(np.dtype(np.uint8), 0.0, 0)
    assert pixel_lut(np.dtype(np.uint8), 0.0, 0, mean, std) is None
