"""One hardened XPUB socket: what every socket edged binds goes through (predictions, frames).

libzmq keeps every subscription a peer sends in a trie, whatever the application does with
it, and queues them for the application: a peer streaming unique subscriptions grows the
process without bound (3.3 GB in 20 s). So, per socket:

* ZMQ_MAXMSGSIZE: an inbound message (a subscription) longer than any topic drops the peer
  before its body is buffered;
* ZMQ_XPUB_MANUAL: a subscription takes effect only when it is a prefix of a topic edged
  publishes (the empty one, "everything", included); others match nothing;
* RCVHWM 2: libzmq moves a peer's messages into its queue only while this thread calls
  into the socket, a pipe-full at a time; with a tiny pipe a flood gets in only as fast as
  ``service()`` refuses it, and ``service()`` does a bounded amount of work per call, so
  a flooding peer never starves the publishing thread;
* a guard that watches each connection's inbound byte count (TCP_INFO) and drops a peer
  that sends more than any subscriber could need; its subscriptions are freed with it;
* ZMQ_HANDSHAKE_IVL: peers that never finish the handshake are dropped.

Connections are tracked by the file descriptors the socket monitor reports; dropping one is
``shutdown(2)`` on it (libzmq then closes it as if the peer had gone away). Each fd's inode
is remembered so a number reused by a later file is never touched.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import zmq

log = logging.getLogger("edged.publish")

MAX_INBOUND_MSG = 1024  # bytes; topics are at most 255 (config), plus the 1-byte kind
HANDSHAKE_IVL_MS = 5000
RCVHWM = 2
MAX_RECV_PER_SERVICE = 20_000
MAX_SERVICE_S = 0.005  # of inbound work per call: the publishing thread comes first
# Inbound bytes a peer may send: a token bucket. A subscriber sends a handshake (< 1 KiB
# with CURVE), a few subscriptions, maybe heartbeats; never this much.
PEER_BURST = 16 * 1024
PEER_BYTES_PER_S = 1024
PEER_TOTAL_WHILE_REFUSING = 64 * 1024  # while invalid subscriptions arrive: drop big talkers
CHECK_INTERVAL_S = 1.0
MIN_CHECK_INTERVAL_S = 0.005
_TCP_INFO_BYTES_RECEIVED = 128  # offset of tcpi_bytes_received in struct tcp_info
# invalid subscriptions (honest peers send none) after which ipc peers are dropped: libzmq
# keeps each in memory until its peer goes away. An ipc peer has no byte counter, but a
# flooder's unread bytes pile up in its socket's receive queue (RCVHWM 2 keeps libzmq from
# reading ahead), while an honest subscriber, silent after subscribing, has none waiting:
# the peers with more than IPC_PENDING_TALKER bytes queued are dropped, all only if none has.
# (Dropping a talker sooner makes it reconnect sooner: more of its flood gets read.)
# The count alone is not enough: libzmq hands a flood over a pipe-full (RCVHWM) at a time,
# so how many arrive depends on how often the publishing thread comes by (~500/s at 20 fps
# on a 2-core x86, fewer under load or on a Pi; 10 000 then takes longer than a flood lasts).
# So invalid subscriptions that keep arriving for IPC_FLOOD_S also count as a flood, but
# then only the talkers are dropped: never every ipc peer on time alone.
_IPC_FLOOD = 10_000
IPC_FLOOD_S = 2.0
_MORE = zmq.SNDMORE | zmq.NOBLOCK
IPC_PENDING_TALKER = 4096


@dataclass
class _Peer:
    inode: int
    tcp: bool
    since: float
    received: int = 0
    tokens: float = PEER_BURST


@dataclass
class GuardStats:
    refused_subscriptions: int = 0
    dropped_peers: int = 0
    last_warning: float = field(default=0.0)


class ConnectionGuard:
    """Accepted connections by fd; drops peers that send too much, or all on request."""

    def __init__(self) -> None:
        self._peers: dict[int, _Peer] = {}
        self._lock = threading.Lock()
        self.stats = GuardStats()

    def __len__(self) -> int:
        return len(self._peers)

    def accepted(self, fd: int) -> None:
        try:
            st = os.fstat(fd)
            with socket.socket(fileno=os.dup(fd)) as s:
                tcp = s.family in (socket.AF_INET, socket.AF_INET6)
        except OSError:
            return
        peer = _Peer(st.st_ino, tcp, time.monotonic())  # the budget counts every byte
        with self._lock:
            self._peers[fd] = peer

    def gone(self, fd: int) -> None:
        with self._lock:
            self._peers.pop(fd, None)

    def check(self, invalid: int, invalid_total: int = 0, flooding_s: float = 0.0) -> bool:
        """Drop tcp peers that overdrew their byte budget, or that sent more than any
        subscriber while ``invalid`` subscriptions arrived; ipc peers (no byte counter,
        trusted by file permissions) only when invalid subscriptions flood (``invalid_total``
        of them, or for ``flooding_s`` on end), and then only those with unread bytes queued;
        all of them only on the count and if none has. True when the ipc flood rule fired."""
        now = time.monotonic()
        with self._lock:
            peers = list(self._peers.items())
        many = invalid_total > _IPC_FLOOD
        flood = many or flooding_s >= IPC_FLOOD_S
        talkers = {fd for fd, p in peers if flood and not p.tcp
                   and _pending_bytes(fd) > IPC_PENDING_TALKER}
        fired = many or bool(talkers)
        for fd, peer in peers:
            if not _same_inode(fd, peer.inode):  # closed without a monitor event seen
                self.gone(fd)
                continue
            if not peer.tcp:
                if fd in talkers or (many and not talkers):
                    why = "kept sending" if talkers else "an ipc peer sent"
                    self._drop(fd, peer, f"{why} while {invalid_total} invalid "
                               "subscriptions arrived")
                continue
            total = _bytes_received(fd)
            peer.tokens = min(PEER_BURST, peer.tokens + PEER_BYTES_PER_S * (now - peer.since))
            peer.tokens -= total - peer.received
            peer.received, peer.since = total, now
            if peer.tokens < 0:
                self._drop(fd, peer, f"sent {total} bytes, more than a subscriber needs")
            elif invalid and total > PEER_TOTAL_WHILE_REFUSING:
                self._drop(fd, peer, f"sent {total} bytes while invalid subscriptions arrived")
        return fired

    def drop_all(self, why: str) -> int:
        with self._lock:
            peers = list(self._peers.items())
        return sum(self._drop(fd, peer, why) for fd, peer in peers)

    def _drop(self, fd: int, peer: _Peer, why: str) -> bool:
        try:
            if not _same_inode(fd, peer.inode):  # closed, and maybe the number reused
                self.gone(fd)
                return False
            with socket.socket(fileno=os.dup(fd)) as s:
                s.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            if exc.errno not in (errno.EBADF, errno.ENOTCONN, errno.ENOTSOCK):
                raise
            self.gone(fd)
            return False
        self.gone(fd)
        self.stats.dropped_peers += 1
        now = time.monotonic()
        if now - self.stats.last_warning > 10:
            self.stats.last_warning = now
            log.warning("dropped a subscriber connection: %s (%d dropped so far)", why,
                        self.stats.dropped_peers)
        return True


def _same_inode(fd: int, inode: int) -> bool:
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


def monitor_event(frames: list[bytes]) -> tuple[int, int]:
    """(event, value) of a libzmq monitor message: frame 0 is a native uint16 event id and
    an int32 value (the fd for ACCEPTED/DISCONNECTED). Parsed here rather than with
    zmq.utils.monitor, which imports zmq.asyncio and asyncio (~3 MB of RSS) for this."""
    if not frames or len(frames[0]) != 6:
        return -1, -1
    kind, value = struct.unpack("=Hi", frames[0])
    return int(kind), int(value)


def _pending_bytes(fd: int) -> int:
    """Bytes the peer sent that nobody has read yet (FIONREAD; 0 if it cannot be told)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            out = fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    value: int = struct.unpack("i", out)[0]
    return value


