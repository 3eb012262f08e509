"""edged.area: the compiled exact area kernel against an independent integer reference.

The reference here is written from the definition (each output pixel is the overlap-weighted
mean of the source pixels under it, rounded half up), with exact integer arithmetic, not from
edged's tables. ``EDGED_REQUIRE_AREA_KERNEL=1`` (the Makefile's test passes on x86-64) makes a
missing build a failure instead of a skip.
"""

from __future__ import annotations

import os
from fractions import Fraction

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged import area
from edged.preprocess import Resizer

needs_kernel = pytest.mark.skipif(
    area.KERNEL is None and os.environ.get("EDGED_REQUIRE_AREA_KERNEL") != "1",
    reason="edged._area was not built here (no C compiler at install); OpenCV is used")


def test_the_kernel_was_built_where_required() -> None:
    if os.environ.get("EDGED_REQUIRE_AREA_KERNEL") == "1":
        assert area.KERNEL is not None, "edged._area did not build: is a C compiler installed?"
    assert area.implementation()


def overlaps(n_src: int, n_dst: int) -> np.ndarray:
    """[n_dst, n_src] integer overlaps, scaled so each row sums to n_src (exact fractions)."""
    w = np.zeros((n_dst, n_src), np.int64)
    for j in range(n_dst):
        lo, hi = Fraction(j * n_src, n_dst), Fraction((j + 1) * n_src, n_dst)
        for i in range(int(lo), min(n_src, int(hi) + 1)):  # the pixels under [lo, hi)
            ov = min(hi, i + 1) - max(lo, Fraction(i))
            if ov > 0:
                w[j, i] = int(ov * n_dst)  # an integer: both ends are multiples of 1/n_dst
    assert (w.sum(axis=1) == n_src).all()
    return w


