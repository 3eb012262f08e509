"""``delegate: auto`` while running: when the Edge TPU fails, run the CPU model; try the TPU
again later, waiting longer after each failure (and again after a long healthy stretch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edged.errors import EdgedError

if TYPE_CHECKING:
    from edged.daemon import Daemon

log = logging.getLogger("edged.model")


@dataclass
class EdgeTpuRetry:
    initial_s: float = 30.0
    max_s: float = 600.0
    next_try: float | None = None  # monotonic time of the next TPU attempt, if on the CPU
    delay: float = 0.0
    tpu_since: float | None = None

    def __post_init__(self) -> None:
        self.delay = self.initial_s

    def should_fall_back(self, delegate: str, reason: str | None) -> bool:
        """The TPU model is running and inference has started failing."""
        return delegate == "edgetpu" and (reason or "").startswith("inference:")

    def on_cpu(self, now: float) -> None:
        """We are (now) on the CPU model: schedule the next TPU attempt, back off further."""
        self.next_try = now + self.delay
        self.delay = min(self.delay * 2, self.max_s)
        self.tpu_since = None

    def should_try(self, now: float) -> bool:
        return self.next_try is not None and now >= self.next_try

    def on_tpu(self, now: float) -> None:
        self.next_try = None
        self.tpu_since = now

    def tick(self, now: float) -> None:
        """After ``max_s`` of healthy TPU running, forget earlier failures."""
        if self.tpu_since is not None and now - self.tpu_since >= self.max_s:
            self.delay = self.initial_s


class EdgeTpuSupervisor:
    """Watches the running Edge TPU model (from the daemon's main thread).

    A TPU whose inference fails, or takes longer than ``model.edgetpu_timeout_ms``, is
    replaced: with ``delegate: auto`` by the CPU model (``model.path``), with ``delegate:
    edgetpu`` by nothing (the status says degraded). Either way the TPU is tried again later,
    with backoff.
    """

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.retry = EdgeTpuRetry(initial_s=daemon.config.model.edgetpu_retry_s)
        self.broken = False  # delegate: edgetpu and the TPU model failed

    def wanted(self) -> bool:
        m = self.d.config.model
        return m.delegate == "edgetpu" or (m.delegate == "auto" and m.edgetpu_path is not None)

    def started_on_cpu(self, now: float) -> None:
        """auto found no usable TPU at start: maybe it gets plugged in later."""
        self.retry.on_cpu(now)

    def check(self, now: float) -> None:
        d = self.d
        assert d.parts is not None
        self.retry.tick(now)
        delegate = d.parts.runner.delegate_name
        started = d.pipeline.invoking_since if d.pipeline else None
        limit = d.config.model.edgetpu_timeout_ms / 1000
        if delegate == "edgetpu" and started and now - started > limit:
            d.health.set("degraded", f"inference: the Edge TPU did not answer within "
                                     f"{limit * 1000:.0f} ms")
        if not self.broken and self.retry.should_fall_back(delegate, d.health.reason):
            self._failed(now)
        elif (delegate == "cpu" or self.broken) and self.retry.should_try(now):
            self._try_again(now)

    def _failed(self, now: float) -> None:
        d = self.d
        reason = d.health.reason
        self.retry.on_cpu(now)
        wait = (self.retry.next_try or now) - now
        if d.config.model.delegate == "auto":
            cpu = d.config.model_copy(update={"model": d.config.model.model_copy(
                update={"delegate": "cpu"})})
            d.swap_model(cpu)
            log.warning("the Edge TPU failed while running (%s): running %s on the CPU; "
                        "trying the TPU again in %.0f s", reason, d.config.model_path.name, wait)
            d.health.set("degraded", "Edge TPU failed: running the CPU model")
        else:
            self.broken = True
            log.error("the Edge TPU failed while running (%s); model.delegate is edgetpu, so "
                      "there is no CPU fallback; trying the TPU again in %.0f s", reason, wait)

    def _try_again(self, now: float) -> None:
        d = self.d
        log.info("trying the Edge TPU again")
        try:
            d.swap_model(d.config, require_edgetpu=True)
        except EdgedError as exc:
            log.warning("Edge TPU retry failed: %s", exc)
            self.retry.on_cpu(now)
            return
        self.broken = False
        self.retry.on_tpu(now)
