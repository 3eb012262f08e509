"""The CPU gate: invoke takes turns with resize and publish when it has every core."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import receive_json, subscribe

from edged.cpugate import CpuGate, takes_every_core
from edged.runtime.model import cpu_count

WAIT = 30.0  # generous: a loaded host


def test_it_is_on_only_for_a_cpu_interpreter_on_every_core() -> None:
    assert takes_every_core("cpu", 4, cores=4)
    assert takes_every_core("cpu", 8, cores=4)
    assert not takes_every_core("cpu", 3, cores=4)  # the default: cores - 1
    assert not takes_every_core("edgetpu", 4, cores=4)


def _hold(ctx_factory, entered: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        with ctx_factory():
            entered.set()
            release.wait(WAIT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert entered.wait(WAIT)
    return t


def _try(ctx_factory) -> tuple[threading.Thread, threading.Event]:
    inside = threading.Event()

    def run() -> None:
        with ctx_factory():
            inside.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, inside


def test_sharers_wait_for_the_invoke_and_the_invoke_waits_for_sharers() -> None:
    gate = CpuGate(True, wait_s=WAIT)
    release = threading.Event()
    holder = _hold(lambda: gate.exclusive, threading.Event(), release)
    waiter, inside = _try(lambda: gate.shared)
    assert not inside.wait(0.3)  # still held: it must not get in (not a timing assert)
    release.set()
    assert inside.wait(WAIT)
    holder.join(WAIT)
    waiter.join(WAIT)

    release = threading.Event()
    holder = _hold(lambda: gate.shared, threading.Event(), release)
    other, other_inside = _try(lambda: gate.shared)
    assert other_inside.wait(WAIT)  # sharers overlap each other
    invoker, invoking = _try(lambda: gate.exclusive)
    assert not invoking.wait(0.3)
    release.set()
    assert invoking.wait(WAIT)
    for t in (holder, other, invoker):
        t.join(WAIT)


def test_a_waiting_invoke_is_not_starved_by_new_sharers() -> None:
    gate = CpuGate(True, wait_s=WAIT)
    release = threading.Event()
    holder = _hold(lambda: gate.shared, threading.Event(), release)
    invoker, invoking = _try(lambda: gate.exclusive)
    while not gate._wanted:  # noqa: SLF001 - the state the next assertion depends on
        threading.Event().wait(0.01)
    late, late_inside = _try(lambda: gate.shared)
    assert not late_inside.wait(0.3)  # queued behind the invoke
    release.set()
    assert invoking.wait(WAIT)
    assert late_inside.wait(WAIT)
    for t in (holder, invoker, late):
        t.join(WAIT)


def test_a_hung_invoke_delays_the_other_stages_but_never_stops_them() -> None:
    gate = CpuGate(True, wait_s=0.2)
    release = threading.Event()
    holder = _hold(lambda: gate.exclusive, threading.Event(), release)
    waiter, inside = _try(lambda: gate.shared)
    assert inside.wait(WAIT)  # after wait_s, though the invoke never ends
    release.set()
    holder.join(WAIT)
    waiter.join(WAIT)


def test_an_open_gate_never_blocks() -> None:
    gate = CpuGate(False)
    with gate.exclusive, gate.shared, gate.exclusive:
        pass


@pytest.mark.parametrize("source", ["images", "synthetic"])
def test_a_model_on_every_core_still_gives_right_consecutive_answers(
        source: str, testdata: Path, daemon_factory) -> None:
    src = ({"type": "images", "path": str(testdata / "images/cat.bmp"), "fps": 0}
           if source == "images" else {"type": "synthetic", "size": [640, 480], "fps": 0})
    d = daemon_factory({
        "source": src,
        "model": {"path": str(testdata / "models/mobilenet_v2_1.0_224_quant.tflite"),
                  "labels": str(testdata / "labels/imagenet_labels.txt"),
                  "threads": cpu_count()}})
    msgs = receive_json(subscribe(d.endpoint), 30, timeout=WAIT)
    seqs = [m["seq"] for m in msgs]
    assert seqs == list(range(seqs[0], seqs[0] + 30))
    frames = [m["frame_seq"] for m in msgs]
    assert frames == sorted(frames)
    if source == "images":
        assert {m["classes"][0]["index"] for m in msgs} == {286}  # Egyptian cat
    assert d.stop() == 0
    # a pulled source: the turns are a sequence, on one thread (tests/test_serial.py)
    assert "one thread reads, resizes, invokes and publishes in turn" in d.log()