def exact_area(img: np.ndarray, dw: int, dh: int) -> np.ndarray:
    h, w, _ = img.shape
    wy, wx = overlaps(h, dh), overlaps(w, dw)
    sums = np.einsum("yh,hwc->ywc", wy, img.astype(np.int64))
    sums = np.einsum("ywc,xw->yxc", sums, wx)
    total = h * w
    return ((2 * sums + total) // (2 * total)).astype(np.uint8)


def kernel_resize(img: np.ndarray, dw: int, dh: int) -> tuple[np.ndarray, bool]:
    r = area.AreaResize((img.shape[1], img.shape[0]), (dw, dh))
    out = np.full((dh, dw, 3), 7, np.uint8)
    r(img, out)
    return out, r.compiled


def noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


@needs_kernel
@pytest.mark.parametrize(("src", "dst"), [((640, 480), (224, 224)), ((640, 480), (128, 128)),
                                          ((640, 480), (300, 300)), ((1280, 720), (192, 192)),
                                          ((640, 480), (320, 240)), ((640, 480), (640, 240)),
                                          ((97, 61), (13, 61)), ((5, 5), (1, 1)),
                                          ((300, 300), (300, 300)), ((3, 640), (2, 224))])
def test_kernel_is_the_exact_rounded_mean(src: tuple[int, int], dst: tuple[int, int]) -> None:
    img = noise(*src, seed=src[0] + dst[0])
    out, compiled = kernel_resize(img, *dst)
    assert compiled
    assert np.array_equal(out, exact_area(img, *dst))
    inter_area = cv2.resize(img, dst, interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - inter_area).max() <= 1


@needs_kernel
@settings(max_examples=40, deadline=None)
@given(w=st.integers(1, 90), h=st.integers(1, 70), fw=st.floats(0.05, 1.0),
       fh=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_kernel_is_exact_on_any_shrink(w: int, h: int, fw: float, fh: float, seed: int) -> None:
    dw, dh = max(1, round(w * fw)), max(1, round(h * fh))
    img = noise(w, h, seed)
    out, compiled = kernel_resize(img, dw, dh)
    if compiled:
        assert np.array_equal(out, exact_area(img, dw, dh))
    else:
        assert np.abs(out.astype(int) - exact_area(img, dw, dh)).max() <= 1


@needs_kernel
def test_extreme_values_round_half_up_without_overflow() -> None:
    """All-255 stays 255 (the largest sums); a 0/255 checkerboard halved is exactly 127.5 ->
    128 everywhere (every output a tie)."""
    white = np.full((480, 640, 3), 255, np.uint8)
    assert (kernel_resize(white, 224, 224)[0] == 255).all()
    board = np.zeros((480, 640, 3), np.uint8)
    board[::2, ::2] = board[1::2, 1::2] = 255
    assert (kernel_resize(board, 320, 240)[0] == 128).all()


@needs_kernel
def test_crops_and_letterbox_views_are_strided_without_copies() -> None:
    """The Resizer hands the kernel a cropped view of the frame and writes into a view of the
    model input (letterbox): both strided, both taken as they are."""
    img = noise(640, 480, seed=3)
    crop = Resizer((640, 480), (224, 224), "center-crop", "area")
    out = np.zeros((224, 224, 3), np.uint8)
    crop(img, out)
    assert np.array_equal(out, exact_area(np.ascontiguousarray(img[:, 80:560]), 224, 224))
    box = Resizer((640, 480), (224, 224), "letterbox", "area", pad_value=114)
    out[:] = 0
    box(img, out)
    assert (out[:28] == 114).all() and (out[196:] == 114).all()
    assert np.array_equal(out[28:196], exact_area(img, 224, 168))


def test_sizes_past_the_kernels_limits_use_opencv() -> None:
    """479 rows to 224: 479 is prime, so a row sum has 479 parts (uint16 would overflow)."""
    img = noise(640, 479, seed=5)
    out, compiled = kernel_resize(img, 224, 224)
    assert not compiled
    assert np.abs(out.astype(int) - exact_area(img, 224, 224)).max() <= 1


def test_a_layout_the_kernel_does_not_take_falls_back_to_opencv() -> None:
    img = noise(640, 480, seed=6)
    reversed_channels = img[:, :, ::-1]  # negative channel stride
    r = area.AreaResize((640, 480), (224, 224))
    out = np.zeros((224, 224, 3), np.uint8)
    r(reversed_channels, out)
    ref = cv2.resize(np.ascontiguousarray(reversed_channels), (224, 224),
                     interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - ref).max() <= 1


@needs_kernel
def test_the_kernel_refuses_tables_that_would_read_outside_the_image() -> None:
    """Memory safety does not rest on the caller: every tap is checked against the image."""
    kernel = area.KERNEL
    assert kernel is not None
    r = area.AreaResize((640, 480), (224, 224))
    small = noise(320, 240)
    out = np.zeros((224, 224, 3), np.uint8)
    row = np.zeros(640 * 3, np.uint16)
    with pytest.raises(ValueError, match="outside the image"):
        kernel.resize(small, out, r.xs, r.xw, r.ys, r.yw, row, r.total)
    with pytest.raises(ValueError, match="tables"):
        kernel.resize(small, out[:100], r.xs, r.xw, r.ys, r.yw, row, r.total)
    with pytest.raises(ValueError, match="row buffer"):
        kernel.resize(noise(640, 480), out, r.xs, r.xw, r.ys, r.yw, row[:10], r.total)
    with pytest.raises(ValueError, match="total"):
        kernel.resize(noise(640, 480), out, r.xs, r.xw, r.ys, r.yw, row, 1 << 20)
    with pytest.raises(ValueError, match="contiguous"):
        kernel.resize(noise(640, 480)[:, ::-1], out, r.xs, r.xw, r.ys, r.yw, row, r.total)
    read_only = np.zeros((224, 224, 3), np.uint8)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernel.resize(noise(640, 480), read_only, r.xs, r.xw, r.ys, r.yw, row, r.total)


@needs_kernel
def test_the_kernel_refuses_malformed_arguments_without_reading_them() -> None:
    kernel = area.KERNEL
    assert kernel is not None
    r = area.AreaResize((64, 48), (16, 16))
    img, out, row = noise(64, 48), np.zeros((16, 16, 3), np.uint8), np.zeros(64 * 3, np.uint16)
    bad = [((img[:, :, 0], out), "HxWxC"), ((img, out[:, :, 0]), "HxWxC"),
           ((img, np.zeros((0, 16, 3), np.uint8)), "empty"),
           ((img[:, :, :2], out), "channel"), ((img, out.astype(np.uint16)), "HxWxC")]
    for (src, dst), match in bad:
        with pytest.raises(ValueError, match=match):
            kernel.resize(src, dst, r.xs, r.xw, r.ys, r.yw, row, r.total)
    empty = np.zeros((16, 0), np.uint16)
    with pytest.raises(ValueError, match="tables"):
        kernel.resize(img, out, r.xs, empty, r.ys, r.yw, row, r.total)
    with pytest.raises(ValueError, match="tables"):
        kernel.resize(img, out, r.xs.astype(np.int64), r.xw, r.ys, r.yw, row, r.total)


def resize_any(img: np.ndarray, dw: int, dh: int, out: np.ndarray | None = None) -> np.ndarray:
    """The kernel called directly (any channel count), into ``out`` (may be a strided view)."""
    kernel = area.KERNEL
    assert kernel is not None
    h, w, ch = img.shape
    xs, xw, sx = area.taps(w, dw)
    ys, yw, sy = area.taps(h, dh)
    if out is None:
        out = np.full((dh, dw, ch), 7, np.uint8)
    kernel.resize(img, out, xs, xw, ys, yw, np.empty(w * ch, np.uint16), sx * sy)
    return out


@needs_kernel
@pytest.mark.parametrize("dh", [*range(1, 18), 23, 24, 25])
def test_every_block_remainder_of_output_rows(dh: int) -> None:
    """Output rows go 8 at a time through the vector path, the dh % 8 rest through the scalar
    one: every remainder, fewer than 8 rows, 1 row, 1 column, odd widths, strided views."""
    big = noise(120, 90, seed=dh)
    src = big[5:5 + 3 * dh + 4, 7:7 + 61]  # rows and pixels strided, a crop of a larger frame
    for dw in (1, 2, 3, 7, 8, 9, 20, 61):
        canvas = np.full((dh + 4, dw + 6, 3), 9, np.uint8)
        out = canvas[2:2 + dh, 3:3 + dw]
        resize_any(src, dw, dh, out)
        assert np.array_equal(out, exact_area(src, dw, dh)), dw
        assert (canvas[:2] == 9).all() and (canvas[2 + dh:] == 9).all()
        assert (canvas[:, :3] == 9).all() and (canvas[:, 3 + dw:] == 9).all()


@needs_kernel
@pytest.mark.parametrize("channels", [1, 2, 4, 5])
@pytest.mark.parametrize(("src", "dst"), [((640, 480), (224, 224)), ((97, 61), (13, 17)),
                                          ((33, 40), (33, 16)), ((64, 48), (5, 9))])
def test_any_channel_count(channels: int, src: tuple[int, int], dst: tuple[int, int]) -> None:
    img = np.random.default_rng(channels).integers(0, 256, (src[1], src[0], channels), np.uint8)
    assert np.array_equal(resize_any(img, *dst), exact_area(img, *dst))


@needs_kernel
@pytest.mark.parametrize(("src", "dst"), [((257, 255), (256, 254)), ((521, 255), (520, 254)),
                                          ((255, 257), (254, 256))])
def test_largest_totals_on_both_sides_of_the_vector_paths_limit(
        src: tuple[int, int], dst: tuple[int, int]) -> None:
    """T = 257 * 255 = 65535 is the vector path's largest; 521 * 255 takes the scalar path."""
    img = noise(*src, seed=src[0])
    img[: src[1] // 2] = 255  # the largest sums too
    out, compiled = kernel_resize(img, *dst)
    assert compiled
    assert np.array_equal(out, exact_area(img, *dst))


ROUNDING_TOTALS = [1, 2, 3, 5, 7, 15, 75, 255, 256, 257, 300, 4095, 4096, 4097, 8100, 10007,
                   32767, 32768, 65521, 65534, 65535, 65536, 65537, 300007, (1 << 19) - 1]


@needs_kernel
@pytest.mark.parametrize("total", ROUNDING_TOTALS)
def test_the_rounding_is_exact_for_every_possible_sum(total: int) -> None:
    """Every a in [0, 255 T] through the kernel's own rounding (the vector path's up to
    T = 65535, the scalar multiply-shift above) against integer round-half-up."""
    kernel = area.KERNEL
    assert kernel is not None
    top, step = 255 * total, 1 << 24
    for lo in range(0, top + 1, step):
        a = np.arange(lo, min(top + 1, lo + step), dtype=np.uint32)
        out = np.empty(a.size, np.uint8)
        kernel._round(a, out, total)
        want = (2 * a.astype(np.int64) + total) // (2 * total)
        bad = np.flatnonzero(out != want)
        assert bad.size == 0, (total, a[bad[:5]], out[bad[:5]], want[bad[:5]])


@needs_kernel
@pytest.mark.parametrize("size", [(640, 480, 224, 224), (640, 480, 128, 128), (61, 37, 17, 9)])
def test_a_scratch_of_scratch_bytes_gives_the_same_pixels_as_the_kernels_own_memory(
        size: tuple[int, int, int, int]) -> None:
    """AreaResize hands the kernel scratch_bytes() of memory so that no frame allocates; at
    any alignment of that buffer the result is the one the kernel gets in memory of its own
    (a one-row scratch)."""
    kernel = area.KERNEL
    assert kernel is not None
    w, h, dw, dh = size
    img = noise(w, h)
    xs, xw, sx = area.taps(w, dw)
    ys, yw, sy = area.taps(h, dh)
    own = np.zeros((dh, dw, 3), np.uint8)
    kernel.resize(img, own, xs, xw, ys, yw, np.empty(w * 3, np.uint16), sx * sy)
    np.testing.assert_array_equal(own, resize_any(img, dw, dh))
    need = kernel.scratch_bytes(w, 3, dw, xw.shape[1])
    assert need >= 2 * w * 3
    for offset in (0, 1, 8, 63):
        backing = np.full(need + 64, 0xAB, np.uint8)
        out = np.zeros_like(own)
        kernel.resize(img, out, xs, xw, ys, yw, backing[offset:offset + need], sx * sy)
        np.testing.assert_array_equal(out, own)
        # the vector path worked in it: written past the first row (and the alignment)
        assert (backing[offset + 2 * w * 3 + 64:offset + need] != 0xAB).any()
    r = area.AreaResize((w, h), (dw, dh))
    out = np.zeros_like(own)
    r(img, out)
    np.testing.assert_array_equal(out, own)


@needs_kernel
def test_scratch_bytes_refuses_sizes_out_of_range() -> None:
    kernel = area.KERNEL
    assert kernel is not None
    for args in ((0, 3, 1, 1), (640, 0, 224, 4), (640, 3, 641, 4), (640, 3, 224, 0),
                 (1 << 21, 3, 224, 4), (-1, 3, 1, 1)):
        with pytest.raises(ValueError, match="out of range"):
            kernel.scratch_bytes(*args)
