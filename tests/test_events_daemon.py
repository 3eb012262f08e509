"""Events end to end: the real daemon, the generated SSD model (tests/models/ssd_grid.tflite:
a box is exactly the 4x4 grid cell a bright square is in), an images source of frames with
a square moving left to right across a door line and into a zone, and ``edged listen
--events`` as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from conftest import ROOT, receive_json, subscribe
from PIL import Image

from edged.client import EVENTS_TOPIC, Subscriber
from edged.events.schema import Counts, Event
from edged.messages import Status

SSD = Path(__file__).parent / "models/ssd_grid.tflite"


def moving_square(folder: Path, hold: int = 3) -> None:
    """Grid row 2, columns 0 -> 3, each held ``hold`` frames (the images source loops)."""
    folder.mkdir()
    k = 0
    for col in range(4):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[240:360, col * 160:(col + 1) * 160] = 255
        for _ in range(hold):
            Image.fromarray(frame).save(folder / f"f{k:03d}.png")
            k += 1


def events_config(tmp_path: Path) -> dict:
    moving_square(tmp_path / "frames")
    labels = tmp_path / "labels.txt"
    labels.write_text("thing\n")
    return {"source": {"type": "images", "path": str(tmp_path / "frames"), "fps": 20},
            "model": {"path": str(SSD), "labels": str(labels), "interpolation": "nearest"},
            "track": {"max_age_s": 0.4},
            "zones": [{"name": "driveway", "polygon": [[0.5, 0.4], [1, 0.4], [1, 1], [0.5, 1]],
                       "labels": ["thing"]}],
            "lines": [{"name": "door", "points": [[0.5, 1.0], [0.5, 0.0]]}]}


def test_listen_events_prints_the_crossing_and_the_entry(tmp_path: Path, daemon_factory) -> None:
    d = daemon_factory(events_config(tmp_path), subdir="d")
    receive_json(subscribe(d.endpoint), 1, timeout=60)  # running
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "edged", "listen", "--events", "--endpoint", d.endpoint,
         "--count", "12", "--timeout", "60"],
        capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # a late subscriber gets the counts at once (events of the frame being published when it
    # joined may come first: the counts' seq tells which events they include)
    counts = [ln for ln in lines if ln.startswith("[counts]")]
    assert counts and "zones driveway:" in counts[0] and "lines door:" in counts[0], lines
    crossed = [ln for ln in lines if "line.crossed" in ln]
    assert crossed and all("door in" in ln and " thing " in ln for ln in crossed), lines
    assert any("zone.entered" in ln and "driveway" in ln for ln in lines), lines
    assert d.stop() == 0


def test_typed_events_match_the_tracked_predictions(tmp_path: Path, daemon_factory) -> None:
    d = daemon_factory(events_config(tmp_path), subdir="d")
    preds = subscribe(d.endpoint, hwm=10000)
    receive_json(preds, 1, timeout=60)
    got: list[Event | Counts] = []
    with Subscriber(d.endpoint, (EVENTS_TOPIC,)) as sub:
        deadline = time.monotonic() + 60
        while sum(isinstance(e, Event) and e.type == "line.crossed" for e in got) < 2:
            assert time.monotonic() < deadline, got
            r = sub.receive(timeout=5)
            if r is not None:
                assert not r.gap
                got.append(r.message)  # type: ignore[arg-type]
    assert isinstance(next(e for e in got if not isinstance(e, Event)), Counts)
    crossings = [e for e in got if isinstance(e, Event) and e.type == "line.crossed"]
    for e in crossings:
        assert (e.schema_, e.line, e.direction, e.label) == ("edged.event/1", "door", "in",
                                                            "thing")
        assert e.box[0] == 0.5 and e.box[2] == 0.75  # crossed into column 2
    assert crossings[1].track_id > crossings[0].track_id  # each pass is a new object
    assert [e.seq for e in got] == list(range(got[0].seq, got[0].seq + len(got)))
    # the prediction of the crossing frame carries the same track id
    target, m = crossings[1].frame_seq, None
    deadline = time.monotonic() + 30
    while m is None and time.monotonic() < deadline and preds.poll(5000):
        pred = json.loads(preds.recv_multipart()[1])
        if pred["frame_seq"] >= target:
            m = pred if pred["frame_seq"] == target else {}
    assert m, "the prediction of the crossing frame"
    [det] = m["detections"]
    assert det["track_id"] == crossings[1].track_id and det["track_age"] >= 0
    # gone after max_age_s without the square in that place; zone.left comes first
    types = [(e.type, e.track_id) for e in got if isinstance(e, Event)]
    first = crossings[0].track_id
    if ("object.gone", first) in types:
        assert types.index(("zone.left", first)) < types.index(("object.gone", first))
    status_sub = subscribe(d.endpoint, (b"edged.status",))
    [status] = receive_json(status_sub, 1, timeout=30, topic=b"edged.status")
    s = Status.model_validate(status)
    assert s.events is not None and s.events["lines"]["door"]["in"]["thing"] >= 2
    assert d.stop() == 0


def door_in(d, sub) -> int:
    [status] = receive_json(sub, 1, timeout=30, topic=b"edged.status")
    return Status.model_validate(status).events["lines"]["door"]["in"].get("thing", 0)


def test_counts_survive_a_reload_that_keeps_zones_and_lines(tmp_path: Path,
                                                            daemon_factory) -> None:
    config = events_config(tmp_path)
    config["publish"] = {"status_interval": 0.2}
    d = daemon_factory(config, subdir="d")
    sub = subscribe(d.endpoint, (b"edged.status",))
    deadline = time.monotonic() + 60
    while (before := door_in(d, sub)) < 2:
        assert time.monotonic() < deadline
    run_id = receive_json(sub, 1, topic=b"edged.status")[0]["run_id"]
    config["log"] = {"level": "DEBUG"}  # a change that leaves zones and lines alone
    d.write_config(config)
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while "reloaded" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.1)
    after = door_in(d, sub)
    assert after >= before
    assert receive_json(sub, 1, topic=b"edged.status")[0]["run_id"] == run_id
    # a changed line starts from 0: its next crossing event says 1 (unchanged it says >= 3)
    with Subscriber(d.endpoint, (EVENTS_TOPIC,)) as events:
        config["lines"][0]["points"] = [[0.5, 0.9], [0.5, 0.0]]
        d.write_config(config)
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        counted = []
        while 1 not in counted:
            assert time.monotonic() < deadline, (counted, d.log())
            r = events.receive(timeout=5)
            if r is not None and isinstance(r.message, Event) and r.message.type == \
                    "line.crossed":
                counted.append(r.raw["counts"]["in"]["thing"])
    assert d.log().count("reloaded") == 2
    assert d.stop() == 0
