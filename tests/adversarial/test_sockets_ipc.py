"""ipc hygiene against a real daemon subprocess: a planted symlink at the lock file, a shared
1777 folder, a lock file that belongs to someone else; the frames socket gets the same mode
and group as the predictions socket."""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sockattack as sa
from conftest import receive_json, subscribe

FLOOD_S = float(os.environ.get("EDGED_FLOOD_S", "20"))
CONFIG = {"source": {"type": "synthetic", "fps": 20}}


def wait_exit(d, timeout: float = 60.0) -> int:
    code = d.proc.wait(timeout)
    assert "Traceback" not in d.log()
    return int(code)


def test_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path,
                                                                 daemon_factory) -> None:
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    target.chmod(0o600)
    before = target.stat()
    (run / "predictions.sock.lock").symlink_to(target)
    d = daemon_factory({**CONFIG, "publish": {"endpoint": f"ipc://{run}/predictions.sock"}},
                       subdir="d")
    assert wait_exit(d) not in (0, 70)
    assert "is a symlink" in d.log()
    after = target.stat()
    assert target.read_text() == "precious\n"
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == \
        (before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns)
    assert (run / "predictions.sock.lock").is_symlink()


def test_a_lock_file_of_another_user_is_never_truncated(tmp_path: Path,
                                                        daemon_factory) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file owned by another user")
    run = tmp_path / "run"
    run.mkdir()
    lock = run / "predictions.sock.lock"
    lock.write_text("someone else's\n")
    os.chown(lock, 65534, 65534)
    d = daemon_factory({**CONFIG, "publish": {"endpoint": f"ipc://{run}/predictions.sock"}},
                       subdir="d")
    assert wait_exit(d) not in (0, 70)
    assert lock.read_text() == "someone else's\n"


def other_group() -> str:
    """A group other than ours when we may give files to it (root), else our own."""
    mine = os.getgid()
    if os.geteuid() == 0:
        for g in grp.getgrall():
            if g.gr_gid not in (mine, 0):
                return g.gr_name
    return grp.getgrgid(mine).gr_name


def test_shared_1777_folder_is_left_alone_and_both_sockets_match(tmp_path: Path,
                                                                 daemon_factory) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    before = shared.stat()
    group = other_group()
    d = daemon_factory({**CONFIG, "publish": {
        "endpoint": f"ipc://{shared}/predictions.sock", "group": group, "frames": True}},
        subdir="d")
    receive_json(subscribe(d.endpoint), 1, timeout=60)
    frames = subscribe(f"ipc://{shared}/frames.sock", (b"edged.frames",))
    assert frames.poll(60_000), "no frame on the frames socket"
    after = shared.stat()
    assert stat.S_IMODE(after.st_mode) == 0o1777
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    gid = grp.getgrnam(group).gr_gid
    for name in ("predictions.sock", "frames.sock"):
        st = (shared / name).stat()
        assert stat.S_ISSOCK(st.st_mode)
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, gid), name
    frames.close()
    assert d.stop() == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_a_folder_edged_creates_is_given_to_the_group(tmp_path: Path,
                                                      daemon_factory) -> None:
    group = other_group()
    run = tmp_path / "new" / "run"
    d = daemon_factory({**CONFIG, "publish": {
        "endpoint": f"ipc://{run}/predictions.sock", "group": group}}, subdir="d")
    receive_json(subscribe(d.endpoint), 1, timeout=60)
    st = run.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o750, grp.getgrnam(group).gr_gid)
    assert d.stop() == 0


def test_unique_subscription_flood_on_ipc_is_bounded(tmp_path: Path, daemon_factory) -> None:
    """ipc peers have no byte counter, but the flooder's unread bytes pile up in its socket:
    it alone is dropped (each time it reconnects), and the honest subscriber keeps its
    connection: every prediction, no seq gap."""
    d = daemon_factory({**CONFIG, "publish": {"endpoint": f"ipc://{tmp_path}/p.sock"}},
                       subdir="d")
    honest = subscribe(d.endpoint)
    receive_json(honest, 1, timeout=60)
    base_kb = sa.rss_kb(d.proc.pid)
    seconds = FLOOD_S
    with sa.RssWatch(d.proc.pid, base_kb / 1024 + 200) as watch:
        attacker = subprocess.Popen([sys.executable, sa.__file__, "flood",
                                     str(tmp_path / "p.sock"), str(seconds)],
                                    stdout=subprocess.PIPE, text=True)
        seqs: list[int] = []
        while attacker.poll() is None:
            if honest.poll(100):
                topic, body = honest.recv_multipart()[:2]
                if topic == b"edged.predictions":
                    seqs.append(json.loads(body)["seq"])
    report = attacker.communicate(timeout=30)[0]
    assert not watch.killed, report
    print(f"ipc flood: RSS +{(watch.peak_kb - base_kb) / 1024:.1f} MB, {report}")
    assert (watch.peak_kb - base_kb) / 1024 < 20, report
    assert len(seqs) >= seconds, f"honest subscriber got {len(seqs)} in {seconds:.0f}s"
    gaps = [(a, b) for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1]
    assert not gaps, f"the honest subscriber lost predictions: {gaps[:5]}; {report}"
    receive_json(honest, 5, timeout=60)
    assert "kept sending while" in d.log()
    assert d.stop() == 0
