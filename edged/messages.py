"""The published message contract: pydantic models (for the JSON Schema and for typed
clients) and a fast builder for the daemon's hot path.

Versioning: ``schema`` is "edged.prediction/1". Adding optional fields keeps /1; removing or
changing the meaning of a field makes /2. Subscribers must ignore fields they do not know.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PREDICTION_SCHEMA = "edged.prediction/1"
STATUS_SCHEMA = "edged.status/1"


class _Open(BaseModel):
    # clients ignore unknown fields so a newer daemon never breaks an older subscriber
    model_config = ConfigDict(extra="allow")


class ModelInfo(_Open):
    file: str = Field(description="model file name")
    sha256: str = Field(description="sha256 of the model file")
    runtime: str = Field(description="litert or tflite-runtime")
    delegate: str = Field(description="cpu or edgetpu")
    threads: int
    device: str | None = Field(None, description="Edge TPU device when delegate is edgetpu")


class Latency(_Open):
    preprocess: float = Field(description="resize + input conversion, ms")
    inference: float = Field(description="interpreter invoke, ms")
    postprocess: float = Field(description="decode + serialize, ms")
    total: float = Field(description="capture to publish (publish_ns - capture_ns), ms")


class ClassResult(_Open):
    index: int
    label: str | None
    score: float = Field(ge=0, le=1)


class Detection(_Open):
    index: int
    label: str | None
    score: float
    box: tuple[float, float, float, float] = Field(
        description="[xmin, ymin, xmax, ymax], normalized to the original frame")
    track_id: int | None = Field(None, description="tracking (track.enabled): the object's id")
    track_age: float | None = Field(None, description="seconds since the track was first seen")


class Keypoint(_Open):
    name: str = Field(description="COCO keypoint name, e.g. nose, left_wrist")
    x: float = Field(ge=0, le=1, description="normalized to the original frame width")
    y: float = Field(ge=0, le=1, description="normalized to the original frame height")
    score: float


class SegmentClass(_Open):
    index: int
    label: str | None
    fraction: float = Field(ge=0, le=1, description="share of the map's pixels")
    box: tuple[float, float, float, float] = Field(description="bounding box, as for detections")


class Segmentation(_Open):
    width: int = Field(description="class map width (the mask PNG's size)")
    height: int
    classes: list[SegmentClass]


class Prediction(_Open):
    schema_: str = Field(alias="schema", description=f'"{PREDICTION_SCHEMA}"')
    run_id: str = Field(description="unique per daemon start; a new one means a restart")
    seq: int = Field(ge=0, description="0, 1, 2 ... per published prediction of one run")
    frame_seq: int = Field(ge=0, description="capture counter; gaps = frames not inferred")
    capture_ns: int = Field(description="CLOCK_MONOTONIC ns when the frame was captured")
    publish_ns: int = Field(description="CLOCK_MONOTONIC ns when the message was sent")
    task: str
    source: str = Field(description="the frame source, e.g. 'images:/data/cat.bmp'")
    frame: tuple[int, int] = Field(description="[width, height] of the original frame")
    model: ModelInfo
    latency_ms: Latency
    classes: list[ClassResult] | None = Field(None, description="classification, best first")
    detections: list[Detection] | None = Field(None, description="detection, best first")
    keypoints: list[Keypoint] | None = Field(None, description="pose")
    pose_score: float | None = Field(None, description="pose: mean keypoint score")
    segmentation: Segmentation | None = Field(
        None, description="per-class summary; the map itself on TOPIC.mask with publish.masks")


class Status(_Open):
    schema_: str = Field(alias="schema", description=f'"{STATUS_SCHEMA}"')
    run_id: str
    state: str = Field(description="starting | running | degraded | stopping")
    uptime_s: float
    publish_ns: int
    fps_in: float
    fps_out: float
    frames: dict[str, int] = Field(description="captured, inferred, published counters")
    dropped: dict[str, int] = Field(description="drops by cause")
    inference_ms: dict[str, float] = Field(description="p50 / p99 over the last frames")
    subscribers: int
    source: str
    model: ModelInfo
    labels: str | None = Field(None, description="label source: file:PATH, "
                               "metadata:MODEL:MEMBER (packed in the .tflite), or null")
    reason: str | None = Field(None, description="why degraded, when it is")
    temperature_c: float | None = Field(None, description="CPU temperature, where exposed")
    events: dict[str, Any] | None = Field(None, description="tracking: zone and line counts "
                                          "(as the edged.events counts message)")


def json_schema() -> dict[str, Any]:
    """JSON Schema of both messages (``edged schema``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "edged messages",
        "oneOf": [{"$ref": "#/$defs/Prediction"}, {"$ref": "#/$defs/Status"}],
        "$defs": {
            "Prediction": Prediction.model_json_schema(by_alias=True),
            "Status": Status.model_json_schema(by_alias=True),
        },
    }


def _compact_encoder() -> Callable[[Any], str]:
    """``JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode``, the same bytes,
    without building a new C encoder (and a circular-reference table) on every call: the
    C encoder json.encoder itself uses, made once. Falls back where it is missing."""
    plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain.encode
    try:  # an internal of json.encoder: if its signature ever changes, the plain way
        encode = make(None, plain.default, json.encoder.encode_basestring, None, ":", ",",
                      False, False, True)
        encode({"a": [1.5, "é"]}, 0)
    except TypeError:
        return plain.encode
    return lambda fields: "".join(encode(fields, 0))


class PredictionBuilder:
    """Serializes predictions with the constant part encoded once per run."""

    def __init__(self, run_id: str, task: str, source: str, model: dict[str, Any]) -> None:
        const = {"schema": PREDICTION_SCHEMA, "run_id": run_id, "task": task,
                 "source": source, "model": model}
        self._head = json.dumps(const, separators=(",", ":"))[:-1]
        self._encode = _compact_encoder()

    def build(self, seq: int, frame_seq: int, capture_ns: int, publish_ns: int,
              frame: tuple[int, int], latency: tuple[float, float, float, float],
              fields: dict[str, Any]) -> bytes:
        pre, inf, post, total = latency
        body = self._encode(fields)[1:-1]
        return (f'{self._head},"seq":{seq},"frame_seq":{frame_seq},"capture_ns":{capture_ns},'
                f'"publish_ns":{publish_ns},"frame":[{frame[0]},{frame[1]}],'
                f'"latency_ms":{{"preprocess":{pre:.3f},"inference":{inf:.3f},'
                f'"postprocess":{post:.3f},"total":{total:.3f}}}'
                f'{"," if body else ""}{body}}}').encode()
