"""When the model takes every core and the source is pulled, one thread runs every stage.

In-process pipelines with the real tiny MobileNet (or the real model that fails on bright
frames), real sources, and the publish step recorded instead of sent: what is checked is
which thread does what, in which order, and what happens around a backoff and a hung invoke.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edged.config import parse_config
from edged.errors import SourceError
from edged.frames import Frame
from edged.health import Health
from edged.pipeline import Pipeline
from edged.runtime.model import cpu_count
from edged.slots import ResultSlot
from edged.sources import build_source
from edged.sources.base import BackoffConfig, Source
from edged.stats import Stats
from edged.supervisor import build_model_parts

WAIT_S = 60.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Recorder:
    """The publish step and the socket housekeeping, recorded with the thread that ran them."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, int, list[dict[str, Any]]]] = []
        self.serviced: list[str] = []

    def emit(self, item: ResultSlot, fields: dict[str, Any], t0: float) -> None:
        self.emitted.append((threading.current_thread().name, item.frame_seq,
                             fields["classes"]))

    def on_idle(self) -> None:
        self.serviced.append(threading.current_thread().name)


def make_pipeline(model: Path, source_cfg: dict[str, Any], rec: Recorder,
                  source: Source | None = None, threads: int | None = None,
                  backoff: BackoffConfig | None = None) -> Pipeline:
    cfg = parse_config(repr({"source": source_cfg,
                             "model": {"path": str(model), "threads": threads or cpu_count(),
                                       "top_k": 1}}), check_files=False)
    runner, decoder, _ = build_model_parts(cfg)
    return Pipeline(source or build_source(cfg.source), runner, decoder, rec.emit, rec.on_idle,
                    Stats(), Health(), fps=cfg.source.fps,
                    backoff=backoff or BackoffConfig(), resize="stretch",
                    interpolation="area", frame_counter=itertools.count())


@pytest.fixture
def running() -> Iterator[list[Pipeline]]:
    started: list[Pipeline] = []
    yield started
    for p in started:
        p.stop(timeout=5)


def test_one_thread_reads_invokes_and_publishes_in_order(testdata: Path,
                                                         running: list[Pipeline]) -> None:
    rec = Recorder()
    pipe = make_pipeline(testdata / "models/mobilenet_v1_0.25_128_quant.tflite",
                         {"type": "images", "path": str(testdata / "images/cat.bmp")}, rec)
    assert pipe.serial and not pipe.gate.enabled
    running.append(pipe)
    pipe.start()
    wait_until(lambda: len(rec.emitted) >= 30, "30 predictions")
    assert pipe.stop(timeout=10)
    assert [t.name for t in pipe._threads] == ["edged-pipeline", "edged-publish"]
    assert {name for name, _, _ in rec.emitted} == {"edged-pipeline"}
    seqs = [seq for _, seq, _ in rec.emitted]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # every frame, in order
    assert {c[0]["index"] for _, _, c in rec.emitted} == {286}  # Egyptian cat
    assert "edged-pipeline" in rec.serviced  # housekeeping between frames, same thread
    assert not pipe.alive()


def test_with_a_core_to_spare_the_three_threads_stay(testdata: Path,
                                                     running: list[Pipeline]) -> None:
    if cpu_count() < 2:
        pytest.skip("one core: every model takes every core")
    rec = Recorder()
    pipe = make_pipeline(testdata / "models/mobilenet_v1_0.25_128_quant.tflite",
                         {"type": "synthetic"}, rec, threads=cpu_count() - 1)
    assert not pipe.serial
    running.append(pipe)
    pipe.start()
    wait_until(lambda: len(rec.emitted) >= 5, "5 predictions")
    assert pipe.stop(timeout=10)
    assert {name for name, _, _ in rec.emitted} == {"edged-publish"}


class RefusingSource(Source):
    """A pulled source that never opens (a folder on a disk that is not mounted yet)."""

    live = False

    def __init__(self) -> None:
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        raise SourceError("not there yet")

    def read(self) -> Frame | None:
        raise AssertionError("never opened")

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "refusing"


def test_sockets_are_serviced_while_the_source_backs_off(testdata: Path,
                                                         running: list[Pipeline]) -> None:
    """The pipeline thread sleeps through a 30 s backoff; status and subscriptions must not."""
    rec = Recorder()
    src = RefusingSource()
    pipe = make_pipeline(testdata / "models/mobilenet_v1_0.25_128_quant.tflite",
                         {"type": "synthetic"}, rec, source=src,
                         backoff=BackoffConfig(initial_s=30, max_s=30))
    assert pipe.serial
    running.append(pipe)
    pipe.start()
    wait_until(lambda: src.opens == 1 and rec.serviced.count("edged-publish") >= 5,
               "housekeeping by the publish thread during the backoff")
    assert src.opens == 1 and not rec.emitted
    t0 = time.monotonic()
    assert pipe.stop(timeout=10)  # the backoff wait ends at once on stop
    assert time.monotonic() - t0 < 5


