"""The ZeroMQ side: one XPUB socket, owned by the publish thread.

XPUB rather than PUB so the daemon sees subscriptions: a late joiner on the status topic gets
the last status at once (last-value cache). A socket monitor counts connected subscribers.
Sends never block: each subscriber has a send high-water mark, past which ZeroMQ drops for
that subscriber only (subscribers see the gap in ``seq``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path

import zmq
from zmq.utils.monitor import parse_monitor_message

from edged.config import PublishConfig
from edged.errors import PublishError
from edged.security import CurveServer

log = logging.getLogger("edged.publish")


class EndpointLock:
    """An flock next to an ipc socket: a second daemon on the same path is refused, and a
    socket file left by a killed daemon (whose lock died with it) is safely removed."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.path = socket_path.with_name(socket_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise PublishError(f"cannot create the lock file {self.path}: "
                               f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise PublishError(f"another edged (pid {owner}) is already publishing on "
                               f"ipc://{self.socket_path}; stop it or choose another "
                               "publish.endpoint") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:  # e.g. a full disk: say so, leave nothing behind
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise PublishError(f"cannot write the lock file {self.path}: "
                               f"{exc.strerror}") from None
        self._fd = fd
        if self.socket_path.exists() or self.socket_path.is_symlink():
            self.socket_path.unlink()  # stale: its owner no longer holds the lock

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.socket_path.unlink(missing_ok=True)
                self.path.unlink(missing_ok=True)
            finally:
                os.close(self._fd)
                self._fd = None


class Publisher:
    def __init__(self, config: PublishConfig, context: zmq.Context | None = None) -> None:
        self.config = config
        self.context = context or zmq.Context.instance()
        self.socket: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._lock: EndpointLock | None = None
        self.subscribers = 0
        self._curve: CurveServer | None = None
        self.status_topic = config.status_topic.encode()
        self.joined: list[bytes] = []  # subscription prefixes since the daemon last looked

    def bind(self) -> None:
        endpoint = self.config.endpoint
        if endpoint.startswith("ipc://"):
            sock_path = Path(endpoint[len("ipc://"):])
            try:
                sock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            except OSError as exc:
                raise PublishError(f"cannot create {sock_path.parent} for {endpoint}: "
                                   f"{exc.strerror}") from None
            self._lock = EndpointLock(sock_path)
            try:
                self._lock.acquire()
            except PermissionError as exc:
                raise PublishError(f"cannot use {endpoint}: {exc}") from None
        sock = self.context.socket(zmq.XPUB)
        if self.config.curve is not None:
            try:
                self._curve = CurveServer(self.context, self.config.curve.secret_key_file,
                                          self.config.curve.authorized_keys_dir)
            except PublishError:
                sock.close(linger=0)
                self._release_lock()
                raise
            self._curve.apply(sock)
        sock.setsockopt(zmq.SNDHWM, self.config.hwm)
        sock.setsockopt(zmq.LINGER, self.config.linger_ms)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            self._release_lock()
            hint = " (another process is bound to it)" if exc.errno == errno.EADDRINUSE else ""
            raise PublishError(f"cannot bind {endpoint}: {exc.strerror}{hint}") from None
        if endpoint.startswith("ipc://"):
            self._restrict(Path(endpoint[len("ipc://"):]))
        self._monitor = sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self.socket = sock
        log.info("publishing on %s (topic %s, hwm %d)", endpoint, self.config.topic,
                 self.config.hwm)

    def _restrict(self, sock_path: Path) -> None:
        """Only the owner and the group may connect: socket 0660, folder group-traversable."""
        os.chmod(sock_path, 0o660)
        group = self.config.group
        if group is None:
            return
        import grp

        try:
            gid = grp.getgrnam(group).gr_gid
            for path in (sock_path.parent, sock_path):
                os.chown(path, -1, gid)
            os.chmod(sock_path.parent, 0o750)
        except (KeyError, PermissionError) as exc:
            raise PublishError(f"publish.group {group}: cannot give {sock_path} to it "
                               f"({exc})") from None

    def send(self, frames: list[bytes]) -> bool:
        """Send one multipart message without blocking; False if ZeroMQ refused it."""
        assert self.socket is not None
        try:
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            return False

    def send_status(self, payload: bytes) -> None:
        self.send([self.status_topic, payload])

    def service(self) -> bool:
        """Handle subscriptions and connection events; call from the publish thread.

        True when someone subscribed to the status topic: the caller sends a fresh status,
        so a late joiner need not wait a whole status interval (the slow-joiner problem).
        """
        assert self.socket is not None and self._monitor is not None
        while self._monitor.poll(0):
            event = parse_monitor_message(self._monitor.recv_multipart())["event"]
            if event == zmq.EVENT_ACCEPTED:
                self.subscribers += 1
            elif event == zmq.EVENT_DISCONNECTED:
                self.subscribers = max(0, self.subscribers - 1)
        wants_status = False
        while self.socket.poll(0):
            msg = self.socket.recv()
            if msg[:1] == b"\x01" and self.status_topic.startswith(msg[1:]):
                wants_status = True
            if msg[:1] == b"\x01" and len(self.joined) < 64:
                self.joined.append(msg[1:])
        return wants_status

    def close(self) -> None:
        if self.socket is not None:
            self.socket.disable_monitor()
            if self._monitor is not None:
                self._monitor.close(linger=0)
            self.socket.close(linger=self.config.linger_ms)
            self.socket = None
        self._release_lock()
        if self._curve is not None:
            self._curve.stop()
            self._curve = None

    def _release_lock(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None
