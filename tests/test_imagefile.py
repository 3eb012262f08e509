"""Image files decode to what a viewer shows: generated odd images (each EXIF orientation,
16-bit, palette, CMYK, greyscale, alpha) against expectations computed here with numpy."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edged.imagefile import ImageFileError, decode_file


def stored() -> np.ndarray:
    """An asymmetric 6x10 RGB image: every pixel distinct, so any wrong turn shows."""
    y, x = np.mgrid[0:6, 0:10]
    return np.stack([x * 25, y * 40, (x + y * 10) % 256], axis=2).astype(np.uint8)


# what a viewer displays for each EXIF orientation of the stored pixels (the EXIF spec's
# definitions, written independently of Pillow's ImageOps)
DISPLAYED = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],  # mirrored horizontally
    3: lambda s: s[::-1, ::-1],  # rotated 180
    4: lambda s: s[::-1, :],  # mirrored vertically
    5: lambda s: s.transpose(1, 0, 2),  # mirrored horizontally, rotated 270 CW
    6: lambda s: np.rot90(s, -1),  # rotated 90 CW
    7: lambda s: s[::-1, ::-1].transpose(1, 0, 2),  # mirrored horizontally, rotated 90 CW
    8: lambda s: np.rot90(s, 1),  # rotated 90 CCW
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_each_exif_orientation_is_applied(orientation: int, fmt: str, tmp_path: Path) -> None:
    s = stored()
    if fmt == "jpg":  # big flat blocks survive JPEG; compare block centres
        s = np.kron(s, np.ones((8, 8, 1), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{fmt}"
    Image.fromarray(s).save(path, exif=exif.tobytes(), **({"quality": 95} if fmt == "jpg"
                                                             else {}))
    got = decode_file(path)
    expected = DISPLAYED[orientation](s)
    assert got.shape == expected.shape
    if fmt == "png":
        assert np.array_equal(got, expected)
    else:
        centres = (slice(4, None, 8), slice(4, None, 8))
        diff = np.abs(got[centres].astype(int) - expected[centres].astype(int))
        assert diff.max() <= 12


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64 * 16).astype(np.uint16).reshape(16, 64)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")  # really 16-bit on disk
    got = decode_file(tmp_path / "g16.png")
    expected = np.rint(ramp / 65535 * 255).astype(np.uint8)
    assert np.abs(got[:, :, 0].astype(int) - expected).max() <= 1
    assert (got[:, :, 0] == got[:, :, 1]).all() and (got[:, :, 1] == got[:, :, 2]).all()
    assert 120 <= got.mean() <= 135  # a ramp averages mid-grey, not almost white


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    palette = np.array([[255, 0, 0], [0, 128, 255], [10, 20, 30]], np.uint8)
    index = (np.arange(48).reshape(6, 8) % 3).astype(np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette(palette.ravel().tolist())
    im.save(tmp_path / "p.png")
    assert np.array_equal(decode_file(tmp_path / "p.png"), palette[index])
    im.save(tmp_path / "pt.png", transparency=1)  # colour 1 fully transparent
    got = decode_file(tmp_path / "pt.png")
    expected = palette[index].copy()
    expected[index == 1] = 255  # shows the white page behind
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("fmt", ["tif", "jpg"])
def test_cmyk(fmt: str, tmp_path: Path) -> None:
    cmyk = np.zeros((16, 48, 4), np.uint8)
    cmyk[:, :16] = (255, 0, 0, 0)  # cyan
    cmyk[:, 16:32] = (0, 255, 255, 0)  # red
    cmyk[:, 32:] = (0, 0, 0, 128)  # half black: grey
    Image.fromarray(cmyk, "CMYK").save(tmp_path / f"c.{fmt}")
    got = decode_file(tmp_path / f"c.{fmt}").astype(int)
    tol = 0 if fmt == "tif" else 6
    for cols, rgb in ((slice(2, 14), (0, 255, 255)), (slice(18, 30), (255, 0, 0)),
                      (slice(34, 46), (127, 127, 127))):
        assert np.abs(got[4:12, cols] - np.array(rgb)).max() <= tol, (cols, rgb)


def test_grey_la_and_rgba(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    assert np.array_equal(decode_file(tmp_path / "l.png"), np.stack([grey] * 3, axis=2))
    alpha = np.full((8, 8), 255, np.uint8)
    alpha[:, 4:] = 0
    alpha[0, :] = 128
    Image.fromarray(np.stack([grey, alpha], axis=2), "LA").save(tmp_path / "la.png")
    got = decode_file(tmp_path / "la.png").astype(int)
    a = alpha.astype(int)
    expected = (grey.astype(int) * a + 255 * (255 - a) + 127) // 255
    assert np.abs(got[:, :, 0] - expected).max() <= 1 and (got[..., 0] == got[..., 2]).all()
    rgb = stored()[:, :8]
    rgba = np.concatenate([rgb, np.full((6, 8, 1), 0, np.uint8)], axis=2)
    rgba[:, :4, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    got = decode_file(tmp_path / "rgba.png")
    assert np.array_equal(got[:, :4], rgb[:, :4]) and (got[:, 4:] == 255).all()


def test_fifo_and_directory_are_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.png")
    t0 = time.monotonic()
    with pytest.raises(ImageFileError, match="is a FIFO"):
        decode_file(tmp_path / "f.png")
    with pytest.raises(ImageFileError, match="directory"):
        decode_file(tmp_path)
    assert time.monotonic() - t0 < 2


def huge_png(path: Path, width: int, height: int) -> Path:
    """A 1-bit black PNG of width x height, written row by row (tiny on disk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    path = huge_png(tmp_path / "big.png", 13000, 13000)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ImageFileError, match="169 megapixels, more than the 16 allowed"):
        decode_file(path)


def test_big_jpeg_is_decoded_reduced(tmp_path: Path) -> None:
    Image.new("L", (8000, 6000), 90).save(tmp_path / "big.jpg", quality=50)
    got = decode_file(tmp_path / "big.jpg")
    assert got.shape == (3000, 4000, 3)  # DCT-scaled by 2: 12 MP
    assert abs(int(got[1500, 2000, 0]) - 90) <= 2
