"""Image files decoded as a viewer shows them: HxWx3 uint8 RGB, EXIF orientation applied,
16-bit scaled (not clipped), palette / CMYK / greyscale converted, alpha composited over
white. Used by the images source and by anything else that reads image files.

Reads are bounded: only regular files are opened (a FIFO or a device is refused at once,
never blocked on), and an image larger than ``max_pixels`` is decoded reduced where the
format allows it (JPEG's DCT scaling via ``Image.draft``) or refused with a clear message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

# 16 MP: a 12 MP photo decodes as it is, a 48 MP phone JPEG at half size (12 MP); decoding
# one image at the cap costs ~8 bytes per pixel at the peak (Pillow's 4-byte pixels, our copy)
DEFAULT_MAX_PIXELS = 16_000_000
CHUNK_ROWS = 256  # conversions work in row bands: their temporaries stay small
BACKGROUND = 255  # transparent areas show white, as a viewer on a white page shows them


class ImageFileError(ValueError):
    """The file is not a regular, decodable image within the limits; the message says why."""


def open_regular(path: Path) -> int:
    """An fd of ``path`` if it is a regular file; never blocks (O_NONBLOCK: a FIFO opens
    without a writer and is then refused by fstat)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ImageFileError(f"image {path}: not found") from None
    except OSError as exc:
        raise ImageFileError(f"image {path}: cannot be opened ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "not a regular file")
        raise ImageFileError(f"image {path}: is {kind}, expected a regular image file")
    return fd


def decode_file(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An HxWx3 uint8 RGB array of the image as a viewer shows it; ImageFileError if not.

    Peak memory is about 7 bytes per pixel: Pillow's decoded image (4) and the result (3)."""
    from PIL import Image, UnidentifiedImageError

    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        try:
            with Image.open(f) as im:
                _limit(im, path, max_pixels)
                im.load()
                orientation = _orientation(im)
                rgb = _banded_rgb(im)
            return _orient(rgb, orientation)  # Pillow's pixels are freed by now
        except ImageFileError:
            raise
        # corrupt files surface as many exception types (SyntaxError, struct.error,
        # IndexError...) and oversized ones as a bomb: all mean "not a usable image"
        except (UnidentifiedImageError, Image.DecompressionBombError, MemoryError,
                Exception) as exc:
            raise ImageFileError(f"image {path}: cannot be decoded ({exc})") from None


def _orientation(im) -> int:
    """The EXIF orientation (1..8); 1 when absent or unreadable (a corrupt EXIF block must
    not make a readable image unreadable)."""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises many types on bad input
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as the EXIF orientation tells a viewer to show them."""
    turned = {
        1: a,
        2: a[:, ::-1],  # mirrored left-right
        3: a[::-1, ::-1],  # rotated 180
        4: a[::-1],  # mirrored top-bottom
        5: a.transpose(1, 0, 2),  # transposed
        6: a[::-1].transpose(1, 0, 2),  # rotated 90 clockwise
        7: a[::-1, ::-1].transpose(1, 0, 2),  # transversed
        8: a[:, ::-1].transpose(1, 0, 2),  # rotated 90 counter-clockwise
    }[orientation]
    return turned if turned is a else np.ascontiguousarray(turned)


def _banded_rgb(im) -> np.ndarray:
    """to_rgb in bands of rows: the only full-size buffers are Pillow's and the result."""
    w, h = im.size
    out = np.empty((h, w, 3), np.uint8)
    for r in range(0, h, CHUNK_ROWS):
        out[r:r + CHUNK_ROWS] = to_rgb(im.crop((0, r, w, min(h, r + CHUNK_ROWS))))
    return out


def _limit(im, path: Path, max_pixels: int) -> None:
    """Reduce at decode time where the format can (JPEG), else refuse over ``max_pixels``."""
    w, h = im.size
    if w * h <= max_pixels:
        return
    if im.format == "JPEG":
        # draft picks the largest DCT reduction (1/2, 1/4, 1/8) that still covers the size
        f = next((f for f in (2, 4, 8) if -(-w // f) * -(-h // f) <= max_pixels), 8)
        im.draft(im.mode, (-(-w // f), -(-h // f)))
        w, h = im.size
        if w * h <= max_pixels:
            return
    raise ImageFileError(f"image {path}: {im.size[0]}x{im.size[1]} is {w * h / 1e6:.0f} "
                         f"megapixels, more than the {max_pixels / 1e6:.0f} allowed "
                         "(source.max_pixels); scale it down first")


def _sixteen_bit_to_8(a: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255 with rounding: the whole range scaled, never clipped."""
    out = np.empty(a.shape, np.uint8)
    for r in range(0, a.shape[0], CHUNK_ROWS):
        wide = np.clip(a[r:r + CHUNK_ROWS], 0, 65535).astype(np.uint32)
        out[r:r + CHUNK_ROWS] = (wide * 255 + 32767) // 65535
    return out


def _grey_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[:, :, None], 3, axis=2)


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``rgb`` over the background by ``alpha``, rounded (max 255 * 255 fits in uint16)."""
    out = np.empty(rgb.shape, np.uint8)
    for r in range(0, rgb.shape[0], CHUNK_ROWS):
        a = alpha[r:r + CHUNK_ROWS].astype(np.uint16)[:, :, None]
        band = rgb[r:r + CHUNK_ROWS].astype(np.uint16) * a + BACKGROUND * (255 - a) + 127
        out[r:r + CHUNK_ROWS] = band // 255
    return out


def to_rgb(im) -> np.ndarray:
    """An HxWx3 uint8 RGB array from any Pillow image mode."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        return _grey_to_rgb(_sixteen_bit_to_8(np.asarray(im)))
    if mode == "F":
        f = np.nan_to_num(np.asarray(im, dtype=np.float32))
        top = 1.0 if f.size and float(f.max()) <= 1.0 else 255.0
        return _grey_to_rgb(np.clip(np.rint(f * (255.0 / top)), 0, 255).astype(np.uint8))
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    elif mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        if mode in ("RGBa", "La"):  # premultiplied
            im = im.convert("RGBA" if mode == "RGBa" else "LA")
        a = np.asarray(im)
        rgb = a[:, :, :3] if a.shape[2] == 4 else _grey_to_rgb(a[:, :, 0])
        return _composite(rgb, a[:, :, -1])
    if mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK (Adobe's inverted CMYK is undone by the plugin)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
