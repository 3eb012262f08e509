"""Still images from a file or a folder, decoded on demand and replayed (looping or not).

Memory is bounded whatever the folder holds: names are listed (a few hundred bytes each),
decoded frames live in a least-recently-used cache of at most ``cache_mb``, and one image is
decoded at a time, at most ``max_pixels`` (JPEGs larger than that are decoded reduced, other
formats refused). Bound: cache_mb + ~7 bytes x max_pixels above the daemon's baseline
(defaults: 64 MB + 112 MB; measured 254-272 MB RSS in all with two 16 MP images
alternating, and once 305 MB on a loaded 2-core CI host).

Files that are not regular (a FIFO, a device) are skipped without being opened for reading;
files that do not decode are logged (rate-limited) and counted (``counters()``), never
skipped silently. Only when no file at all decodes does the source fail.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from edged.errors import SourceError
from edged.frames import Frame, monotonic_ns
from edged.imagefile import DEFAULT_MAX_PIXELS, ImageFileError, decode_file
from edged.ratelog import RateLimitedLog
from edged.sources.base import Source, SourceConfigBase

log = logging.getLogger("edged.sources.images")

IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
LOG_EVERY_S = 30.0


class ImagesSourceConfig(SourceConfigBase):
    type: Literal["images"]
    path: Path
    loop: bool = True
    cache_mb: int = Field(64, ge=0, le=4096, description="decoded images kept in memory; "
                          "a folder that fits is decoded once")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, le=200_000_000, description=
                            "larger images are decoded reduced (JPEG) or refused")


def decode_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An HxWx3 uint8 RGB array; SourceError naming the file if it is not a readable image."""
    try:
        return decode_file(path, max_pixels)
    except ImageFileError as exc:
        raise SourceError(str(exc), transient=False) from None


def list_images(path: Path) -> tuple[list[Path], list[str]]:
    """(image files, names of skipped non-regular entries); SourceError when there are none.

    Uses the directory entry's type: nothing is opened, so a FIFO cannot block."""
    if path.is_dir():
        files, skipped = [], []
        with os.scandir(path) as entries:
            for e in entries:
                if Path(e.name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if e.is_file():  # follows symlinks; FIFOs, devices, folders are not files
                    files.append(Path(e.path))
                else:
                    skipped.append(e.name)
        if not files:
            raise SourceError(f"images folder {path}: contains no image files "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))})", transient=False)
        return sorted(files), sorted(skipped)
    if path.is_file():
        return [path], []
    if path.exists():
        raise SourceError(f"images path {path}: not a regular file or a folder",
                          transient=False)
    raise SourceError(f"images path {path}: not found", transient=False)


def _stat_key(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return st.st_mtime_ns, st.st_size


class FrameCache:
    """Decoded images by path, least recently used evicted first, at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Path, np.ndarray] = OrderedDict()

    def get(self, path: Path) -> np.ndarray | None:
        image = self._items.get(path)
        if image is not None:
            self._items.move_to_end(path)
        return image

    def put(self, path: Path, image: np.ndarray) -> None:
        if image.nbytes > self.max_bytes:
            return
        while self._items and self.bytes + image.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes
        self._items[path] = image
        self.bytes += image.nbytes

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class ImagesSource(Source):
    """Serves the images in name order, decoding each when it is due (or from the cache)."""

    live = False

    def __init__(self, config: ImagesSourceConfig) -> None:
        self.config = config
        self._files: list[Path] = []
        self._i = 0
        self._cache = FrameCache(config.cache_mb << 20)
        self._decoded_any = False
        # files that failed, by (mtime, size): not decoded again until they change
        self._bad: dict[Path, tuple[int, int]] = {}
        self.skipped_files = 0  # non-regular entries with image names, at the last listing
        self._log_skip = RateLimitedLog(log, logging.WARNING, LOG_EVERY_S, "undecodable")

    def open(self) -> None:
        self._files, skipped = list_images(self.config.path)
        self.skipped_files = len(skipped)
        if skipped:
            log.warning("images folder %s: skipping %d entries that are not regular files "
                        "(e.g. %s)", self.config.path, len(skipped), skipped[0])
        self._i = 0

    @property
    def undecodable(self) -> int:
        return len(self._bad)

    def counters(self) -> dict[str, int]:
        """For the status: files that do not decode, entries that are not files."""
        return {"undecodable_files": self.undecodable, "skipped_files": self.skipped_files}

    def _failed(self, path: Path, exc: ImageFileError) -> None:
        self._bad[path] = _stat_key(path)
        self._log_skip("%s; skipped", exc)

    def _load(self, path: Path) -> np.ndarray | None:
        image = self._cache.get(path)
        if image is not None:
            return image
        if path in self._bad and self._bad[path] == _stat_key(path):
            return None
        try:
            image = decode_file(path, self.config.max_pixels)
        except ImageFileError as exc:
            self._failed(path, exc)
            return None
        self._bad.pop(path, None)
        self._decoded_any = True
        self._cache.put(path, image)
        return image

    def read(self) -> Frame | None:
        # at most one pass over the files per call: a folder of bad files cannot spin
        for _ in range(len(self._files)):
            if self._i >= len(self._files):
                if not self._decoded_any:
                    break
                if not self.config.loop:
                    return None
                self._i = 0
            path = self._files[self._i]
            self._i += 1
            image = self._load(path)
            if image is not None:
                return Frame(image=image, capture_ns=monotonic_ns())
        if not self._decoded_any:
            raise SourceError(f"images {self.config.path}: none of the {len(self._files)} "
                              "files decodes as an image", transient=False)
        if self._i >= len(self._files) and not self.config.loop:
            return None
        raise SourceError(f"images {self.config.path}: no file decoded in a whole pass",
                          transient=True)

    def close(self) -> None:
        self._cache.clear()

    def describe(self) -> str:
        return f"images:{self.config.path}"
