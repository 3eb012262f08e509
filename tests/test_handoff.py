from __future__ import annotations

import threading

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
