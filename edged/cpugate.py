"""Keep the pipeline's own work off the cores while a CPU interpreter is using all of them.

When ``model.threads`` covers every usable core, XNNPACK splits each operator across all of
them and waits for the slowest part: a resize or a publish running at the same time on one
core stalls the whole invoke for as long as it runs, so overlap costs more than taking turns
(measured with ``edged bench --threads 2`` on a 2-core host: see benchmarks/notes.md). The
gate makes the turns: ``invoke`` holds it exclusively; the resize and the decode+send share
it with each other, never with an invoke. With a core to spare (the default ``threads`` is
cores - 1) or on an Edge TPU, the gate is open and the stages overlap as before.

Waits are bounded (``wait_s``): a hung invoke delays the other stages, it never stops them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from edged.runtime.model import cpu_count

WAIT_S = 1.0


def takes_every_core(delegate: str, threads: int, cores: int | None = None) -> bool:
    """True for a CPU interpreter whose threads cover every core this process may use."""
    return delegate == "cpu" and threads >= (cpu_count() if cores is None else cores)


class CpuGate:
    """A readers-writer turn-taking lock; ``enabled`` False makes both sides free.

    ``exclusive`` and ``shared`` are context managers made once: entering one per frame
    allocates nothing."""

    def __init__(self, enabled: bool, wait_s: float = WAIT_S) -> None:
        self.enabled = enabled
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._sharing = 0  # stages inside ``shared``
        self._exclusive = False  # an invoke is running
        self._wanted = False  # an invoke waits: new sharers wait for it (no starvation)
        self.exclusive = _Side(self._enter_exclusive, self._exit_exclusive, enabled)
        self.shared = _Side(self._enter_shared, self._exit_shared, enabled)

    def _enter_exclusive(self) -> None:
        with self._cond:
            self._wanted = True
            self._cond.wait_for(lambda: self._sharing == 0, self.wait_s)
            self._wanted = False
            self._exclusive = True

    def _exit_exclusive(self) -> None:
        with self._cond:
            self._exclusive = False
            self._cond.notify_all()

    def _enter_shared(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not (self._exclusive or self._wanted), self.wait_s)
            self._sharing += 1

    def _exit_shared(self) -> None:
        with self._cond:
            self._sharing -= 1
            if not self._sharing:
                self._cond.notify_all()


class _Side:
    def __init__(self, enter: Callable[[], None], leave: Callable[[], None],
                 enabled: bool) -> None:
        self._enter, self._leave, self._enabled = enter, leave, enabled

    def __enter__(self) -> None:
        if self._enabled:
            self._enter()

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._leave()
