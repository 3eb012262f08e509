"""The ipc flood rule of edged.xpub.ConnectionGuard on real unix socket pairs: a peer with a
backlog of unread bytes is a talker; a sustained flood drops talkers only, the count rule
drops every ipc peer when no talker can be told."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from edged.xpub import _IPC_FLOOD, IPC_FLOOD_S, IPC_PENDING_TALKER, ConnectionGuard


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()


def peer(guard: ConnectionGuard, pairs: list, backlog: int) -> tuple[socket.socket, socket.socket]:
    """(our end, their end); they sent ``backlog`` bytes nobody read yet."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pairs.append((ours, theirs))
    if backlog:
        theirs.sendall(b"x" * backlog)
    guard.accepted(ours.fileno())
    return ours, theirs


def dropped(ours: socket.socket) -> bool:
    """Our end was shut down (what the guard does to drop a peer): sending fails."""
    try:
        ours.send(b"")
        ours.setblocking(False)
        return ours.send(b"y") == 0
    except BrokenPipeError:
        return True
    except BlockingIOError:
        return False


def test_a_sustained_flood_drops_the_talker_and_keeps_the_quiet_peer(pairs) -> None:
    guard = ConnectionGuard()
    talker, _ = peer(guard, pairs, IPC_PENDING_TALKER * 4)
    quiet, _ = peer(guard, pairs, 0)
    assert guard.check(100, 300, flooding_s=IPC_FLOOD_S)
    assert dropped(talker) and not dropped(quiet)
    assert len(guard) == 1 and guard.stats.dropped_peers == 1


def test_a_short_flood_below_the_count_drops_nobody(pairs) -> None:
    guard = ConnectionGuard()
    talker, _ = peer(guard, pairs, IPC_PENDING_TALKER * 4)
    assert not guard.check(100, 300, flooding_s=IPC_FLOOD_S / 2)
    assert not dropped(talker) and len(guard) == 1


def test_time_alone_never_drops_peers_without_a_backlog(pairs) -> None:
    """A slow trickle (nothing queued anywhere) is not enough to cut every subscriber off."""
    guard = ConnectionGuard()
    a, _ = peer(guard, pairs, 0)
    b, _ = peer(guard, pairs, IPC_PENDING_TALKER // 2)
    assert not guard.check(5, 500, flooding_s=60.0)
    assert not dropped(a) and not dropped(b) and len(guard) == 2


def test_the_count_drops_every_ipc_peer_when_none_is_a_talker(pairs) -> None:
    guard = ConnectionGuard()
    a, _ = peer(guard, pairs, 0)
    b, _ = peer(guard, pairs, 0)
    assert guard.check(100, _IPC_FLOOD + 1)
    assert dropped(a) and dropped(b) and len(guard) == 0
