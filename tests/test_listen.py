"""``edged listen`` prints every task readably."""

from __future__ import annotations

from edged.client import Received
from edged.commands.listen import format_message
from edged.messages import Prediction

BASE = {"schema": "edged.prediction/1", "run_id": "r", "seq": 3, "frame_seq": 4,
        "capture_ns": 1, "publish_ns": 2, "source": "s", "frame": [640, 480],
        "model": {"file": "m", "sha256": "x", "runtime": "litert", "delegate": "cpu",
                  "threads": 1},
        "latency_ms": {"preprocess": 1, "inference": 2, "postprocess": 0.1, "total": 3.1}}


def line(**fields: object) -> str:
    raw = {**BASE, **fields}
    return format_message(Received("edged.predictions", Prediction.model_validate(raw), raw,
                                   gap=2))


def test_each_task_prints_its_results() -> None:
    assert "cat 0.90" in line(task="classification",
                              classes=[{"index": 1, "label": "cat", "score": 0.9}])
    assert "person 0.80 [0.10, 0.20, 0.30, 0.40]" in line(
        task="detection", detections=[{"index": 0, "label": "person", "score": 0.8,
                                       "box": [0.1, 0.2, 0.3, 0.4]}])
    assert "(no detections)" in line(task="detection", detections=[])
    assert "nose (0.50, 0.25)" in line(task="pose", pose_score=0.7, keypoints=[
        {"name": "nose", "x": 0.5, "y": 0.25, "score": 0.9}])
    assert "bird 17.0%" in line(task="segmentation", segmentation={
        "width": 4, "height": 4, "classes": [{"index": 3, "label": "bird", "fraction": 0.17,
                                              "box": [0, 0, 1, 1]}]})
    assert "[gap: 2 lost]" in line(task="classification", classes=[])
