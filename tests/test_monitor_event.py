"""edged.xpub parses libzmq's socket-monitor events itself (zmq.utils.monitor would import
asyncio into the daemon): it must agree with pyzmq's parser on real monitor messages."""

from __future__ import annotations

import zmq
from zmq.utils.monitor import parse_monitor_message

from edged.xpub import monitor_event


def test_real_monitor_messages_parse_like_pyzmq(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    mon = pub.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
    pub.bind(f"ipc://{tmp_path}/m.sock")
    subs = [ctx.socket(zmq.SUB) for _ in range(3)]
    for s in subs:
        s.connect(f"ipc://{tmp_path}/m.sock")
    for s in subs:
        s.close(0)
    seen: list[tuple[int, int]] = []
    while len(seen) < 6 and mon.poll(20_000):
        frames = mon.recv_multipart()
        ours = monitor_event(frames)
        theirs = parse_monitor_message(frames)
        assert ours == (theirs["event"], theirs["value"])
        seen.append(ours)
    kinds = [k for k, _ in seen]
    assert kinds.count(zmq.EVENT_ACCEPTED) == 3 and kinds.count(zmq.EVENT_DISCONNECTED) == 3
    assert monitor_event([b"short"]) == (-1, -1)
    pub.disable_monitor()
    mon.close(0)
    pub.close(0)
    ctx.term()
