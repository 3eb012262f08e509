"""The ZeroMQ side: the predictions socket, and the policy every bound socket shares.

XPUB rather than PUB so the daemon sees subscriptions: a late joiner on the status topic gets
the last status at once (last-value cache), and only subscriptions to topics edged publishes
take effect (edged.xpub). Sends never block: each subscriber has a send high-water mark, past
which ZeroMQ drops for that subscriber only (subscribers see the gap in ``seq``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from edged.config import PublishConfig
from edged.endpoints import check_endpoint, raise_fd_limit
from edged.errors import PublishError
from edged.security import CurveServer
from edged.xpub import GuardedXPub

EVENTS_TOPIC = b"edged.events"

log = logging.getLogger("edged.publish")


class EndpointLock:
    """An flock next to an ipc socket: a second daemon on the same path is refused, and a
    socket file left by a killed daemon (whose lock died with it) is safely removed.

    The lock file is never a symlink (O_NOFOLLOW), and an existing one is used only when it
    is a regular file of ours with one link: anything else is refused, never truncated."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.path = socket_path.with_name(socket_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise PublishError(f"another edged (pid {owner}) is already publishing on "
                               f"ipc://{self.socket_path}; stop it or choose another "
                               "endpoint") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:  # e.g. a full disk: say so, leave nothing behind
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise PublishError(f"cannot write the lock file {self.path}: "
                               f"{exc.strerror}") from None
        self._fd = fd
        self._remove_stale_socket()

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o640)
        except OSError as exc:
            why = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
            raise PublishError(f"cannot use the lock file {self.path}: {why}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
            os.close(fd)
            raise PublishError(f"cannot use the lock file {self.path}: not a regular file "
                               "of this user with a single link; remove it")
        return fd

    def _remove_stale_socket(self) -> None:
        try:
            st = os.lstat(self.socket_path)
        except FileNotFoundError:
            return
        if not (stat.S_ISSOCK(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            self.release()
            raise PublishError(f"{self.socket_path} exists and is not a socket; remove it "
                               "or choose another endpoint")
        self.socket_path.unlink()  # stale: its owner no longer holds the lock

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.socket_path.unlink(missing_ok=True)
            if _same_file(self.path, self._fd):
                self.path.unlink()
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(path: Path, fd: int) -> bool:
    try:
        st, mine = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


@dataclass
class SocketPolicy:
    """What every socket edged binds shares: limits, ipc group, CURVE keys and authenticator.
    Bound sockets register here so a key revocation reaches all of them."""

    hwm: int
    linger_ms: int
    group: str | None = None
    curve: CurveServer | None = None
    sockets: list[GuardedXPub] = field(default_factory=list)

    def reload_keys(self) -> None:
        """Re-read the authorized client keys; when one was removed, drop every connection
        so each peer re-authenticates (the revoked one is refused)."""
        if self.curve is None:
            return
        removed = self.curve.reload_keys()
        if removed:
            dropped = sum(s.guard.drop_all("its client key was revoked")
                          for s in list(self.sockets))
            log.info("%d client key(s) revoked: %d connection(s) dropped to re-authenticate",
                     len(removed), dropped)


class BoundEndpoint:
    """One bound, guarded XPUB socket under the policy (plus its ipc lock)."""

    def __init__(self, policy: SocketPolicy, endpoint: str, topics: tuple[bytes, ...],
                 context: zmq.Context) -> None:
        try:
            check_endpoint(endpoint, curve=policy.curve is not None)
        except ValueError as exc:
            raise PublishError(str(exc)) from None
        self.policy, self.endpoint = policy, endpoint
        self._lock: EndpointLock | None = None
        self._created_dir = False
        path = _ipc_path(endpoint)
        if path is not None:
            self._lock_ipc(path)
        sock = context.socket(zmq.XPUB)
        if policy.curve is not None:
            policy.curve.apply(sock)
        GuardedXPub.configure(sock, policy.hwm, policy.linger_ms)
        try:
            sock.bind(endpoint)
            if path is not None:
                self._restrict(path)
        except (zmq.ZMQError, PublishError) as exc:
            sock.close(linger=0)
            self._release_lock()
            if isinstance(exc, PublishError):
                raise
            hint = " (another process is bound to it)" if exc.errno == errno.EADDRINUSE else ""
            raise PublishError(f"cannot bind {endpoint}: {exc.strerror}{hint}") from None
        self.xpub = GuardedXPub(sock, topics)
        policy.sockets.append(self.xpub)

    def _lock_ipc(self, path: Path) -> None:
        self._created_dir = not path.parent.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise PublishError(f"cannot create {path.parent} for {self.endpoint}: "
                               f"{exc.strerror}") from None
        self._lock = EndpointLock(path)
        try:
            self._lock.acquire()
        except PermissionError as exc:
            raise PublishError(f"cannot use {self.endpoint}: {exc}") from None

    def _restrict(self, sock_path: Path) -> None:
        """Only the owner and the group may connect: socket 0660; a folder edged created is
        group-traversable (0750); one it did not create is left as it is."""
        os.chmod(sock_path, 0o660)
        group = self.policy.group
        if group is None:
            return
        import grp

        try:
            gid = grp.getgrnam(group).gr_gid
            os.chown(sock_path, -1, gid)
            if self._created_dir:
                os.chown(sock_path.parent, -1, gid)
                os.chmod(sock_path.parent, 0o750)
        except (KeyError, PermissionError) as exc:
            raise PublishError(f"publish.group {group}: cannot give {sock_path} to it "
                               f"({exc})") from None

    def close(self) -> None:
        if self.xpub in self.policy.sockets:
            self.policy.sockets.remove(self.xpub)
        self.xpub.close(self.policy.linger_ms)
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None


def _ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


class Publisher:
    def __init__(self, config: PublishConfig, context: zmq.Context | None = None) -> None:
        self.config = config
        self.context = context or zmq.Context.instance()
        self.socket: zmq.Socket | None = None
        self.policy = SocketPolicy(config.hwm, config.linger_ms, config.group)
        self._bound: BoundEndpoint | None = None
        self.status_topic = config.status_topic.encode()
        topic = config.topic.encode()
        # edged.events: tracking events (edged/events) go out on this socket too
        self.topics = (topic, topic + b".mask", self.status_topic, EVENTS_TOPIC)
        self.joined: list[bytes] = []  # subscription prefixes since the daemon last looked

    @property
    def subscribers(self) -> int:
        return self._bound.xpub.subscribers if self._bound else 0

    def bind(self) -> None:
        old, new = raise_fd_limit()
        if new > old:
            log.info("file descriptor limit raised from %d to %d (one per subscriber)", old,
                     new)
        curve = self.config.curve
        if curve is not None:
            self.policy.curve = CurveServer(self.context, curve.secret_key_file,
                                            curve.authorized_keys_dir)
        try:
            self._bound = BoundEndpoint(self.policy, self.config.endpoint, self.topics,
                                        self.context)
        except PublishError:
            self._stop_curve()
            raise
        self.socket = self._bound.xpub.socket
        log.info("publishing on %s (topic %s, hwm %d)", self.config.endpoint,
                 self.config.topic, self.config.hwm)

    def reload_keys(self) -> None:
        """Re-read publish.curve.authorized_keys_dir (SIGHUP): revocation without restart."""
        self.policy.reload_keys()

    def send(self, frames: list[bytes]) -> bool:
        """Send one multipart message without blocking; False if ZeroMQ refused it."""
        assert self._bound is not None
        return self._bound.xpub.send(frames)

    def send_pair(self, topic: bytes, payload: bytes) -> bool:
        """``send([topic, payload])``, the per-frame way (no per-part checks)."""
        assert self._bound is not None
        return self._bound.xpub.send_pair(topic, payload)

    def send_status(self, payload: bytes) -> None:
        self.send([self.status_topic, payload])

    def service(self) -> bool:
        """Handle subscriptions and connections; call from the publish thread.

        True when someone subscribed to the status topic: the caller sends a fresh status,
        so a late joiner need not wait a whole status interval (the slow-joiner problem).
        """
        assert self._bound is not None
        wants_status = self._bound.xpub.service(watch=self.status_topic)
        taken = self._bound.xpub.take_subscribed()
        self.joined.extend(taken[:max(0, 64 - len(self.joined))])
        return wants_status

    def guard_counts(self) -> dict[str, int]:
        """Refused subscriptions and dropped peers, for the status message."""
        if self._bound is None:
            return {"refused_subscriptions": 0, "dropped_peers": 0}
        stats = self._bound.xpub.guard.stats
        return {"refused_subscriptions": stats.refused_subscriptions,
                "dropped_peers": stats.dropped_peers}

    def close(self) -> None:
        if self._bound is not None:
            self._bound.close()
            self._bound = None
            self.socket = None
        self._stop_curve()

    def _stop_curve(self) -> None:
        if self.policy.curve is not None:
            self.policy.curve.stop()
            self.policy.curve = None
