"""What the fake ISP does to the scene: crop, flip, scale, and pack into a stream's format."""

from __future__ import annotations

from typing import Any

import libcamera
import numpy as np
from PIL import Image

RGB_FORMATS = {"BGR888": 3, "RGB888": 3, "XBGR8888": 4, "XRGB8888": 4}
YUV_FORMATS = {"YUV420"}


def stride_for(fmt: str, width: int, align: int) -> int:
    if fmt in RGB_FORMATS:
        row = width * RGB_FORMATS[fmt]
    elif fmt in YUV_FORMATS:
        row = width
        align *= 2  # so that the half-width chroma rows stay aligned too
    else:
        raise RuntimeError(f"Format {fmt} not supported")
    return -(-row // align) * align


def frame_size(fmt: str, height: int, stride: int) -> int:
    return stride * height * 3 // 2 if fmt in YUV_FORMATS else stride * height


def render(scene: np.ndarray, crop: tuple[int, int, int, int], sensor: tuple[int, int],
           transform: Any, stream: dict[str, Any]) -> np.ndarray:
    """The RGB image a stream delivers: the scene spans the sensor's pixel array."""
    sh, sw = scene.shape[:2]
    x, y, w, h = crop
    box = (x * sw / sensor[0], y * sh / sensor[1], (x + w) * sw / sensor[0],
           (y + h) * sh / sensor[1])
    out_w, out_h = stream["size"]
    image = Image.fromarray(scene).resize((out_w, out_h), Image.BILINEAR, box=box)
    rgb = np.asarray(image)
    if transform.hflip:
        rgb = rgb[:, ::-1]
    if transform.vflip:
        rgb = rgb[::-1]
    return np.ascontiguousarray(rgb)


def aspect_crop(full: tuple[int, int, int, int], size: tuple[int, int]
                ) -> tuple[int, int, int, int]:
    """The largest centred rectangle of ``full`` with the aspect of ``size``."""
    x, y, w, h = full
    if w * size[1] > h * size[0]:
        cw, ch = h * size[0] // size[1], h
    else:
        cw, ch = w, w * size[1] // size[0]
    cw, ch = cw & ~1, ch & ~1
    return x + (w - cw) // 2, y + (h - ch) // 2, cw, ch


def pack(rgb: np.ndarray, stream: dict[str, Any], colour_space: Any) -> np.ndarray:
    """The stream's bytes (1-D, ``framesize`` long), padding bytes set to a visible 0x5A."""
    fmt, stride = stream["format"], stream["stride"]
    h, w = rgb.shape[:2]
    buf = np.full(stream["framesize"], 0x5A, np.uint8)
    if fmt in RGB_FORMATS:
        order = {"BGR888": [0, 1, 2], "RGB888": [2, 1, 0],
                 "XBGR8888": [0, 1, 2], "XRGB8888": [2, 1, 0]}[fmt]
        px = rgb[..., order]
        if RGB_FORMATS[fmt] == 4:
            px = np.concatenate([px, np.full((h, w, 1), 255, np.uint8)], axis=2)
        rows = buf.reshape(h, stride)
        rows[:, : w * RGB_FORMATS[fmt]] = px.reshape(h, -1)
        return buf
    y, u, v = rgb_to_yuv420(rgb, colour_space)
    rows = buf[: stride * h].reshape(h, stride)
    rows[:, :w] = y
    half = stride // 2
    plane = (h // 2) * half
    buf[stride * h: stride * h + plane].reshape(h // 2, half)[:, : w // 2] = u
    buf[stride * h + plane: stride * h + 2 * plane].reshape(h // 2, half)[:, : w // 2] = v
    return buf


def rgb_to_yuv420(rgb: np.ndarray, colour_space: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float BT.601/709 encoding, full or limited range, chroma averaged over 2x2 blocks."""
    cs = libcamera.ColorSpace
    kr, kb = (0.2126, 0.0722) if colour_space.ycbcrEncoding == cs.YcbcrEncoding.Rec709 \
        else (0.299, 0.114)
    f = rgb.astype(np.float64)
    luma = kr * f[..., 0] + (1 - kr - kb) * f[..., 1] + kb * f[..., 2]
    cb = (f[..., 2] - luma) / (2 * (1 - kb))
    cr = (f[..., 0] - luma) / (2 * (1 - kr))
    if colour_space.range == cs.Range.Limited:
        luma, cb, cr = luma * 219 / 255 + 16, cb * 224 / 255, cr * 224 / 255
    h, w = luma.shape

    def sub(c: np.ndarray) -> np.ndarray:
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)) + 128

    def u8(a: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)

    return u8(luma), u8(sub(cb)), u8(sub(cr))
