"""Resize modes, the coordinate transform each produces, and quantization arithmetic."""

from __future__ import annotations

import cv2
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
@pytest.mark.parametrize("interp", ["nearest", "bilinear", "area"])
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


# --- the OpenCV resize against independent references --------------------------------------

def photo(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth random field plus fine detail: enough structure for the filters to differ."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3)).astype(np.float64)
    yi, xi = np.arange(h)[:, None] / 16, np.arange(w)[None, :] / 16
    y0, x0 = yi.astype(int), xi.astype(int)
    fy, fx = (yi - y0)[..., None], (xi - x0)[..., None]
    smooth = (coarse[y0, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1, x0] * fy * (1 - fx)
              + coarse[y0, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1, x0 + 1] * fy * fx)
    return np.clip(smooth + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def run(src_img: np.ndarray, dst: tuple[int, int], mode: str = "stretch",
        interp: str = "area", pad: int = 0) -> np.ndarray:
    h, w = src_img.shape[:2]
    out = np.full((dst[1], dst[0], 3), 7, np.uint8)
    Resizer((w, h), dst, mode, interp, pad_value=pad)(src_img, out)  # type: ignore[arg-type]
    return out


def test_area_is_exact_block_means_at_integer_power_of_two_factors() -> None:
    img = photo(640, 480)
    for k in (2, 4):
        out = run(img, (640 // k, 480 // k))
        ref = img.reshape(480 // k, k, 640 // k, k, 3).astype(np.float64).mean(axis=(1, 3))
        assert np.abs(out - ref).max() <= 1.0


def area_weights(n_dst: int, n_src: int) -> np.ndarray:
    """[n_dst, n_src]: the overlap of each output pixel's footprint with each source pixel."""
    scale = n_src / n_dst
    w = np.zeros((n_dst, n_src))
    for i in range(n_dst):
        lo, hi = i * scale, (i + 1) * scale
        for k in range(int(lo), min(n_src, int(np.ceil(hi)))):
            w[i, k] = min(hi, k + 1) - max(lo, k)
    return w / scale


@pytest.mark.parametrize(("src", "dst"), [((64, 48), (22, 22)), ((100, 75), (37, 29)),
                                          ((51, 40), (50, 13))])
def test_area_is_the_exact_overlap_weighted_average(src: tuple[int, int],
                                                     dst: tuple[int, int]) -> None:
    img = photo(*src, seed=src[0])
    wy, wx = area_weights(dst[1], src[1]), area_weights(dst[0], src[0])
    ref = np.einsum("yh,hwc,xw->yxc", wy, img.astype(np.float64), wx)
    assert np.abs(run(img, dst) - ref).max() <= 1.0


def test_area_removes_what_two_tap_sampling_aliases() -> None:
    """Stripes white, black, black shrunk 3x: the true average is 85 everywhere; 2-tap
    bilinear lands on the black middle pixel every time and reports black."""
    img = np.zeros((480, 639, 3), np.uint8)
    img[:, ::3] = 255
    area = run(img, (213, 160)).astype(np.int32)
    bilinear = run(img, (213, 160), interp="bilinear").astype(np.int32)
    assert np.abs(area - 85).max() <= 1
    assert bilinear.max() <= 10


def test_area_enlarging_is_bilinear() -> None:
    img = photo(100, 80)
    out = run(img, (300, 240))
    ref = cv2.resize(img, (300, 240), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out, ref)


def test_bilinear_matches_a_numpy_reference_with_pixel_centres() -> None:
    img = photo(640, 480)
    out = run(img, (224, 224), interp="bilinear").astype(np.float64)

    def axis(n_dst: int, n_src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = np.clip((np.arange(n_dst) + 0.5) * n_src / n_dst - 0.5, 0, n_src - 1)
        i0 = np.floor(c).astype(int)
        return i0, np.minimum(i0 + 1, n_src - 1), c - i0

    y0, y1, wy = axis(224, 480)
    x0, x1, wx = axis(224, 640)
    f = img.astype(np.float64)
    wy, wx = wy[:, None, None], wx[None, :, None]
    ref = ((f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx) * (1 - wy)
           + (f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx) * wy)
    # OpenCV interpolates in fixed point (11-bit weights); on aarch64 (NEON, seen under the
    # emulated Pi stage) its rounding lands up to ~1.06 levels from the exact value
    assert np.abs(out - ref).max() <= 1.5


def test_nearest_takes_the_pixel_under_each_output_centre() -> None:
    """The source pixel containing the output pixel's centre; a centre exactly on a pixel
    border may take either neighbour (OpenCV's fixed point takes the left one)."""
    img = photo(640, 480)
    out = run(img, (224, 160), interp="nearest")
    cy, cx = (np.arange(160) + 0.5) * 480 / 160, (np.arange(224) + 0.5) * 640 / 224
    ok = np.zeros((160, 224), bool)
    for ys in (np.floor(cy).astype(int), np.ceil(cy).astype(int) - 1):
        for xs in (np.floor(cx).astype(int), np.ceil(cx).astype(int) - 1):
            ok |= (out == img[ys][:, xs]).all(axis=-1)
    assert ok.all()


@pytest.mark.parametrize("interp", ["area", "bilinear", "nearest"])
def test_letterbox_content_and_pad_value(interp: str) -> None:
    img = photo(640, 480)
    out = run(img, (224, 224), "letterbox", interp, pad=114)
    assert (out[:28] == 114).all() and (out[196:] == 114).all()
    flag = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR,
            "nearest": cv2.INTER_NEAREST_EXACT}[interp]
    ref = cv2.resize(img, (224, 168), interpolation=flag).astype(np.int32)
    diff = np.abs(out[28:196] - ref)
    # area: edged's kernel is the exact mean, INTER_AREA's float sum is within 1 of it
    # (tests/test_area.py holds the kernel to the exact mean)
    assert diff.max() <= (1 if interp == "area" else 0)


@pytest.mark.parametrize("interp", ["area", "bilinear", "nearest"])
def test_center_crop_content(interp: str) -> None:
    img = photo(640, 480)
    out = run(img, (224, 224), "center-crop", interp)
    flag = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR,
            "nearest": cv2.INTER_NEAREST_EXACT}[interp]
    ref = cv2.resize(np.ascontiguousarray(img[:, 80:560]), (224, 224),
                     interpolation=flag).astype(np.int32)
    diff = np.abs(out - ref)
    assert diff.max() <= (1 if interp == "area" else 0)


def test_resize_writes_into_the_callers_buffer_without_allocating_it() -> None:
    img = photo(640, 480)
    out = np.zeros((224, 224, 3), np.uint8)
    r = Resizer((640, 480), (224, 224), "letterbox", "area", pad_value=114)
    before = out.__array_interface__["data"][0]
    r(img, out)
    assert out.__array_interface__["data"][0] == before
    assert out[100, 100].any() and (out[0] == 114).all()
