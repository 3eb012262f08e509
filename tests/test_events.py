"""Zones, lines, the engine's counts and reloads, config checks, client, CLI and schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from edged.client import Received
from edged.commands.listen import format_message
from edged.config import parse_config
from edged.errors import ConfigError
from edged.events.check import event_errors
from edged.events.config import LineConfig, TrackConfig, ZoneConfig
from edged.events.engine import EventEngine
from edged.events.schema import EVENT_TYPES, Counts, Event

SQUARE = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)]


def walk(engine: EventEngine, points: list[tuple[float, float]], label: int = 0,
         t0: float = 0.0, size: float = 0.1) -> list[dict]:
    """One object whose anchor (bottom-centre) follows ``points``, a frame each 0.1 s."""
    events = []
    for k, (x, y) in enumerate(points):
        b = np.array([[x - size / 2, y - size, x + size / 2, y]])
        _, evs = engine.process(k, int((t0 + 0.1 * k) * 1e9), b, np.array([0.9]),
                                np.array([label]))
        events += evs
    return events


def kinds(events: list[dict], *types: str) -> list[tuple]:
    return [(e["type"], e.get("zone") or e.get("line"), e.get("direction")) for e in events
            if e["type"] in types]


def engine(zones: list[ZoneConfig] = (), lines: list[LineConfig] = ()) -> EventEngine:
    return EventEngine("r", TrackConfig(), list(zones), list(lines), ["person", "car"])


# --- lines -------------------------------------------------------------------------------

def test_in_is_p1_p2_turned_clockwise_on_the_image() -> None:
    across = LineConfig(name="l", points=((0.0, 0.5), (1.0, 0.5)))  # drawn left to right
    down = [(0.5, 0.3 + 0.02 * k) for k in range(20)]
    assert kinds(walk(engine(lines=[across]), down), "line.crossed") == [
        ("line.crossed", "l", "in")]  # moving down the image
    assert kinds(walk(engine(lines=[across]), down[::-1]), "line.crossed") == [
        ("line.crossed", "l", "out")]
    door = LineConfig(name="d", points=((0.5, 0.0), (0.5, 1.0)))  # drawn top to bottom
    leftwards = [(0.7 - 0.02 * k, 0.5) for k in range(20)]
    assert kinds(walk(engine(lines=[door]), leftwards), "line.crossed") == [
        ("line.crossed", "d", "in")]


def test_jitter_on_a_line_is_not_a_crossing_and_a_return_is_two() -> None:
    line = LineConfig(name="l", points=((0.5, 0.0), (0.5, 1.0)))
    rng = np.random.default_rng(0)
    jitter = [(0.3 + 0.02 * k, 0.5) for k in range(10)] + \
        [(0.5 + rng.normal(0, 0.003), 0.5) for _ in range(30)]
    assert kinds(walk(engine(lines=[line]), jitter), "line.crossed") == []
    back = [(0.3 + 0.03 * k, 0.5) for k in range(14)] + [(0.69 - 0.03 * k, 0.5)
                                                         for k in range(14)]
    assert [d for *_, d in kinds(walk(engine(lines=[line]), back), "line.crossed")] == \
        ["out", "in"]


def test_passing_beyond_the_segment_is_not_a_crossing() -> None:
    short = LineConfig(name="l", points=((0.5, 0.0), (0.5, 0.4)))
    below = [(0.3 + 0.02 * k, 0.7) for k in range(20)]
    assert kinds(walk(engine(lines=[short]), below), "line.crossed") == []


# --- zones -------------------------------------------------------------------------------

def test_zone_entry_exit_dwell_and_loitering_once() -> None:
    zone = ZoneConfig(name="z", polygon=SQUARE, loiter_s=1.0)
    path = [(0.2 + 0.05 * k, 0.5) for k in range(6)] + [(0.5, 0.5)] * 20 + \
        [(0.5 + 0.05 * k, 0.5) for k in range(1, 8)]
    events = walk(engine([zone]), path)
    assert kinds(events, "zone.entered", "zone.left", "zone.loitering") == [
        ("zone.entered", "z", None), ("zone.loitering", "z", None), ("zone.left", "z", None)]
    left = next(e for e in events if e["type"] == "zone.left")
    assert 2.0 < left["dwell_s"] < 2.6 and left["counts"]["count"] == {}
    assert left["counts"]["entered"] == {"person": 1} == left["counts"]["left"]


def test_jitter_on_a_zone_edge_does_not_flicker() -> None:
    zone = ZoneConfig(name="z", polygon=SQUARE)
    rng = np.random.default_rng(1)
    path = [(0.2 + 0.02 * k, 0.5) for k in range(10)] + \
        [(0.4 + rng.normal(0, 0.003), 0.5) for _ in range(40)]
    assert len(kinds(walk(engine([zone]), path), "zone.entered", "zone.left")) <= 1


def test_label_filter_min_score_and_anchor() -> None:
    cars = ZoneConfig(name="z", polygon=SQUARE, labels=["car"])
    path = [(0.2 + 0.05 * k, 0.55) for k in range(10)]
    assert kinds(walk(engine([cars]), path, label=0), "zone.entered") == []
    assert kinds(walk(engine([cars]), path, label=1), "zone.entered") == [
        ("zone.entered", "z", None)]
    picky = ZoneConfig(name="z", polygon=SQUARE, min_score=0.95)
    assert kinds(walk(engine([picky]), path), "zone.entered") == []
    # bottom-centre inside, centre above the zone: only the default anchor counts it
    high = [(0.2 + 0.05 * k, 0.42) for k in range(10)]
    centre = ZoneConfig(name="z", polygon=SQUARE, anchor="center")
    assert kinds(walk(engine([centre]), high, size=0.1), "zone.entered") == []
    assert kinds(walk(engine([ZoneConfig(name="z", polygon=SQUARE)]), high, size=0.1),
                 "zone.entered") == [("zone.entered", "z", None)]


def test_a_track_gone_inside_a_zone_leaves_it() -> None:
    e = engine([ZoneConfig(name="z", polygon=SQUARE)])
    walk(e, [(0.3 + 0.05 * k, 0.5) for k in range(5)])
    assert e.counts()["zones"]["z"]["count"] == {"person": 1}
    _, evs = e.process(99, int(5e9), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    assert [x["type"] for x in evs] == ["zone.left", "object.gone"]
    assert e.counts()["zones"]["z"]["count"] == {} and e.counts()["tracks"] == 0


# --- reloads -----------------------------------------------------------------------------

def test_counts_survive_a_reconfigure_that_keeps_the_zone() -> None:
    z = ZoneConfig(name="z", polygon=SQUARE)
    line = LineConfig(name="l", points=((0.5, 0.0), (0.5, 1.0)))
    e = engine([z], [line])
    walk(e, [(0.3 + 0.05 * k, 0.5) for k in range(5)])  # inside z, across l
    before = e.counts()
    other = ZoneConfig(name="other", polygon=[(0, 0), (0.2, 0), (0.2, 0.2)])
    e.reconfigure(TrackConfig(), [other, z], [line], ["person", "car"])
    assert e.counts()["zones"]["z"] == before["zones"]["z"]
    assert e.counts()["lines"] == before["lines"]  # nothing crossed yet
    # still inside z: leaving it now is one zone.left, not a new entry
    evs = walk(e, [(0.5 + 0.05 * k, 0.5) for k in range(1, 6)], t0=0.5)
    assert kinds(evs, "zone.entered", "zone.left") == [("zone.left", "z", None)]
    assert kinds(evs, "line.crossed") == [("line.crossed", "l", "out")]
    before = e.counts()
    moved = ZoneConfig(name="z", polygon=[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1)])
    e.reconfigure(TrackConfig(), [moved], [line], ["person", "car"])
    assert e.counts()["zones"]["z"]["entered"] == {}  # a changed zone starts afresh
    assert e.counts()["lines"] == before["lines"]


# --- config ------------------------------------------------------------------------------

def config_errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, check_files=False)
    return info.value.errors


def test_contract_keys_parse() -> None:
    c = parse_config("""
