"""Three threads joined by bounded handoffs: capture+resize -> invoke -> decode+publish.

The inference thread only copies a ready input in, invokes, and copies the outputs out; the
resize (capture thread) and the decode and send (publish thread) overlap the next invoke.
When the interpreter's threads take every core they take turns with it instead
(``edged.cpugate``), and with a pulled source (images, video file, synthetic) one thread
runs every stage in turn: no hand-off to wake up, no GIL to hand over; the publish thread
then only services the socket while that one cannot (a source backing off). No queue can
grow: the newest frame wins.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edged.cpugate import CpuGate, takes_every_core
from edged.errors import EX_CONFIG, EdgedError, SourceError
from edged.frames import Frame
from edged.handoff import Closed, Handoff
from edged.health import Health, InferenceErrors
from edged.plan import with_fov
from edged.preprocess import ResizerCache, Transform
from edged.runtime.model import ModelRunner
from edged.slots import FrameSlot, ResultSlot
from edged.sources.base import BackoffConfig, Source
from edged.stats import Stats
from edged.tasks import Decoder
from edged.threadname import set_os_thread_name

log = logging.getLogger("edged.pipeline")

IDENTITY = Transform()
UINT8 = np.dtype(np.uint8)  # compared per frame: a dtype, not a type numpy converts each time
# publish thread: socket housekeeping (new subscriptions, status, the flood guard) at most
# this often while busy. 50 ms was tried (a round costs ~40-80 us on a cold cache: every
# frame at 30 fps) and reverted: it reads a subscription flood 2.5x slower, and in one CI
# rehearsal the ipc flood guard never fired within the test's 20 s (tests/adversarial).
SERVICE_EVERY_S = 0.02
# a pulled source's next frame is read at once when it would wait less than this for the
# invoke under way: a sleep that short overshoots by its own wake-up (50 us of timer slack
# plus the scheduler's latency), so the frame came late and inference waited for it
SHORTEST_LEAD_S = 0.001
# one thread runs every stage: the publish thread services the socket when that one has
# not for this long (it does every SERVICE_EVERY_S while frames flow)
KEEPER_AFTER_S = 0.1


# (fields, side frames) -> None; the publish step the daemon provides
Emit = Callable[[ResultSlot, dict[str, Any], float], None]


class Pipeline:
    def __init__(self, source: Source, runner: ModelRunner, decoder: Decoder, emit: Emit,
                 on_idle: Callable[[], None], stats: Stats, health: Health, *,
                 fps: float, backoff: BackoffConfig, resize: str, interpolation: str,
                 frame_counter: itertools.count, keep_images: bool = False,
                 pad_value: int = 0, source_open: bool = False) -> None:
        self.source, self.runner, self.decoder = source, runner, decoder
        self.emit, self.on_idle = emit, on_idle
        self.stats, self.health = stats, health
        self.fps, self.backoff = fps, backoff
        self._frame_seq = frame_counter
        w, h = runner.input_size
        self.resizers = ResizerCache((w, h), resize, interpolation,  # type: ignore[arg-type]
                                     pad_value)
        self.frames: Handoff[FrameSlot] = Handoff(
            [FrameSlot(np.zeros((h, w, 3), np.uint8)) for _ in range(3)], capacity=1)
        self.results: Handoff[ResultSlot] = Handoff(
            [ResultSlot(runner.new_output_buffers(),
                        np.zeros((h, w, 3), np.uint8) if keep_images else None)
             for _ in range(4)], capacity=2)
        self._stop = threading.Event()
        self._capture_slot: FrameSlot | None = None  # held by the capture thread
        self._source_open = source_open  # opened ahead (a reload checks a new source first)
        self.invoking_since: float | None = None  # monotonic start of the invoke under way
        self._invoke_s = 0.0  # moving averages that pace pulled sources
        self._preprocess_s = 0.0
        every_core = takes_every_core(runner.delegate_name, runner.threads)
        self.serial = every_core and not source.live  # a camera is read while invoke runs
        self.gate = CpuGate(every_core and not self.serial)
        self._invoked_seq = self._handed_seq = -1  # pulled sources: is inference idle?
        # serial: the socket is used by two threads, never at once; an abandoned (hung)
        # thread that comes back never touches it again
        self._socket_lock = threading.Lock()
        self._abandoned = False
        self._serviced = 0.0  # monotonic time of the last socket housekeeping
        self._errors = InferenceErrors(health)
        self._serial_out = self.results.acquire() if self.serial else None
        loops = ((("pipeline", self._capture_loop), ("publish", self._keeper_loop))
                 if self.serial else
                 (("capture", self._capture_loop), ("inference", self._inference_loop),
                  ("publish", self._publish_loop)))
        self._threads = [threading.Thread(target=self._guard(f), name=f"edged-{n}", daemon=True)
                         for n, f in loops]

    def start(self) -> None:
        if self.serial:
            log.info("model.threads %d covers every core: one thread reads, resizes, invokes "
                     "and publishes in turn", self.runner.threads)
        elif self.gate.enabled:
            log.info("model.threads %d covers every core: resize and publish take turns with "
                     "invoke instead of overlapping it", self.runner.threads)
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop capture, let the frame in flight finish and be published, join threads.

        True when every thread ended. An invoke that hangs past ``timeout`` is abandoned
        (its thread is a daemon thread): the publish thread is told to finish without it,
        so it never outlives this call while the caller closes the sockets it uses."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self.serial:
            return self._stop_serial(deadline)
        capture, inference, publish = self._threads
        capture.join(max(0.0, deadline - time.monotonic() - 1.0))  # a camera read may block
        if capture.is_alive():
            log.error("the source did not return a frame when asked to stop; abandoning it")
            self.frames.close()  # inference finishes what it has and ends
        inference.join(max(0.0, deadline - time.monotonic()))
        if inference.is_alive():
            log.error("inference did not finish within %.1fs (a hung invoke?); abandoning it",
                      timeout)
            self.results.close()  # the publish thread drains what is there and ends
        publish.join(max(1.0, deadline - time.monotonic()))
        if not capture.is_alive():
            self.source.close()  # never under a capture thread still inside read()
        return not self.alive()

    def _stop_serial(self, deadline: float) -> bool:
        worker, keeper = self._threads
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            log.error("the pipeline thread did not finish within its time (a hung invoke or "
                      "source read?); abandoning it")
            with self._socket_lock:
                self._abandoned = True  # it never sends again, even if it comes back
        keeper.join(max(1.0, deadline - time.monotonic()))
        if not worker.is_alive():
            self.source.close()
        return not self.alive()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def hung(self) -> bool:
        """Some thread did not end when asked (a hung invoke or source)."""
        return self._stop.is_set() and self.alive()

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            set_os_thread_name(threading.current_thread().name)
            try:
                loop()
            except Exception as exc:  # a bug, not a fault we model: stop, loudly
                log.exception("pipeline thread failed")
                self.health.fail(f"{threading.current_thread().name}: {exc!r}")
        return run

    # --- capture ---------------------------------------------------------------------------

    def _source_failed(self, exc: SourceError, failures: int) -> None:
        """Count a transient failure; log and go degraded once per outage, not per retry."""
        if not exc.transient:
            raise exc
        self.stats.source_errors += 1
        if failures == 1:
            log.warning("source %s failed: %s; retrying with backoff (%.1fs .. %.0fs)",
                        self.source.describe(), exc, self.backoff.initial_s, self.backoff.max_s)
        self.health.set("degraded", f"source: {exc}")

    def _read(self) -> Frame | None:
        # a source that can write a model-sized frame straight into the slot does (no copy)
        frame = self.source.read_into(self._held().image)
        if frame is not None:
            img = frame.image
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != UINT8 or img.size == 0:
                self.stats.bad_frames += 1
                raise SourceError(f"bad frame: shape {img.shape} dtype {img.dtype}, "
                                  "expected HxWx3 uint8")
        return frame

    def _capture_loop(self) -> None:
        """Open, read, resize, hand over; reopen with exponential backoff on failures.

        ``failures`` counts consecutive failures (of open or read) since the last good frame,
        so a source that opens fine but fails every read still backs off.
        """
        period = 1.0 / self.fps if self.fps else 0.0
        next_t = time.monotonic()
        failures, delay, opened = 0, self.backoff.initial_s, self._source_open
        try:
            while not self._stop.is_set():
                if not self.source.live and not self._pace_pulled_source():
                    continue
                try:
                    if not opened:
                        self.source.target_size = self.runner.input_size
                        self.source.resize_mode = self.resizers.mode
                        self.source.open()
                        opened = True
                    frame = self._read()
                except SourceError as exc:
                    failures += 1
                    self._source_failed(exc, failures)
                    if opened:
                        self.source.close()
                        opened = False
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.backoff.max_s)
                    continue
                if frame is None:
                    log.info("source %s ended", self.source.describe())
                    self.health.finished.set()
                    return
                if failures:
                    log.info("source %s delivers frames again after %d failed attempts",
                             self.source.describe(), failures)
                    failures, delay = 0, self.backoff.initial_s
                self._preprocess(frame)
                # not kept alive while the next one is read: two full frames at 16 MP are 96 MB
                del frame
                if period:
                    next_t = max(next_t + period, time.monotonic() - period)
                    self._stop.wait(max(0.0, next_t - time.monotonic()))
        except SourceError as exc:  # permanent: restarting edged would not fix it either
            self.health.fail(f"source {self.source.describe()}: {exc}", EX_CONFIG)
        finally:
            self.frames.close()

    def _held(self) -> FrameSlot:
        """The frame slot the capture thread fills next (it always holds one)."""
        if self._capture_slot is None:
            self._capture_slot = self.frames.acquire()
        return self._capture_slot

    def _pace_pulled_source(self) -> bool:
        """For a pulled source: make the next frame just in time for the next invoke.

        Waits until inference has taken the previous frame, then until it is about to finish
        (its typical invoke time minus our typical preprocess time), so the frame is neither
        stale when inference takes it nor late. False if inference has not taken it yet.
        When the model takes every core this thread runs every stage (``serial``): the last
        frame is already invoked and published.
        """
        if self.serial:
            return True
        if not self.frames.wait_taken(0.5):
            return False
        if self._invoked_seq >= self._handed_seq:  # inference idles, waiting for a frame
            return True
        lead = 0.8 * self._invoke_s - self._preprocess_s  # 20% slack: never late
        if lead > 0.05:
            self._stop.wait(lead)
        elif lead > SHORTEST_LEAD_S:
            time.sleep(lead)  # short: a plain sleep, not an Event's lock round trips
        return True

    def _preprocess(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        slot = self._held()
        size = frame.size
        if frame.image is slot.image:  # written in place by the source, at the model's size
            slot.transform = IDENTITY
        else:
            resizer = self.resizers.get(size)
            if self.gate.enabled:  # a live source's resize takes turns with invoke
                with self.gate.shared:
                    resizer(frame.image, slot.image)
            else:
                resizer(frame.image, slot.image)
            slot.transform = resizer.transform
        slot.frame_seq = self._handed_seq = next(self._frame_seq)
        slot.capture_ns = frame.capture_ns
        slot.frame_size = size
        fov = self.source.fov_transform()  # the ISP's crop, when the camera did the resize
        if fov is not None:
            slot.transform = with_fov(slot.transform, fov)
        elapsed = time.perf_counter() - t0
        slot.preprocess_ms = elapsed * 1e3
        self._preprocess_s += (elapsed - self._preprocess_s) * 0.1  # moving average
        self.stats.captured += 1
        if self.serial:
            self._run_inline(slot)  # the slot is filled again next time
            return
        self._capture_slot = self.frames.swap(slot)  # hand over + next slot: one lock
        self.stats.dropped_capture = self.frames.dropped

    # --- inference -------------------------------------------------------------------------

    def _inference_loop(self) -> None:
        """Per frame: one lock round trip per handoff (get-and-release, put-and-acquire)."""
        frames, results = self.frames, self.results
        slot: FrameSlot | None = None
        out = results.acquire()
        try:
            while True:
                try:
                    slot = frames.get(timeout=0.5, release=slot)
                except Closed:
                    return
                if slot is not None and self._infer(slot, out):
                    out = results.swap(out)
                    self.stats.dropped_backlog = results.dropped
                # after a failed invoke ``out`` is reused for the next frame
        finally:
            results.close()

    def _infer(self, slot: FrameSlot, out: ResultSlot) -> bool:
        """Input in, invoke, outputs into ``out``; False (counted, logged) when invoke failed."""
        runner = self.runner
        t0 = time.perf_counter()
        runner.set_input(slot.image)
        out.frame_seq, out.capture_ns = slot.frame_seq, slot.capture_ns
        out.frame_size, out.transform = slot.frame_size, slot.transform
        out.preprocess_ms = slot.preprocess_ms
        if out.image is not None:
            np.copyto(out.image, slot.image)
        t1 = time.perf_counter()
        self.invoking_since = time.monotonic()
        try:
            with self.gate.exclusive:
                runner.invoke()
        except (RuntimeError, ValueError, EdgedError) as exc:
            self.invoking_since = None
            self._invoked_seq = slot.frame_seq  # one int, written by this thread only
            self.stats.inference_errors += 1
            self._errors.failed(exc)
            return False
        t2 = time.perf_counter()
        self.invoking_since = None
        self._invoked_seq = slot.frame_seq
        self._errors.succeeded()
        self.health.inferred()
        runner.copy_outputs(out.outputs)
        out.preprocess_ms += (t1 - t0) * 1e3
        out.inference_ms = (t2 - t1) * 1e3
        self._invoke_s += ((t2 - t1) - self._invoke_s) * 0.1  # moving average
        self.stats.inferred += 1
        self.stats.record_inference(out.inference_ms)
        return True

    def _run_inline(self, slot: FrameSlot) -> None:
        """Serial: invoke and publish this frame here, and service the sockets when due."""
        out = self._serial_out
        assert out is not None
        if self._infer(slot, out):
            t0 = time.perf_counter()
            fields = self.decoder.decode(out.outputs, out.transform)
            with self._socket_lock:
                if not self._abandoned:
                    self.emit(out, fields, t0)
        if time.monotonic() - self._serviced >= SERVICE_EVERY_S:
            self._service()

    def _service(self) -> None:
        with self._socket_lock:
            if not self._abandoned:
                self.on_idle()
            self._serviced = time.monotonic()

    # --- publish ---------------------------------------------------------------------------

    def _publish_loop(self) -> None:
        """Decode, serialize, send. Socket housekeeping (subscriptions, status) runs when idle
        and at least every SERVICE_EVERY_S while busy, not once per frame."""
        results, decoder = self.results, self.decoder
        item: ResultSlot | None = None
        serviced = 0.0
        while True:
            now = time.monotonic()
            if item is None or now - serviced >= SERVICE_EVERY_S:
                self.on_idle()
                serviced = now
            try:
                item = results.get(timeout=0.05, release=item)
            except Closed:
                return
            if item is None:
                continue
            t0 = time.perf_counter()
            with self.gate.shared:
                self.emit(item, decoder.decode(item.outputs, item.transform), t0)

    def _keeper_loop(self) -> None:
        """Serial: socket housekeeping while the pipeline thread does not get to it (a
        source backing off, a slow read, a long invoke); ends with that thread."""
        worker = self._threads[0]
        while worker.is_alive() and not self._abandoned:
            if time.monotonic() - self._serviced >= KEEPER_AFTER_S and not self._stop.is_set():
                self._service()
            worker.join(0.05)
