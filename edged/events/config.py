"""Config sections ``track``, ``zones`` and ``lines`` (the issue-16 contract).

Geometry is checked here (points in [0, 1], simple polygons, distinct names); labels are
checked against the model's labels where they are known (``edged.events.check``).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field, field_validator

from edged.sources.base import StrictModel

Coord = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Coord, Coord]
Anchor = Literal["bottom-center", "center", "top-center"]


class TrackConfig(StrictModel):
    enabled: bool = Field(True, description="track detections (detection models only)")
    max_age_s: float = Field(1.0, gt=0, le=600,
                             description="keep a lost track this long before object.gone")
    high_score: float = Field(0.5, ge=0, le=1, description="first-stage detections (ByteTrack)")
    new_track_score: float = Field(0.6, ge=0, le=1, description="minimum score to start a track")
    min_hits: int = Field(2, ge=1, le=30, description="matches before a track is confirmed "
                          "(gets a track_id, raises object.appeared)")


def _simple(polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
    n = len(polygon)
    area2 = sum(polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]
                for i in range(n))
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner
            if _segments_cross(polygon[i], polygon[(i + 1) % n], polygon[j], polygon[(j + 1) % n]):
                raise ValueError(f"polygon crosses itself: edge {i} ({_pt(polygon[i])}-"
                                 f"{_pt(polygon[(i + 1) % n])}) and edge {j} ({_pt(polygon[j])}-"
                                 f"{_pt(polygon[(j + 1) % n])})")
    if abs(area2) < 1e-9:
        raise ValueError("polygon has no area")
    return polygon


def _pt(p: tuple[float, float]) -> str:
    return f"[{p[0]:g}, {p[1]:g}]"


def _orient(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _segments_cross(a: tuple[float, float], b: tuple[float, float],
                    c: tuple[float, float], d: tuple[float, float]) -> bool:
    """True when the closed segments ab and cd touch (collinear overlaps included)."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0) != (o2 > 0) and o1 != 0 and o2 != 0) and \
            ((o3 > 0) != (o4 > 0) and o3 != 0 and o4 != 0):
        return True

    def on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
        return (min(p[0], q[0]) <= r[0] <= max(p[0], q[0])
                and min(p[1], q[1]) <= r[1] <= max(p[1], q[1]))

    return any(o == 0 and on(p, q, r) for o, p, q, r in
               ((o1, a, b, c), (o2, a, b, d), (o3, c, d, a), (o4, c, d, b)))


class ZoneConfig(StrictModel):
    name: str = Field(min_length=1, max_length=64)
    polygon: Annotated[list[Point], AfterValidator(_simple)] = Field(
        min_length=3, max_length=64, description="[[x, y], ...] normalized frame coordinates")
    labels: list[str] | None = Field(None, min_length=1,
                                     description="only these labels (or class indices)")
    min_score: float = Field(0.0, ge=0, le=1)
    loiter_s: float | None = Field(None, gt=0, description="raise zone.loitering after this")
    anchor: Anchor = Field("bottom-center", description="the point of a box that must be inside")
    margin: float = Field(0.01, ge=0, le=0.2,
                          description="hysteresis: distance past the edge before a change counts")


class LineConfig(StrictModel):
    name: str = Field(min_length=1, max_length=64)
    points: tuple[Point, Point] = Field(description="directed segment [p1, p2]")
    labels: list[str] | None = Field(None, min_length=1)
    anchor: Anchor = "bottom-center"
    margin: float = Field(0.01, ge=0, le=0.2,
                          description="hysteresis: distance from the line before a side counts")

    @field_validator("points")
    @classmethod
    def _length(cls, v: tuple[Point, Point]) -> tuple[Point, Point]:
        if abs(v[0][0] - v[1][0]) + abs(v[0][1] - v[1][1]) < 1e-6:
            raise ValueError("the two points are the same: a line needs a length")
        return v


_Named = TypeVar("_Named", ZoneConfig, LineConfig)


def _unique(items: list[_Named]) -> list[_Named]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.name in seen:
            raise ValueError(f"name '{item.name}' is used twice (item {i})")
        seen.add(item.name)
    return items


Zones = Annotated[list[ZoneConfig], AfterValidator(_unique)]
Lines = Annotated[list[LineConfig], AfterValidator(_unique)]