track: {enabled: true, max_age_s: 1.0}
zones:
  - name: driveway
    polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
    labels: [person, car]
    loiter_s: 30
lines:
  - name: door
    points: [[0.5, 0.0], [0.5, 1.0]]
""", check_files=False)
    assert c.zones[0].loiter_s == 30 and c.lines[0].points == ((0.5, 0.0), (0.5, 1.0))
    assert parse_config("{}", check_files=False).track.enabled  # on by default


def test_bad_geometry_is_a_key_and_line_error() -> None:
    [err] = config_errors("zones:\n  - name: bow\n"
                          "    polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]\n")
    assert err.startswith("zones[0].polygon (line 3): polygon crosses itself: edge 0")
    [err] = config_errors("lines:\n  - name: l\n    points: [[0.5, 0], [1.5, 1]]\n")
    assert err.startswith("lines[0].points[1][0] (line 3):") and "less than or equal to 1" in err
    [err] = config_errors("lines:\n  - {name: a, points: [[0, 0], [1, 1]]}\n"
                          "  - {name: a, points: [[0, 1], [1, 0]]}\n")
    assert err == "lines (line 1): name 'a' is used twice (item 1)"
    [err] = config_errors("zones:\n  - {name: flat, polygon: [[0, 0], [0.5, 0.5], [1, 1]]}\n")
    assert "polygon has no area" in err


def test_label_and_task_checks() -> None:
    c = parse_config("zones:\n  - {name: z, polygon: [[0, 0], [1, 0], [1, 1]], "
                     "labels: [persn, '3']}\n", check_files=False)
    assert event_errors(c, ["person", "car"], "detection") == [
        "zones[0].labels[0]: unknown label 'persn'; did you mean 'person'?"]
    assert event_errors(c, None, "detection") == []  # labels unknown: nothing to check
    assert "need a detection model (this model's task is classification)" in \
        event_errors(c, None, "classification")[0]
    off = parse_config("track: {enabled: false}\nlines: [{name: l, points: [[0, 0], [1, 1]]}]\n",
                       check_files=False)
    assert event_errors(off, None, None)[0].startswith("track.enabled: zones and lines need")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edged", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_check_config_reports_unknown_labels_with_lines_exit_78(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("person\ncar\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: {ROOT / 'tests/models/ssd_grid.tflite'}\n"
                   "  labels: labels.txt\nzones:\n  - name: z\n"
                   "    polygon: [[0, 0], [1, 0], [1, 1]]\n    labels: [car, trucks]\n")
    out = run_cli("check-config", str(cfg))
    assert out.returncode == 78
    assert "zones[0].labels[1] (line 7): unknown label 'trucks'" in out.stderr
    cfg.write_text(cfg.read_text().replace("trucks", "person"))
    assert run_cli("check-config", str(cfg)).returncode == 0


def test_daemon_refuses_labels_the_model_does_not_have(tmp_path: Path,
                                                       daemon_factory) -> None:
    (tmp_path / "labels.txt").write_text("thing\n")
    d = daemon_factory({"model": {"path": str(ROOT / "tests/models/ssd_grid.tflite"),
                                  "labels": str(tmp_path / "labels.txt")},
                        "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]],
                                   "labels": ["person"]}]}, subdir="d")
    assert d.proc.wait(60) == 78
    assert "zones[0].labels[0]: unknown label 'person'" in d.log()


# --- messages, client, CLI ---------------------------------------------------------------

EVENT = {"schema": "edged.event/1", "type": "line.crossed", "run_id": "r", "seq": 7,
         "frame_seq": 40, "capture_ns": 5, "track_id": 3, "label": "person", "index": 0,
         "score": 0.9, "box": [0.1, 0.2, 0.3, 0.4], "age_s": 1.5, "line": "door",
         "direction": "in", "counts": {"in": {"person": 4}, "out": {}}}
COUNTS = {"schema": "edged.event/1", "type": "counts", "run_id": "r", "seq": 8,
          "capture_ns": 5, "tracks": 2,
          "zones": {"drive": {"count": {"car": 1}, "entered": {"car": 3}, "left": {"car": 2}}},
          "lines": {"door": {"in": {"person": 4}, "out": {"person": 1}}}}


def test_messages_validate_and_print() -> None:
    e = Event.model_validate(EVENT)
    assert (e.type, e.direction, e.counts.in_) == ("line.crossed", "in", {"person": 4})
    line = format_message(Received("edged.events", e, EVENT))
    assert "line.crossed" in line and "door in" in line and "track    3 person 0.90" in line
    c = Counts.model_validate(COUNTS)
    text = format_message(Received("edged.events", c, COUNTS))
    assert text == ("[counts] 2 tracks  zones drive: car 1 inside (entered car 3, left car 2)"
                    "  lines door: in person 4, out person 1")


def test_client_yields_typed_events_with_gaps(tmp_path: Path) -> None:
    import zmq

    from edged.client import EVENTS_TOPIC, Subscriber

    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.XPUB)
    endpoint = f"ipc://{tmp_path}/e.sock"
    pub.bind(endpoint)
    with Subscriber(endpoint, (EVENTS_TOPIC,)) as sub:
        assert pub.poll(10000) and pub.recv() == b"\x01edged.events"
        for msg in (COUNTS, {**EVENT, "seq": 9}, {**EVENT, "seq": 12}):
            pub.send_multipart([b"edged.events", json.dumps(msg).encode()])
        got = [sub.receive(timeout=10) for _ in range(3)]
    pub.close(linger=0)
    assert [type(r.message).__name__ for r in got] == ["Counts", "Event", "Event"]
    assert [r.gap for r in got] == [0, 0, 2]


def test_schema_command_prints_the_event_schema() -> None:
    out = run_cli("schema")
    schema = json.loads(out.stdout)
    assert {"Prediction", "Status", "Event", "Counts"} <= set(schema["$defs"])
    assert schema["$defs"]["Event"]["properties"]["type"]["enum"] == list(EVENT_TYPES)
    det = schema["$defs"]["Prediction"]["$defs"]["Detection"]["properties"]
    assert "track_id" in det and "track_age" in det


def test_the_margin_test_of_all_zones_at_once_is_edge_distance() -> None:
    from edged.events.batch import ZoneSet, anchors
    from edged.events.zones import Zone, edge_distance

    zones = [Zone(ZoneConfig(name="a", polygon=SQUARE, margin=0.02)),
             Zone(ZoneConfig(name="b", polygon=[(0.1, 0.1), (0.5, 0.2), (0.3, 0.7)],
                             anchor="center", margin=0.05)),
             Zone(ZoneConfig(name="c", polygon=SQUARE, margin=0.0))]
    zs = ZoneSet(zones, [None, None, None])
    rng = np.random.default_rng(0)
    state = np.concatenate([rng.uniform(0, 1, (200, 2)), rng.uniform(0, 0.2, (200, 2))], axis=1)
    pts = anchors(state)
    rows, which = np.arange(200), rng.integers(0, 3, 200)
    got = zs.far(pts, rows, which)
    for z, zone in enumerate(zones):
        sel = which == z
        d = edge_distance(pts[zs.kind[z], rows[sel]], zone.poly)
        assert np.array_equal(got[sel], d >= zone.config.margin)
    assert got[which == 2].all() and not got.all()


def test_the_margin_test_for_a_few_points_matches_the_vectorized_one() -> None:
    from edged.events.batch import FEW, ZoneSet, anchors
    from edged.events.zones import Zone

    zones = [Zone(ZoneConfig(name="a", polygon=SQUARE, margin=0.02)),
             Zone(ZoneConfig(name="b", polygon=[(0.1, 0.1), (0.5, 0.2), (0.3, 0.7)],
                             anchor="center", margin=0.05))]
    zs = ZoneSet(zones, [None, None])
    rng = np.random.default_rng(1)
    state = np.concatenate([rng.uniform(0, 1, (400, 2)), rng.uniform(0, 0.2, (400, 2))], axis=1)
    pts = anchors(state)
    rows, which = np.arange(400), rng.integers(0, 2, 400)
    whole = zs.far(pts, rows, which)  # more than FEW points: numpy
    assert whole.any() and not whole.all()
    few = [zs.far(pts, rows[i:i + FEW], which[i:i + FEW]) for i in range(0, 400, FEW)]
    assert np.array_equal(np.concatenate(few), whole)


def test_the_crossing_test_for_a_few_paths_matches_the_vectorized_one() -> None:
    from edged.events.batch import FEW, LineSet
    from edged.events.lines import Line

    lines = [Line(LineConfig(name="door", points=((0.5, 1.0), (0.5, 0.0)))),
             Line(LineConfig(name="road", points=((0.0, 0.5), (1.0, 0.55))))]
    ls = LineSet(lines, [None, None])
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 1, (400, 2)), rng.uniform(0, 1, (400, 2))
    b[:20] = a[:20]  # no motion: the 1e-12 guard
    li = rng.integers(0, 2, 400)
    whole = ls.within(a, b, li)  # more than FEW paths: numpy
    assert whole.any() and not whole.all()
    few = [ls.within(a[i:i + FEW], b[i:i + FEW], li[i:i + FEW]) for i in range(0, 400, FEW)]
    assert np.array_equal(np.concatenate(few), whole)
