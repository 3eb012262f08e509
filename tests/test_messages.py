"""The message contract: builder output validates against the published schema."""

from __future__ import annotations

import json
import subprocess
import sys

from edged.client import GapTracker
from edged.messages import PREDICTION_SCHEMA, Prediction, PredictionBuilder


def test_builder_output_is_valid_json_matching_the_schema() -> None:
    b = PredictionBuilder("r1", "classification", "synthetic:shapes:640x480",
                          {"file": "m.tflite", "sha256": "0" * 64, "runtime": "litert",
                           "delegate": "cpu", "threads": 1})
    payload = b.build(7, 9, 100, 250, (640, 480), (0.1, 2.5, 0.05, 0.15),
                      {"classes": [{"index": 1, "label": "s\u00e9\"q", "score": 0.5}]})
    raw = json.loads(payload)
    msg = Prediction.model_validate(raw)
    assert raw["schema"] == PREDICTION_SCHEMA
    assert (msg.seq, msg.frame_seq, msg.capture_ns, msg.publish_ns) == (7, 9, 100, 250)
    assert msg.latency_ms.inference == 2.5
    assert msg.classes is not None and msg.classes[0].label == "s\u00e9\"q"
    assert msg.frame == (640, 480)


def test_builder_with_no_task_fields() -> None:
    b = PredictionBuilder("r", "pose", "x", {"file": "f", "sha256": "s", "runtime": "litert",
                                            "delegate": "cpu", "threads": 1})
    assert json.loads(b.build(0, 0, 0, 0, (1, 1), (0, 0, 0, 0), {}))["task"] == "pose"


def test_builder_bytes_are_the_plain_encoders() -> None:
    """The builder's encoder made once gives json's own compact, non-ASCII-escaping bytes
    (the wire format subscribers already parse), for every kind of value decoders emit."""
    b = PredictionBuilder("r", "detection", "x", {"file": "f", "sha256": "s",
                                                  "runtime": "litert", "delegate": "cpu",
                                                  "threads": 1})
    fields = {"detections": [{"index": 3, "label": "caf\u00e9 \"x\"\n\t\\", "score": 0.1 + 0.2,
                              "box": (0.0, 1e-7, 0.5, 1.0), "track_id": None,
                              "track_age": 12.25}],
              "pose_score": float("nan"), "empty": [], "nested": {"a": [1, {"b": True}]}}
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)[1:-1]
    head = json.dumps({"schema": PREDICTION_SCHEMA, "run_id": "r", "task": "detection",
                       "source": "x", "model": {"file": "f", "sha256": "s",
                                                "runtime": "litert", "delegate": "cpu",
                                                "threads": 1}}, separators=(",", ":"))[:-1]
    payload = b.build(1, 2, 3, 4, (5, 6), (0.1, 0.2, 0.3, 0.4), fields).decode()
    assert payload.startswith(head + ",")
    assert payload.endswith("," + body + "}")


def test_gap_tracker_separates_gaps_from_restarts() -> None:
    t = GapTracker()
    assert t.observe("a", 5) == (0, False)  # joining late is not a gap
    assert t.observe("a", 6) == (0, False)
    assert t.observe("a", 9) == (2, False)
    assert t.observe("b", 0) == (0, True)
    assert (t.lost, t.restarts) == (2, 1)


def test_schema_verb_prints_json_schema_with_both_messages() -> None:
    r = subprocess.run([sys.executable, "-m", "edged", "schema"], capture_output=True,
                       text=True, timeout=60, check=True)
    schema = json.loads(r.stdout)
    pred = schema["$defs"]["Prediction"]
    for key in ("schema", "run_id", "seq", "frame_seq", "capture_ns", "publish_ns", "task",
                "model", "latency_ms", "classes"):
        assert key in pred["properties"], key
    assert "Status" in schema["$defs"]
