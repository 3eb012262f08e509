"""Still images from a file or a folder, decoded once and replayed (looping or not)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from edged.errors import SourceError
from edged.frames import Frame, monotonic_ns
from edged.sources.base import Source, SourceConfigBase

IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


class ImagesSourceConfig(SourceConfigBase):
    type: Literal["images"]
    path: Path
    loop: bool = True


def decode_image(path: Path) -> np.ndarray:
    """An HxWx3 uint8 RGB array; SourceError naming the file if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    # Pillow reports some corrupt files as SyntaxError, and oversized ones as a bomb
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as exc:
        raise SourceError(f"image {path}: cannot be decoded ({exc})", transient=False) from None


def list_images(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(f"images folder {path}: contains no images "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))})", transient=False)
        return files
    if path.is_file():
        return [path]
    raise SourceError(f"images path {path}: not found", transient=False)


class ImagesSource(Source):
    """Decodes every image at open (a folder of stills is small), then serves them in order.

    Images that fail to decode are skipped with a warning as long as one decodes.
    """

    live = False

    def __init__(self, config: ImagesSourceConfig) -> None:
        self.config = config
        self._images: list[np.ndarray] = []
        self._i = 0
        self.skipped: list[str] = []

    def open(self) -> None:
        self._images, self.skipped = [], []
        for file in list_images(self.config.path):
            try:
                self._images.append(decode_image(file))
            except SourceError as exc:
                self.skipped.append(str(exc))
        if not self._images:
            raise SourceError("; ".join(self.skipped), transient=False)
        self._i = 0

    def read(self) -> Frame | None:
        if self._i >= len(self._images):
            if not self.config.loop:
                return None
            self._i = 0
        image = self._images[self._i]
        self._i += 1
        return Frame(image=image, capture_ns=monotonic_ns())

    def close(self) -> None:
        self._images = []

    def describe(self) -> str:
        return f"images:{self.config.path}"
