"""The pipeline's shared health (status and watchdog) and how invoke failures change it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from edged.errors import EX_SOFTWARE
from edged.ratelog import RateLimitedLog

log = logging.getLogger("edged.pipeline")


@dataclass
class Health:
    """Shared pipeline state for status and the watchdog."""

    state: str = "starting"  # starting | running | degraded | stopping
    reason: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)  # finite source ended
    fatal: str | None = None
    exit_code: int = EX_SOFTWARE  # for ``fatal``: EX_CONFIG when a restart cannot help
    changed: threading.Event = field(default_factory=threading.Event)
    _pending: bool = False  # running at the next inferred frame

    def set(self, state: str, reason: str | None = None) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self.changed.set()

    def fail(self, message: str, exit_code: int = EX_SOFTWARE) -> None:
        if self.fatal is None:
            self.fatal, self.exit_code = message, exit_code
        self.changed.set()

    def clear_fatal(self) -> None:
        """The failure was handled (a reload rolled back): no longer a reason to exit."""
        self.fatal, self.exit_code = None, EX_SOFTWARE

    def await_inference(self, state: str, reason: str | None) -> None:
        """Set before a new pipeline starts: ``running`` comes with its first inferred
        frame, not before."""
        self.set(state, reason)
        self._pending = True

    def inferred(self) -> None:
        """A frame went through the current pipeline's model: ``running``, unless something
        keeps it degraded (e.g. the CPU fallback for a failed Edge TPU)."""
        if self._pending or self.state == "starting" or (
                self.state == "degraded" and (self.reason or "").startswith("source:")):
            self._pending = False
            self.set("running")


class InferenceErrors:
    """Turns a stream of invoke failures into few log lines and stable health: degraded at
    the first failure, running again only after ``quiet_s`` without one (so alternating
    good and bad frames do not flood the journal or the status topic)."""

    def __init__(self, health: Health, quiet_s: float = 5.0, log_every_s: float = 60.0) -> None:
        self.health, self.quiet_s = health, quiet_s
        self.last_error = 0.0
        self._log = RateLimitedLog(log, logging.ERROR, log_every_s, "failures")

    def failed(self, exc: Exception) -> None:
        self.last_error = time.monotonic()
        self._log("inference failed: %s", exc)
        self.health.set("degraded", f"inference: {exc}")

    def succeeded(self) -> None:
        if self.last_error and time.monotonic() - self.last_error >= self.quiet_s \
                and (self.health.reason or "").startswith("inference:"):
            log.info("inference works again")
            self.health.set("running")
            self.last_error = 0.0
