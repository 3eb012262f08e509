"""``delegate: auto`` while running: when the Edge TPU fails, run the CPU model; try the TPU
again later, waiting longer after each failure (and again after a long healthy stretch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from edged.errors import EdgedError

if TYPE_CHECKING:
    from edged.config import Config, ModelConfig


class Swapper(Protocol):
    """The one component that swaps running parts (edged.supervisor.Supervisor). Defined
    here so this layer never imports the layers above it."""

    @property
    def config(self) -> Config: ...
    def delegate_name(self) -> str: ...
    def invoking_since(self) -> float | None: ...
    def health_reason(self) -> str | None: ...
    def set_health(self, state: str, reason: str | None) -> None: ...
    def swap_model(self, config: Config, require_edgetpu: bool = False,
                   degraded: str | None = None) -> None:
        """Run ``config``'s model in place of the current one. With ``degraded``, the
        status stays degraded for that reason; else it turns running at the new model's
        first inferred frame."""


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
    with backoff. The swaps themselves are the ``Swapper``'s, as for a reload.
    """

    def __init__(self, parts: Swapper) -> None:
        self.parts = parts
        self.retry = EdgeTpuRetry(initial_s=parts.config.model.edgetpu_retry_s)
        self.broken = False  # delegate: edgetpu and the TPU model failed

    @property
    def model(self) -> ModelConfig:
        return self.parts.config.model

    def wanted(self) -> bool:
        m = self.model
        return m.delegate == "edgetpu" or (m.delegate == "auto" and m.edgetpu_path is not None)

    def started_on_cpu(self, now: float) -> None:
        """auto found no usable TPU at start: maybe it gets plugged in later."""
        self.retry.on_cpu(now)

    def check(self, now: float) -> None:
        p = self.parts
        self.retry.tick(now)
        delegate = p.delegate_name()
        started = p.invoking_since()
        limit = self.model.edgetpu_timeout_ms / 1000
        if delegate == "edgetpu" and started and now - started > limit:
            p.set_health("degraded", f"inference: the Edge TPU did not answer within "
                                     f"{limit * 1000:.0f} ms")
        if not self.broken and self.retry.should_fall_back(delegate, p.health_reason()):
            self._failed(now)
        elif (delegate == "cpu" or self.broken) and self.retry.should_try(now):
            self._try_again(now)

    def _failed(self, now: float) -> None:
        p = self.parts
        reason = p.health_reason()
        self.retry.on_cpu(now)
        wait = (self.retry.next_try or now) - now
        if self.model.delegate == "auto":
            cpu = p.config.model_copy(update={"model": self.model.model_copy(
                update={"delegate": "cpu"})})
            p.swap_model(cpu, degraded="Edge TPU failed: running the CPU model")
            log.warning("the Edge TPU failed while running (%s): running %s on the CPU; "
                        "trying the TPU again in %.0f s", reason, p.config.model_path.name,
                        wait)
        else:
            self.broken = True
            log.error("the Edge TPU failed while running (%s); model.delegate is edgetpu, so "
                      "there is no CPU fallback; trying the TPU again in %.0f s", reason, wait)

    def _try_again(self, now: float) -> None:
        p = self.parts
        log.info("trying the Edge TPU again")
        try:
            # the status stays as it is until the TPU has inferred a frame: a TPU that
            # still fails never shows running in between
            p.swap_model(p.config, require_edgetpu=True)
        except EdgedError as exc:
            log.warning("Edge TPU retry failed: %s", exc)
            self.retry.on_cpu(now)
            return
        self.broken = False
        self.retry.on_tpu(now)
