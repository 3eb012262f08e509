"""Frame sources, keyed by ``source.type``: one module and one union member per source."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edged.sources.base import Source
from edged.sources.images import ImagesSource, ImagesSourceConfig
from edged.sources.opencv import OpenCVSource, OpenCVSourceConfig
from edged.sources.picamera2 import Picamera2Source, Picamera2SourceConfig
from edged.sources.synthetic import SyntheticSource, SyntheticSourceConfig

SourceConfig = Annotated[
    ImagesSourceConfig | SyntheticSourceConfig | Picamera2SourceConfig | OpenCVSourceConfig,
    Field(discriminator="type"),
]

_SOURCES: dict[type, type[Source]] = {
    ImagesSourceConfig: ImagesSource,
    SyntheticSourceConfig: SyntheticSource,
    Picamera2SourceConfig: Picamera2Source,
    OpenCVSourceConfig: OpenCVSource,
}


def build_source(config: object) -> Source:
    return _SOURCES[type(config)](config)  # type: ignore[call-arg]
