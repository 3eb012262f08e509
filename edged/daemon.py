"""The process around the supervisor: signals, reload requests, systemd notification, the
watchdog and the exit code. The main thread only supervises; the parts and their swaps are
edged.supervisor's, the status edged.status's, publishing edged.emitter's.

Exit codes: 0 only when asked to stop (SIGTERM/SIGINT) or when a finite source finished;
a permanent source error is 78 (EX_CONFIG, which the unit does not restart); any other death
is non-zero (70), so ``Restart=on-failure`` brings the service back."""

from __future__ import annotations

import logging
import queue
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from edged.config import Config, load_config
from edged.emitter import Emitter
from edged.errors import EX_OK, EX_SOFTWARE, ConfigError, EdgedError
from edged.health import Health
from edged.notify import Notifier
from edged.runtime.fallback import EdgeTpuSupervisor
from edged.stats import Stats
from edged.status import StatusReport, cpu_temperature
from edged.supervisor import Supervisor, build_model_parts

__all__ = ["Daemon", "PipelineFailed", "StopRequested", "build_model_parts",
           "cpu_temperature"]

log = logging.getLogger("edged.daemon")


class StopRequested(Exception):
    """SIGTERM/SIGINT arrived while starting (e.g. during a slow model load)."""


class PipelineFailed(EdgedError):
    """The pipeline died before its first prediction (e.g. a permanent source error)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Daemon:
    def __init__(self, config: Config, config_path: Path | None = None,
                 notifier: Notifier | None = None) -> None:
        self.config_path = config_path
        self.notify = notifier or Notifier()
        self.run_id = uuid.uuid4().hex
        self.stats = Stats()
        self.health = Health()
        self._signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._stop_requested = False
        self.report = StatusReport(self.run_id, self.stats, self.health,
                                   lambda: self.parts)
        self.emitter = Emitter(self.run_id, self.stats, self.health, self.report.payload,
                               self.report.line, self.notify.status)
        self.parts = Supervisor(config, self.run_id, self.stats, self.health, self.emitter)
        self.tpu = EdgeTpuSupervisor(self.parts)
        self.hung = False  # a pipeline thread did not end: the caller must os._exit
        # A camera is opened only after the swap (it cannot be open twice): until the new
        # one delivers, the config it replaced is kept to go back to if it fails for good.
        self._rollback: Config | None = None

    @property
    def config(self) -> Config:
        return self.parts.config

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

        READY=1 comes only with a published prediction: never after a timeout (systemd's
        TimeoutStartSec is the limit) nor after a fatal error (PipelineFailed). A
        SIGTERM/SIGINT during start raises StopRequested at the next step boundary (never
        from inside a library call: the signal handler only sets a flag)."""
        self.notify.status(f"loading model {self.config.model_path.name}")
        self.notify.extend_timeout(60)
        self.parts.load()
        self._check_stop()
        self.parts.bind()
        self._check_stop()
        self.parts.start()
        if self.tpu.wanted() and self.parts.delegate_name() == "cpu":
            self.tpu.started_on_cpu(time.monotonic())
        if self._wait_first_prediction():
            self.notify.ready(self.report.line())
            log.info("running: run_id %s", self.run_id)

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise StopRequested

    def _wait_first_prediction(self) -> bool:
        """True once a prediction was published; False when a finite source ended first."""
        while self.stats.published == 0:
            self._check_stop()
            if self.health.fatal:
                raise PipelineFailed(self.health.fatal, self.health.exit_code)
            pipeline = self.parts.pipeline
            if pipeline is None or not pipeline.alive():
                if self.health.finished.is_set():
                    return False
                raise PipelineFailed("the pipeline stopped before its first prediction",
                                     EX_SOFTWARE)
            if self.tpu.wanted():
                self.tpu.check(time.monotonic())  # a TPU failing from the first frame on
            time.sleep(0.01)
        return True

    def run(self) -> int:
        """Supervise until stopped; returns the process exit code."""
        interval = self.notify.watchdog_interval()
        last_ping, pinged_at = -1, time.monotonic()
        code = EX_OK
        while True:
            signum = self._next_signal(timeout=0.2)
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("stopping on %s", signal.Signals(signum).name)
                break
            if signum == signal.SIGHUP:
                self.reload()
            self.notify.retry_ready()
            if self.tpu.wanted():
                self.tpu.check(time.monotonic())
            if self._rollback is not None and self.health.state == "running":
                self._rollback = None  # the new source delivers
            if self.health.fatal and self._rollback is not None:
                self._roll_back()
            if self.health.fatal:
                log.error("fatal: %s", self.health.fatal)
                self.notify.watchdog_trigger()
                code = self.health.exit_code
                break
            pipeline = self.parts.pipeline
            if pipeline is not None and not pipeline.alive():
                if self.health.finished.is_set():
                    log.info("source finished; %d predictions published",
                             self.stats.published)
                else:
                    log.error("the pipeline stopped unexpectedly")
                    code = EX_SOFTWARE
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

    def shutdown(self) -> None:
        """Threads joined before their sockets close. A thread that will not end (a hung
        invoke) leaves ``hung`` set and its sockets open: the caller ends the process."""
        self.notify.stopping()
        self.health.set("stopping")
        self.hung = not self.parts.shutdown()

    # --- reload ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the config and apply it as a transaction, or keep the old one on error."""
        self.notify.reloading()
        try:
            if self.config_path is None:
                raise ConfigError(["no config file to reload (started without --config)"])
            new = load_config(self.config_path)
            old = self.parts.config
            if self.parts.reload(new):
                source = self.parts.parts.source if self.parts.parts else None
                if new.source != old.source and source is not None and source.live:
                    self._rollback = old
                self.tpu.retry.initial_s = new.model.edgetpu_retry_s
                log.info("reloaded %s", self.config_path)
            else:
                log.info("reloaded %s: nothing changed", self.config_path)
            if self.parts.sockets is not None:  # revocation without a restart, changed or not
                self.parts.sockets.publisher.reload_keys()
        except (EdgedError, RecursionError, MemoryError) as exc:
            # RecursionError/MemoryError: a hostile YAML must not kill the running daemon
            if self.health.fatal:  # the old sockets could not be bound again either
                log.error("reload failed and the previous config could not be restored: %s",
                          exc)
            else:
                log.error("reload failed, still running the previous config: %s", exc)
        self.notify.ready(self.report.line())

    def _roll_back(self) -> None:
        """The source a reload brought in failed for good before its first frame: the
        previous config again, as if the reload had been refused."""
        old, self._rollback = self._rollback, None
        assert old is not None
        failure = self.health.fatal
        log.error("reload: the new source failed (%s); going back to the previous config",
                  failure)
        self.health.clear_fatal()
        try:
            self.parts.reload(old)
        except EdgedError as exc:
            self.health.fail(f"{failure}; the previous config could not be restored: {exc}")