def test_invoke_failures_are_counted_and_the_good_frames_published(
        tmp_path: Path, running: list[Pipeline]) -> None:
    """tests/models/fails_on_bright.tflite: invoke raises on bright frames."""
    for name, value in (("a_bright.png", 250), ("b_dark.png", 5)):
        Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(tmp_path / name)
    rec = Recorder()
    model = Path(__file__).parent / "models/fails_on_bright.tflite"
    cfg = parse_config(repr({"source": {"type": "images", "path": str(tmp_path)},
                             "model": {"path": str(model), "threads": cpu_count()}}),
                       check_files=False)
    runner, decoder, _ = build_model_parts(cfg)
    emitted: list[int] = []
    pipe = Pipeline(build_source(cfg.source), runner, decoder,
                    lambda item, fields, t0: emitted.append(item.frame_seq), rec.on_idle,
                    Stats(), Health(), fps=0, backoff=BackoffConfig(), resize="stretch",
                    interpolation="area", frame_counter=itertools.count())
    assert pipe.serial
    running.append(pipe)
    pipe.start()
    wait_until(lambda: len(emitted) >= 10, "10 good frames")
    assert pipe.stop(timeout=10)
    assert all(seq % 2 == 1 for seq in emitted)  # only the dark ones
    assert pipe.stats.inference_errors >= 10
    assert pipe.health.state == "degraded"


def test_a_hung_invoke_is_abandoned_and_never_publishes_afterwards(
        testdata: Path, running: list[Pipeline]) -> None:
    """A CPU interpreter cannot be made to hang on demand: the real one is wrapped so that
    its fourth invoke blocks until released (what a wedged delegate does)."""
    rec = Recorder()
    pipe = make_pipeline(testdata / "models/mobilenet_v1_0.25_128_quant.tflite",
                         {"type": "synthetic"}, rec)
    release, hung = threading.Event(), threading.Event()
    real_invoke, calls = pipe.runner.invoke, itertools.count()

    def invoke() -> None:
        if next(calls) == 3:
            hung.set()
            release.wait(WAIT_S)
        real_invoke()

    pipe.runner.invoke = invoke  # type: ignore[method-assign]
    running.append(pipe)
    pipe.start()
    wait_until(hung.is_set, "the hung invoke")
    t0 = time.monotonic()
    assert not pipe.stop(timeout=1)  # abandoned, within its time
    assert time.monotonic() - t0 < 5
    assert pipe.hung()
    published = len(rec.emitted)
    assert published == 3
    release.set()  # the invoke comes back after all
    pipe._threads[0].join(WAIT_S)
    assert not pipe.alive()
    assert len(rec.emitted) == published  # its frame is not sent on a socket being closed


def test_a_finite_source_ends_the_pipeline_after_its_last_frame(
        testdata: Path, tmp_path: Path, running: list[Pipeline]) -> None:
    for i in range(3):
        Image.open(testdata / "images/cat.bmp").save(tmp_path / f"{i}.png")
    rec = Recorder()
    pipe = make_pipeline(testdata / "models/mobilenet_v1_0.25_128_quant.tflite",
                         {"type": "images", "path": str(tmp_path), "loop": False}, rec)
    assert pipe.serial
    running.append(pipe)
    pipe.start()
    wait_until(lambda: not pipe.alive(), "both threads to end with the source")
    assert pipe.health.finished.is_set()
    assert [seq for _, seq, _ in rec.emitted] == [0, 1, 2]  # every frame, the last one too


def test_published_frames_carry_the_model_input_of_their_prediction(
        testdata: Path, running: list[Pipeline]) -> None:
    """publish.frames (the preview): the image sent with a prediction is its own input."""
    cfg = parse_config(repr({"source": {"type": "synthetic", "pattern": "shapes"},
                             "model": {"path": str(testdata / "models/"
                                                   "mobilenet_v1_0.25_128_quant.tflite"),
                                       "threads": cpu_count()}}), check_files=False)
    runner, decoder, _ = build_model_parts(cfg)
    source = build_source(cfg.source)
    images: list[tuple[int, np.ndarray]] = []
    pipe = Pipeline(source, runner, decoder,
                    lambda item, fields, t0: images.append((item.frame_seq,
                                                            item.image.copy())),
                    lambda: None, Stats(), Health(), fps=0, backoff=BackoffConfig(),
                    resize="stretch", interpolation="area", frame_counter=itertools.count(),
                    keep_images=True)
    assert pipe.serial
    running.append(pipe)
    pipe.start()
    wait_until(lambda: len(images) >= 6, "6 predictions with their frames")
    assert pipe.stop(timeout=10)
    # the synthetic shapes cycle: frame n's input is the resize of the source's frame n
    reference = build_source(cfg.source)
    reference.open()
    resizer = pipe.resizers.get((640, 480))
    assert [seq for seq, _ in images[:6]] == list(range(6))
    for seq, image in images[:6]:
        frame = reference.read()
        assert frame is not None
        expected = np.zeros_like(image)
        resizer(frame.image, expected)
        assert np.array_equal(image, expected), seq