def _bytes_received(fd: int) -> int:
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except OSError:
        return 0
    if len(info) < _TCP_INFO_BYTES_RECEIVED + 8:
        return 0
    value: int = struct.unpack_from("=Q", info, _TCP_INFO_BYTES_RECEIVED)[0]
    return value


def _readable(sock: zmq.Socket) -> bool:
    events: int = sock.get(zmq.EVENTS)  # type: ignore[assignment]  # an int option
    return bool(events & zmq.POLLIN)


def topic_prefixes_ok(topics: tuple[bytes, ...]) -> Callable[[bytes], bool]:
    """A subscription is valid when it is a prefix of one of ``topics`` (b"" included)."""
    return lambda sub: any(t.startswith(sub) for t in topics)


class GuardedXPub:
    """An XPUB socket with the protections above. Owned by one thread, except
    ``drop_all`` (any thread)."""

    def __init__(self, sock: zmq.Socket, topics: tuple[bytes, ...]) -> None:
        self.socket = sock
        self.topics = topics
        self._valid = topic_prefixes_ok(topics)
        self.guard = ConnectionGuard()
        self._monitor = sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._last_check = time.monotonic()
        self._invalid_since_check = 0
        self._invalid_total = 0
        self._flood_since = 0.0  # when invalid subscriptions began to arrive without a pause
        self._subscribed: list[bytes] = []
        self._send = sock.send

    @staticmethod
    def configure(sock: zmq.Socket, hwm: int, linger_ms: int) -> None:
        """Options set before bind."""
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, RCVHWM)
        sock.setsockopt(zmq.LINGER, linger_ms)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND_MSG)
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
        sock.setsockopt(zmq.XPUB_MANUAL, 1)

    @property
    def subscribers(self) -> int:
        return len(self.guard)

    def service(self, watch: bytes | None = None) -> bool:
        """Apply valid (un)subscriptions, refuse the rest, watch connections. True when
        someone subscribed to a prefix of ``watch`` (e.g. the status topic)."""
        self._connections()
        if not _readable(self.socket):  # the usual case: nothing came in
            self._maybe_check(look=False)  # _connections() just looked
            return False
        joined = False
        deadline = time.monotonic() + MAX_SERVICE_S
        for _ in range(MAX_RECV_PER_SERVICE):
            try:
                msg = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            kind, topic = msg[:1], msg[1:]
            if kind not in (b"\x00", b"\x01") or not self._valid(topic):
                self._invalid_since_check += 1
                self.guard.stats.refused_subscriptions += 1
                if self._invalid_since_check % 256 == 0:
                    self._maybe_check()
                    if time.monotonic() > deadline:
                        break
                continue
            self.socket.setsockopt(zmq.SUBSCRIBE if kind == b"\x01" else zmq.UNSUBSCRIBE, topic)
            joined |= kind == b"\x01" and watch is not None and watch.startswith(topic)
            if kind == b"\x01" and len(self._subscribed) < 64:
                self._subscribed.append(topic)
        self._maybe_check()
        return joined

    def take_subscribed(self) -> list[bytes]:
        """Valid subscriptions applied since the last call (at most 64)."""
        out, self._subscribed = self._subscribed, []
        return out

    def _connections(self) -> None:
        # ZMQ_EVENTS is what zmq_poll(timeout 0) asks a ZeroMQ socket, without pyzmq's
        # Poller built around it on every call
        monitor = self._monitor
        while _readable(monitor):
            kind, value = monitor_event(monitor.recv_multipart())
            if kind == zmq.EVENT_ACCEPTED:
                self.guard.accepted(value)
            elif kind == zmq.EVENT_DISCONNECTED:
                self.guard.gone(value)

    def _maybe_check(self, look: bool = True) -> None:
        if look:
            self._connections()
        now = time.monotonic()
        since = now - self._last_check
        due = since >= CHECK_INTERVAL_S or (self._invalid_since_check
                                             and since >= MIN_CHECK_INTERVAL_S)
        if due:
            invalid = self._invalid_since_check
            self._invalid_total += invalid
            if not invalid:  # a check with none: a second passed without any
                self._flood_since = 0.0
            elif not self._flood_since:
                self._flood_since = now
            flooding_s = now - self._flood_since if self._flood_since else 0.0
            if self.guard.check(invalid, self._invalid_total, flooding_s):
                self._invalid_total, self._flood_since = 0, now if invalid else 0.0
            self._last_check, self._invalid_since_check = now, 0

    def send(self, frames: Sequence[bytes | memoryview]) -> bool:
        try:
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            return False

    def send_pair(self, topic: bytes, payload: bytes) -> bool:
        """``send([topic, payload])`` for the per-frame message: two sends, without
        send_multipart's per-part checks (both are bytes, copied by ZeroMQ either way)."""
        try:
            self._send(topic, _MORE)
            self._send(payload, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def close(self, linger_ms: int) -> None:
        self.socket.disable_monitor()
        self._monitor.close(linger=0)
        self.socket.close(linger=linger_ms)
