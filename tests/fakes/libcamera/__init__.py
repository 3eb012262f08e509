"""A stand-in for the libcamera Python bindings: only the value types edged touches.

The real module is a pybind11 extension shipped by apt (python3-libcamera). This fake mirrors
the names picamera2 users pass around: ``Transform(hflip=, vflip=, transpose=)`` and
``ColorSpace`` with its presets and ``range``/``ycbcrEncoding`` attributes.
"""

from __future__ import annotations

import enum


class Transform:
    def __init__(self, other: Transform | None = None, *, hflip: int = 0, vflip: int = 0,
                 transpose: int = 0, rotation: int = 0) -> None:
        if other is not None:
            hflip, vflip, transpose = other.hflip, other.vflip, other.transpose
        if rotation not in (0, 180):
            raise ValueError("fake Transform supports rotation 0 or 180 only")
        if rotation == 180:
            hflip, vflip = hflip ^ 1, vflip ^ 1
        self.hflip, self.vflip, self.transpose = bool(hflip), bool(vflip), bool(transpose)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Transform) and (self.hflip, self.vflip, self.transpose)
                == (other.hflip, other.vflip, other.transpose))

    def __hash__(self) -> int:
        return hash((self.hflip, self.vflip, self.transpose))

    def __repr__(self) -> str:
        return f"<libcamera.Transform hflip={int(self.hflip)} vflip={int(self.vflip)}>"


class ColorSpace:
    class Primaries(enum.Enum):
        Raw = 0
        Smpte170m = 1
        Rec709 = 2
        Rec2020 = 3

    class TransferFunction(enum.Enum):
        Linear = 0
        Srgb = 1
        Rec709 = 2

    class YcbcrEncoding(enum.Enum):
        Null = 0
        Rec601 = 1
        Rec709 = 2
        Rec2020 = 3

    class Range(enum.Enum):
        Full = 0
        Limited = 1

    def __init__(self, primaries: ColorSpace.Primaries | ColorSpace,
                 transferFunction: ColorSpace.TransferFunction | None = None,  # noqa: N803
                 ycbcrEncoding: ColorSpace.YcbcrEncoding | None = None,  # noqa: N803
                 range: ColorSpace.Range | None = None) -> None:  # noqa: A002
        if isinstance(primaries, ColorSpace):
            other = primaries
            primaries, transferFunction = other.primaries, other.transferFunction
            ycbcrEncoding, range = other.ycbcrEncoding, other.range
        self.primaries = primaries
        self.transferFunction = transferFunction
        self.ycbcrEncoding = ycbcrEncoding
        self.range = range

    @staticmethod
    def Raw() -> ColorSpace:  # noqa: N802
        c = ColorSpace
        return c(c.Primaries.Raw, c.TransferFunction.Linear, c.YcbcrEncoding.Null, c.Range.Full)

    @staticmethod
    def Sycc() -> ColorSpace:  # noqa: N802
        c = ColorSpace
        return c(c.Primaries.Rec709, c.TransferFunction.Srgb, c.YcbcrEncoding.Rec601, c.Range.Full)

    @staticmethod
    def Smpte170m() -> ColorSpace:  # noqa: N802
        c = ColorSpace
        return c(c.Primaries.Smpte170m, c.TransferFunction.Rec709, c.YcbcrEncoding.Rec601,
                 c.Range.Limited)

    @staticmethod
    def Rec709() -> ColorSpace:  # noqa: N802
        c = ColorSpace
        return c(c.Primaries.Rec709, c.TransferFunction.Rec709, c.YcbcrEncoding.Rec709,
                 c.Range.Limited)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColorSpace) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((self.primaries, self.transferFunction, self.ycbcrEncoding, self.range))

    def __repr__(self) -> str:
        return (f"<libcamera.ColorSpace {self.primaries.name}/{self.transferFunction}/"
                f"{self.ycbcrEncoding}/{self.range}>")
