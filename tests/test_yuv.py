"""YUV420 -> RGB: checked against independent decoders (Pillow's JPEG YCbCr, OpenCV's I420)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edged.sources.yuv import Yuv420ToRgb, coefficients, planes, yuv420_to_rgb

FAKES = Path(__file__).parent / "fakes"


def i420(y: np.ndarray, u: np.ndarray, v: np.ndarray, stride: int | None = None,
         pad: int = 0xFF) -> np.ndarray:
    """Pack planes the way picamera2 lays out a YUV420 buffer: (h*3/2, stride)."""
    h, w = y.shape
    stride = stride or w
    buf = np.full(stride * h * 3 // 2, pad, np.uint8)
    buf[: stride * h].reshape(h, stride)[:, :w] = y
    half, n = stride // 2, (h // 2) * (stride // 2)
    buf[stride * h: stride * h + n].reshape(h // 2, half)[:, : w // 2] = u
    buf[stride * h + n: stride * h + 2 * n].reshape(h // 2, half)[:, : w // 2] = v
    return buf.reshape(h * 3 // 2, stride)


def random_planes(w: int, h: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (h, w), dtype=np.uint8),
            rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8),
            rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8))


def test_full_range_bt601_matches_pillow_jpeg_ycbcr() -> None:
    y, u, v = random_planes(64, 48)
    up = [np.repeat(np.repeat(c, 2, 0), 2, 1) for c in (u, v)]
    ref = np.asarray(Image.merge("YCbCr", [Image.fromarray(a) for a in (y, *up)]).convert("RGB"))
    ours = yuv420_to_rgb(i420(y, u, v), 64, 48, encoding="rec601", yuv_range="full")
    assert np.abs(ours.astype(int) - ref).max() <= 2


def test_limited_range_bt601_matches_opencv_i420() -> None:
    cv2 = pytest.importorskip("cv2")
    y, u, v = random_planes(64, 48, seed=1)
    y = np.clip(y, 16, 235).astype(np.uint8)
    buf = i420(y, u, v)
    ref = cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_I420)
    ours = yuv420_to_rgb(buf, 64, 48, encoding="rec601", yuv_range="limited")
    assert np.abs(ours.astype(int) - ref).max() <= 2


@pytest.mark.parametrize("yuv_range,black,white", [("full", 0, 255), ("limited", 16, 235)])
def test_black_and_white_levels(yuv_range: str, black: int, white: int) -> None:
    for level, expect in ((black, 0), (white, 255)):
        y = np.full((4, 4), level, np.uint8)
        c = np.full((2, 2), 128, np.uint8)
        rgb = yuv420_to_rgb(i420(y, c, c), 4, 4, yuv_range=yuv_range)  # type: ignore[arg-type]
        assert (rgb == expect).all(), (yuv_range, level, rgb[0, 0])


def test_limited_data_decoded_as_full_range_loses_contrast() -> None:
    y = np.full((2, 2), 235, np.uint8)
    c = np.full((1, 1), 128, np.uint8)
    assert yuv420_to_rgb(i420(y, c, c), 2, 2, yuv_range="full")[0, 0, 0] == 235
    assert yuv420_to_rgb(i420(y, c, c), 2, 2, yuv_range="limited")[0, 0, 0] == 255


def test_stride_padding_is_ignored() -> None:
    y, u, v = random_planes(30, 20, seed=2)
    tight = yuv420_to_rgb(i420(y, u, v), 30, 20)
    padded = yuv420_to_rgb(i420(y, u, v, stride=64, pad=0xFF), 30, 20, stride=64)
    assert np.array_equal(tight, padded)


def test_chroma_applies_to_each_2x2_block() -> None:
    y = np.full((4, 4), 128, np.uint8)
    u = np.array([[128, 255], [128, 128]], np.uint8)
    v = np.full((2, 2), 128, np.uint8)
    rgb = yuv420_to_rgb(i420(y, u, v), 4, 4)
    blue = rgb[..., 2].astype(int)
    assert (blue[:2, 2:] > 250).all() and (blue[:2, :2] == 128).all() and (blue[2:] == 128).all()


def test_converts_into_a_strided_view_without_allocating_a_new_output() -> None:
    y, u, v = random_planes(16, 8, seed=3)
    big = np.zeros((10, 20, 3), np.uint8)
    out = big[1:9, 2:18]
    result = Yuv420ToRgb(16, 8).convert(i420(y, u, v), 16, out)
    assert result is out
    assert np.array_equal(big[1:9, 2:18], yuv420_to_rgb(i420(y, u, v), 16, 8))
    assert not big[0].any() and not big[:, :2].any()


def test_planes_are_views_of_the_buffer() -> None:
    buf = i420(*random_planes(8, 4, seed=4), stride=16)
    y, u, v = planes(buf, 8, 4, 16)
    assert np.shares_memory(y, buf) and np.shares_memory(u, buf) and np.shares_memory(v, buf)
    assert (y.shape, u.shape, v.shape) == ((4, 8), (2, 4), (2, 4))


def test_bad_sizes_and_buffers_are_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        Yuv420ToRgb(15, 8)
    with pytest.raises(ValueError, match="needs"):
        planes(np.zeros(10, np.uint8), 8, 4, 8)
    with pytest.raises(ValueError, match="output"):
        Yuv420ToRgb(8, 4).convert(np.zeros((6, 8), np.uint8), 8, np.zeros((4, 8, 4), np.uint8))
    with pytest.raises(ValueError, match="range"):
        coefficients("rec601", "studio")  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding,yuv_range",
                         list(itertools.product(["rec601", "rec709"], ["full", "limited"])))
def test_round_trip_through_the_fake_isp_encoder(encoding: str, yuv_range: str) -> None:
    """The fake camera encodes RGB in float math; decoding gives the colours back."""
    sys.path.insert(0, str(FAKES))
    try:
        import libcamera
        from picamera2._isp import rgb_to_yuv420
    finally:
        sys.path.remove(str(FAKES))
    cs = libcamera.ColorSpace
    space = {("rec601", "full"): cs.Sycc(), ("rec601", "limited"): cs.Smpte170m(),
             ("rec709", "limited"): cs.Rec709()}.get((encoding, yuv_range))
    if space is None:
        space = cs(cs.Primaries.Rec709, cs.TransferFunction.Srgb, cs.YcbcrEncoding.Rec709,
                   cs.Range.Full)
    rng = np.random.default_rng(5)
    # constant 2x2 blocks, so chroma subsampling loses nothing
    rgb = np.repeat(np.repeat(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), 2, 0), 2, 1)
    y, u, v = rgb_to_yuv420(rgb, space)
    back = yuv420_to_rgb(i420(y, u, v), 32, 24, encoding=encoding,  # type: ignore[arg-type]
                         yuv_range=yuv_range)  # type: ignore[arg-type]
    assert np.abs(back.astype(int) - rgb).max() <= 3
