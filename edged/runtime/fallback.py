"""``delegate: auto`` while running: when the Edge TPU fails, run the CPU model; try the TPU
again later, waiting longer after each failure (and again after a long healthy stretch)."""

from __future__ import annotations

from dataclasses import dataclass


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
