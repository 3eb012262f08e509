"""Events to the broker in order, none lost while it is away.

paho keeps unacknowledged QoS 1 messages across a reconnect and resends them, but a message
published right after the reconnect overtakes them (its in-flight count starts again at
zero). So the bridge hands paho at most ``window`` events at a time, only while connected,
and on a new connection waits until paho's resent ones are acknowledged before handing more.
Held in memory, bounded: when full, the newest event is dropped and counted."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

# publish(payload) -> message id, or None when paho did not take it
Publish = Callable[[bytes], "int | None"]


class Outbox:
    def __init__(self, capacity: int, window: int = 20) -> None:
        self.capacity = capacity
        self.window = window
        self.pending: deque[bytes] = deque()
        self.inflight: dict[int, bytes] = {}
        self.generation = 0  # the connection the in-flight messages were handed over on
        self.dropped = 0
        self.delivered = 0

    def put(self, payload: bytes) -> bool:
        if len(self.pending) + len(self.inflight) >= self.capacity:
            self.dropped += 1
            return False
        self.pending.append(payload)
        return True

    def acknowledged(self, mid: int) -> None:
        if self.inflight.pop(mid, None) is not None:
            self.delivered += 1

    def pump(self, publish: Publish, connected: bool, generation: int) -> None:
        """Hand over what may go now. ``generation`` counts the link's connections."""
        if not connected:
            return
        if generation != self.generation:
            if self.inflight:
                return  # paho is resending these first; wait for their acks
            self.generation = generation
        while self.pending and len(self.inflight) < self.window:
            mid = publish(self.pending[0])
            if mid is None:
                return
            self.inflight[mid] = self.pending.popleft()
