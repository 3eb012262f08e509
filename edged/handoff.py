"""Bounded, allocation-free handoff between pipeline threads.

A fixed set of slots circulates between a producer and a consumer. When the consumer falls
behind, the producer takes back the oldest pending slot instead of waiting: the newest data
wins, the overwritten one is counted as dropped, and memory never grows.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """The handoff was closed while waiting."""


class Handoff(Generic[T]):
    def __init__(self, slots: list[T], capacity: int = 1) -> None:
        if capacity < 1 or len(slots) < capacity + 2:
            raise ValueError("need at least capacity + 2 slots (one per side, plus pending)")
        self.capacity = capacity
        self._free: deque[T] = deque(slots)
        self._pending: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._watchers = 0  # threads in wait_taken(): only they need a wake-up per get()
        self.dropped = 0

    def acquire(self) -> T:
        """A slot for the producer to fill (never blocks)."""
        with self._cond:
            if self._free:
                return self._free.popleft()
            self.dropped += 1
            return self._pending.popleft()

    def put(self, slot: T) -> None:
        with self._cond:
            self._put(slot)

    def _put(self, slot: T) -> None:
        if len(self._pending) >= self.capacity:
            self._free.append(self._pending.popleft())
            self.dropped += 1
        self._pending.append(slot)
        self._cond.notify()

    def swap(self, filled: T) -> T:
        """put(filled) and acquire() under one lock: the producer's per-item round trip.

        A free slot always exists after the put (the consumer holds at most one, pending at
        most ``capacity``), so this never steals a pending one."""
        with self._cond:
            self._put(filled)
            return self._free.popleft()

    def get(self, timeout: float | None = None, release: T | None = None) -> T | None:
        """The oldest pending slot, or None on timeout; raises Closed once closed and empty.

        ``release``: a slot the consumer is done with, given back in the same lock round trip.
        """
        with self._cond:
            if release is not None:
                self._free.append(release)
            if not self._pending and not self._closed:
                self._cond.wait(timeout)
            if self._pending:
                slot = self._pending.popleft()
                if self._watchers:  # a producer waits for the slot to be taken
                    self._cond.notify_all()
                return slot
            if self._closed:
                raise Closed
            return None

    def release(self, slot: T) -> None:
        """Give a consumed slot back to the producer."""
        with self._cond:
            self._free.append(slot)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_taken(self, timeout: float) -> bool:
        """Wait until the consumer has taken every pending slot; False on timeout."""
        with self._cond:
            self._watchers += 1
            try:
                return self._cond.wait_for(lambda: not self._pending or self._closed, timeout)
            finally:
                self._watchers -= 1

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)
