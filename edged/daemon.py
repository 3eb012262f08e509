"""Wires config -> model, decoder, source, publisher -> pipeline; owns signals, reload,
status, systemd notification and the watchdog. The main thread only supervises."""

from __future__ import annotations

import itertools
import json
import logging
import queue
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edged.config import Config, load_config
from edged.errors import EX_SOFTWARE, ConfigError, EdgedError
from edged.events.stage import EventStage
from edged.framepub import FramePublisher, frames_endpoint
from edged.frames import monotonic_ns
from edged.labels import read_label_file
from edged.messages import STATUS_SCHEMA, PredictionBuilder
from edged.metadata import packed_labels
from edged.notify import Notifier
from edged.pipeline import Health, Pipeline, ResultSlot
from edged.plan import effective_resize
from edged.publisher import Publisher
from edged.runtime.fallback import EdgeTpuSupervisor
from edged.runtime.loader import load_model
from edged.runtime.model import ModelRunner
from edged.sources import build_source
from edged.sources.base import Source
from edged.stats import Stats
from edged.tasks import Decoder, DecoderContext, build_decoder

log = logging.getLogger("edged.daemon")


THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C where the kernel exposes it (a Pi does), else None."""
    try:
        return round(int(path.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


class StopRequested(Exception):
    """SIGTERM/SIGINT arrived while starting (e.g. during a slow model load)."""


@dataclass
class Parts:
    """What a config builds; a reload rebuilds only what its changes touch."""

    runner: ModelRunner
    decoder: Decoder
    source: Source
    labels: str | None = None  # where the labels came from: file:…, metadata:…, or None


def build_model_parts(config: Config) -> tuple[ModelRunner, Decoder, str | None]:
    runner = load_model(config)
    label_map, label_source = None, None
    if config.model.labels is not None:
        label_map = read_label_file(config.model.labels)
        label_source = f"file:{config.model.labels}"
    elif (packed := packed_labels(runner.file.path)) is not None:  # the file in use
        label_map, member = packed
        label_source = f"metadata:{runner.file.path.name}:{member}"
    ctx = DecoderContext(outputs=runner.outputs, model_path=str(config.model_path),
                         model_config=config.model, label_map=label_map,
                         label_source=label_source, masks=config.publish.masks,
                         input_size=runner.input_size)
    decoder = build_decoder(config.model.task, ctx)
    log.info("task %s, labels from %s", decoder.task, label_source or "nowhere (indices only)")
    return runner, decoder, label_source


class Daemon:
    def __init__(self, config: Config, config_path: Path | None = None,
                 notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.notify = notifier or Notifier()
        self.run_id = uuid.uuid4().hex
        self.started = time.monotonic()
        self.stats = Stats()
        self.health = Health()
        self._seq = 0
        self._frames = itertools.count()
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._stop_requested = False
        self._next_status = 0.0
        self.publisher: Publisher | None = None
        self.parts: Parts | None = None
        self.pipeline: Pipeline | None = None
        self._builder: PredictionBuilder | None = None
        self.frame_publisher: FramePublisher | None = None
        self.tpu = EdgeTpuSupervisor(self)
        self.events = EventStage(self.run_id)

    # --- lifecycle -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: Any) -> None:
            self._signals.put(signum)
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._stop_requested = True  # start() checks between its steps
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def start(self) -> None:
        """Load, bind, start threads, wait for the first published prediction, READY=1.

        A SIGTERM/SIGINT during start raises StopRequested at the next step boundary (never
        from inside a library call: the signal handler only sets a flag)."""
        self.notify.status(f"loading model {self.config.model_path.name}")
        self.notify.extend_timeout(60)
        runner, decoder, labels = build_model_parts(self.config)
        self._check_stop()
        self.parts = Parts(runner, decoder, build_source(self.config.source), labels)
        self.publisher = Publisher(self.config.publish)
        self.publisher.bind()
        self._check_stop()
        self._start_pipeline()
        if self.tpu.wanted() and runner.delegate_name == "cpu":
            self.tpu.started_on_cpu(time.monotonic())
        self._wait_first_prediction(timeout=30.0)
        self._check_stop()
        self.notify.ready(self._status_line())
        log.info("running: run_id %s", self.run_id)

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise StopRequested

    def _wait_first_prediction(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.stats.published == 0 and time.monotonic() < deadline:
            self._check_stop()
            if self.health.fatal or not (self.pipeline and self.pipeline.alive()):
                return
            if self.tpu.wanted():
                self.tpu.check(time.monotonic())  # a TPU failing from the first frame on
            time.sleep(0.01)
        if self.stats.published == 0:
            log.warning("no prediction within %.0fs of start: %s", timeout,
                        self.health.reason or "source delivers no frames")

    def _start_pipeline(self) -> None:
        assert self.parts is not None and self.publisher is not None
        runner, decoder, source = self.parts.runner, self.parts.decoder, self.parts.source
        self._builder = PredictionBuilder(self.run_id, decoder.task, source.describe(),
                                          runner.describe())
        self.health.set("running")
        cfg = self.config
        self.events.configure(cfg, decoder)
        self._start_frame_publisher(runner.input_size)
        self.pipeline = Pipeline(
            source, runner, decoder, self._emit, self._on_publish_idle, self.stats,
            self.health, fps=cfg.source.fps, backoff=cfg.source.backoff,
            resize=effective_resize(cfg.model, runner.plan)[0],
            interpolation=cfg.model.interpolation,
            frame_counter=self._frames, keep_images=cfg.publish.frames,
            pad_value=runner.plan.pad_value)
        self.pipeline.start()

    def _start_frame_publisher(self, size: tuple[int, int]) -> None:
        if self.frame_publisher is not None:
            self.frame_publisher.stop()
            self.frame_publisher = None
        pub = self.config.publish
        if pub.frames:
            endpoint = pub.frames_endpoint or frames_endpoint(pub.endpoint)
            policy = self.publisher.policy if self.publisher else None  # same keys, group
            self.frame_publisher = FramePublisher(endpoint, (size[1], size[0], 3),
                                                  pub.frames_quality, policy=policy)
            self.frame_publisher.start()

    def run(self) -> int:
        """Supervise until stopped; returns the process exit code."""
        interval = self.notify.watchdog_interval()
        last_ping, pinged_at = -1, time.monotonic()
        code = 0
        while True:
            signum = self._next_signal(timeout=0.2)
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("stopping on %s", signal.Signals(signum).name)
                break
            if signum == signal.SIGHUP:
                self.reload()
            if self.tpu.wanted():
                self.tpu.check(time.monotonic())
            if self.health.fatal:
                log.error("fatal: %s", self.health.fatal)
                self.notify.watchdog_trigger()
                code = EX_SOFTWARE
                break
            if self.pipeline is not None and not self.pipeline.alive():
                log.info("source finished; %d predictions published", self.stats.published)
                break
            if interval and time.monotonic() - pinged_at >= interval:
                if self.stats.published != last_ping:  # real progress since the last ping
                    self.notify.watchdog()
                    last_ping = self.stats.published
                pinged_at = time.monotonic()
        self.shutdown()
        return code

    def _next_signal(self, timeout: float) -> int | None:
        """The next signal to act on. A burst of SIGHUPs is one reload; a stop request in the
        burst wins."""
        try:
            signum = self._signals.get(timeout=timeout)
        except queue.Empty:
            return None
        while signum == signal.SIGHUP:
            try:
                following = self._signals.get_nowait()
            except queue.Empty:
                break
            signum = following if following != signal.SIGHUP else signum
        return signum

    def swap_model(self, config: Config, require_edgetpu: bool = False) -> None:
        """Load ``config``'s model and run it in place of the current one (same source,
        run_id and seq). With ``require_edgetpu``, EdgedError unless it landed on the TPU."""
        assert self.parts is not None
        runner, decoder, labels = build_model_parts(config)
        if require_edgetpu and runner.delegate_name != "edgetpu":
            raise EdgedError("the Edge TPU is still not usable")
        if self.pipeline is not None:
            self.pipeline.stop(timeout=5.0)
        self.parts = Parts(runner, decoder, self.parts.source, labels)
        self._start_pipeline()

    def shutdown(self) -> None:
        self.notify.stopping()
        self.health.set("stopping")
        if self.pipeline is not None:
            self.pipeline.stop(timeout=5.0)
        if self.publisher is not None:
            if self.publisher.socket is not None:
                self.publisher.send_status(self._status_payload())
            self.publisher.close()
        if self.frame_publisher is not None:
            self.frame_publisher.stop()

    # --- reload ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the config; apply it without restarting, or keep the old one on error."""
        self.notify.reloading()
        try:
            if self.config_path is None:
                raise ConfigError(["no config file to reload (started without --config)"])
            new = load_config(self.config_path)
            self._apply(new)
            if self.publisher is not None:
                self.publisher.reload_keys()  # revocation without a restart
            log.info("reloaded %s", self.config_path)
        except EdgedError as exc:
            log.error("reload failed, still running the previous config: %s", exc)
        self.notify.ready(self._status_line())

    def _apply(self, new: Config) -> None:
        old = self.config
        assert self.parts is not None and self.publisher is not None
        model_changed = new.model != old.model or new.publish.masks != old.publish.masks
        runner, decoder, labels = build_model_parts(new) if model_changed else \
            (self.parts.runner, self.parts.decoder, self.parts.labels)
        self.events.check(new, decoder)
        source = build_source(new.source) if new.source != old.source or model_changed \
            else self.parts.source
        if self.pipeline is not None:
            self.pipeline.stop(timeout=5.0)
        if new.publish != old.publish:
            self.publisher.close()
            self.publisher = Publisher(new.publish)
            self.publisher.bind()
        logging.getLogger("edged").setLevel(new.log.level)
        self.config = new
        self.parts = Parts(runner, decoder, source, labels)
        self._start_pipeline()

    # --- publishing (publish thread) -------------------------------------------------------

    def _emit(self, item: ResultSlot, fields: dict[str, Any], t0: float) -> None:
        assert self.publisher is not None and self._builder is not None
        side = [k for k in fields if k.startswith("_")]
        extra = {k: fields.pop(k) for k in side}
        seq = self._seq
        self._seq += 1
        self.events.observe(self.publisher, item.frame_seq, item.capture_ns, fields)
        publish_ns = monotonic_ns()
        post_ms = (time.perf_counter() - t0) * 1e3
        total_ms = (publish_ns - item.capture_ns) / 1e6
        payload = self._builder.build(
            seq, item.frame_seq, item.capture_ns, publish_ns, item.frame_size,
            (item.preprocess_ms, item.inference_ms, post_ms, total_ms), fields)
        topic = self.config.publish.topic.encode()
        if not self.publisher.send([topic, payload]):
            self.stats.dropped_send += 1
        if self.frame_publisher is not None and item.image is not None:
            self.frame_publisher.offer(item.image, {
                "run_id": self.run_id, "seq": seq, "frame_seq": item.frame_seq,
                "capture_ns": item.capture_ns, "width": item.image.shape[1],
                "height": item.image.shape[0]})
        mask = extra.get("_mask")
        if mask is not None and self.config.publish.masks:
            header = json.dumps({"run_id": self.run_id, "seq": seq}).encode()
            self.publisher.send([topic + b".mask", header, mask])
        self.stats.published += 1

    def _on_publish_idle(self) -> None:
        assert self.publisher is not None
        joined = self.publisher.service()
        self.events.on_idle(self.publisher)
        now = time.monotonic()
        if joined or now >= self._next_status or self.health.changed.is_set():
            self.health.changed.clear()
            self._next_status = now + self.config.publish.status_interval
            self.publisher.send_status(self._status_payload())
            self.notify.status(self._status_line())

    def status(self) -> dict[str, Any]:
        fps_in, fps_out = self.stats.rates()
        parts = self.parts
        return {
            "schema": STATUS_SCHEMA, "run_id": self.run_id, "state": self.health.state,
            "reason": self.health.reason, "uptime_s": round(time.monotonic() - self.started, 3),
            "publish_ns": monotonic_ns(), "fps_in": round(fps_in, 2),
            "fps_out": round(fps_out, 2), "frames": self.stats.counts(),
            "dropped": self.stats.drops(),
            "inference_ms": self.stats.inference_percentiles(),
            "subscribers": self.publisher.subscribers if self.publisher else 0,
            "source": parts.source.describe() if parts else "",
            "model": parts.runner.describe() if parts else {},
            "labels": parts.labels if parts else None,
            "temperature_c": cpu_temperature(),
            "events": self.events.counts(),
        }

    def _status_payload(self) -> bytes:
        return json.dumps(self.status(), separators=(",", ":")).encode()

    def _status_line(self) -> str:
        s = self.stats
        fps = s.published / max(1e-9, time.monotonic() - self.started)
        dropped = sum(s.drops().values())
        subs = self.publisher.subscribers if self.publisher else 0
        text = f"{self.health.state}: {fps:.1f} fps, {subs} subscribers, {dropped} dropped"
        return text + (f" ({self.health.reason})" if self.health.reason else "")
