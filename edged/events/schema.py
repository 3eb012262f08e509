"""The ``edged.event/1`` message contract on topic ``edged.events``.

Every message is ``[b"edged.events", json]``. ``type`` is one of EVENT_TYPES, or ``counts``
(the running zone and line counts; sent to every new subscriber of the topic at once).
Versioning as for predictions: optional fields may be added under /1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_SCHEMA = "edged.event/1"
EVENT_TOPIC = "edged.events"
EVENT_TYPES = ("object.appeared", "object.gone", "zone.entered", "zone.left",
               "zone.loitering", "line.crossed")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ZoneCounts(_Open):
    count: dict[str, int] = Field(description="objects inside now, by label")
    entered: dict[str, int] = Field(description="entries since start, by label")
    left: dict[str, int] = Field(description="exits since start, by label")


class LineCounts(_Open):
    in_: dict[str, int] = Field(alias="in", description="crossings in, by label")
    out: dict[str, int] = Field(description="crossings out, by label")


class Event(_Open):
    schema_: str = Field(alias="schema", description=f'"{EVENT_SCHEMA}"')
    type: Literal["object.appeared", "object.gone", "zone.entered", "zone.left",
                  "zone.loitering", "line.crossed"]
    run_id: str = Field(description="as in predictions; a new one means a restart")
    seq: int = Field(ge=0, description="0, 1, 2 ... per message on edged.events of one run")
    frame_seq: int = Field(ge=0, description="frame_seq of the prediction that raised it")
    capture_ns: int = Field(description="capture time of that frame (CLOCK_MONOTONIC ns)")
    track_id: int = Field(ge=1, description="the tracked object; unique per run")
    label: str | None = Field(description="the track's label (voted over its detections)")
    index: int = Field(description="the track's class index")
    score: float = Field(description="the score of the track's last detection")
    box: tuple[float, float, float, float] = Field(
        description="the track's last detection box [xmin, ymin, xmax, ymax], normalized")
    age_s: float = Field(description="seconds since the track was first seen")
    zone: str | None = Field(None, description="zone.* events: the zone's name")
    line: str | None = Field(None, description="line.crossed: the line's name")
    direction: Literal["in", "out"] | None = Field(
        None, description="line.crossed: 'in' = towards the side p1->p2 turned 90 degrees "
                          "clockwise on the image points to")
    dwell_s: float | None = Field(None, description="zone.left, zone.loitering: time inside")
    counts: ZoneCounts | LineCounts | None = Field(
        None, description="zone.entered/left, line.crossed: the zone's or line's counts after it")


class Counts(_Open):
    schema_: str = Field(alias="schema", description=f'"{EVENT_SCHEMA}"')
    type: Literal["counts"]
    run_id: str
    seq: int = Field(ge=0)
    capture_ns: int = Field(description="capture time of the last frame counted")
    tracks: int = Field(description="confirmed tracks now (lost ones still kept included)")
    zones: dict[str, ZoneCounts]
    lines: dict[str, LineCounts]


def event_schemas() -> dict[str, dict]:
    return {"Event": Event.model_json_schema(by_alias=True),
            "Counts": Counts.model_json_schema(by_alias=True)}
