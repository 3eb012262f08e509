from __future__ import annotations

import threading
from typing import Any

import pytest

from edged.handoff import Closed, Handoff


def test_latest_wins_and_drops_are_counted() -> None:
    h: Handoff[list[int]] = Handoff([[0], [0], [0]], capacity=1)
    for v in (1, 2, 3):
        slot = h.acquire()
        slot[0] = v
        h.put(slot)
    got = h.get(0)
    assert got == [3]
    assert h.dropped == 2


def test_slots_circulate_without_growth() -> None:
    slots = [[i] for i in range(4)]
    h: Handoff[list[int]] = Handoff(slots, capacity=2)
    for _ in range(1000):
        s = h.acquire()
        h.put(s)
        if (g := h.get(0)) is not None:
            h.release(g)
    while (g := h.get(0)) is not None:
        h.release(g)
    assert sorted(map(id, slots)) == sorted(map(id, h._free))


def test_close_wakes_a_waiting_consumer() -> None:
    h: Handoff[int] = Handoff([1, 2, 3])
    raised = threading.Event()

    def consume() -> None:
        try:
            h.get(timeout=10)
        except Closed:
            raised.set()

    t = threading.Thread(target=consume)
    t.start()
    h.close()
    t.join(5)
    assert raised.is_set()


def test_capacity_needs_spare_slots() -> None:
    with pytest.raises(ValueError):
        Handoff([1, 2], capacity=1)


def test_swap_and_get_with_release_circulate_without_growth_or_loss() -> None:
    slots = [[i] for i in range(3)]
    h: Handoff[list[int]] = Handoff(slots, capacity=1)
    held = h.acquire()
    mine: list[int] | None = None
    for v in range(1000):
        held[0] = v
        held = h.swap(held)  # never steals the pending slot: a free one always exists
        if v % 3 == 0:
            mine = h.get(0, release=mine)
            assert mine is not None and mine[0] == v
    assert h.dropped == 1000 - 334  # every item not taken was overwritten
    ids = {id(s) for s in slots}
    assert {id(held), id(mine)} <= ids
    assert len(h._free) + len(h._pending) + 2 == 3


def test_swap_threads_newest_wins_in_order() -> None:
    """A producer and a consumer on real threads: values arrive increasing, none twice."""
    h: Handoff[list[int]] = Handoff([[0], [0], [0]], capacity=1)
    seen: list[int] = []

    def consume() -> None:
        slot = None
        while True:
            try:
                slot = h.get(timeout=5, release=slot)
            except Closed:
                return
            if slot is not None:
                seen.append(slot[0])

    t = threading.Thread(target=consume)
    t.start()
    held = h.acquire()
    for v in range(1, 20001):
        held[0] = v
        held = h.swap(held)
    h.close()
    t.join(30)
    assert not t.is_alive()
    assert seen and all(a < b for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1] == 20000


def test_a_model_sized_source_frame_goes_straight_into_the_slot(daemon_factory: Any) -> None:
    """Synthetic frames at the model's input size: written in place by the source (no
    resize, identity transform), and every published class is the shape that was drawn."""
    from conftest import receive_json, subscribe

    from edged.config import DEMO_MODEL
    from edged.sources.synthetic import shape_at

    d = daemon_factory({"source": {"type": "synthetic", "size": [64, 64], "fps": 100},
                        "model": {"path": str(DEMO_MODEL), "threads": 1, "top_k": 1,
                                  "labels": str(DEMO_MODEL.parent / "shapes_labels.txt")}})
    msgs = receive_json(subscribe(d.endpoint), 20, timeout=60)
    for m in msgs:
        assert m["frame"] == [64, 64]
        assert m["classes"][0]["label"] == shape_at(m["frame_seq"]), m
    assert d.stop() == 0


def test_synthetic_read_into_writes_in_place_only_at_the_same_size() -> None:
    import numpy as np

    from edged.sources.synthetic import SyntheticSource, SyntheticSourceConfig

    src = SyntheticSource(SyntheticSourceConfig(type="synthetic", size=(64, 48)))
    src.open()
    out = np.zeros((48, 64, 3), np.uint8)
    frame = src.read_into(out)
    assert frame is not None and frame.image is out and out.any()
    other = src.read_into(np.zeros((32, 32, 3), np.uint8))
    assert other is not None and other.image.shape == (48, 64, 3)  # a view to resize
