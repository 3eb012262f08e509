"""The real daemon under what systemd/edged.service imposes, without systemd as PID 1:

- inside the unit's own seccomp sandbox (SystemCallFilter=, RestrictAddressFamilies=,
  NoNewPrivileges=, MemoryDenyWriteExecute=; read from the unit file, built by
  tests/native/seccomp_run.c with libseccomp), real LiteRT with XNNPACK still publishes, and
  the notify sequence READY -> WATCHDOG -> RELOADING+MONOTONIC_USEC -> READY -> STOPPING holds;
- a bad config on SIGHUP: RELOADING then READY again, the old config keeps running, and the
  log carries the same messages as `edged check-config` for that file.
The happy-path sequence and the stalled-camera watchdog live in tests/test_systemd.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import receive_json, subscribe
from test_daemon import cat_config
from test_systemd import NotifySocket

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd/edged.service"


def unit_values(key: str) -> list[str]:
    prefix = key + "="
    return [ln[len(prefix):] for ln in UNIT.read_text().splitlines() if ln.startswith(prefix)]


def syscall_sets() -> dict[str, list[str]]:
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True,
                         text=True, check=True).stdout
    sets: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        item = line.strip()
        if line.startswith("@"):
            current = item
            sets[current] = []
        elif item and not item.startswith("#") and current:
            sets[current].append(item)
    return sets


def unit_allowed_syscalls() -> set[str]:
    """SystemCallFilter= lines as systemd reads them: the first allow-list sets the base, a
    '~' line removes from it."""
    sets = syscall_sets()

    def expand(name: str) -> set[str]:
        if not name.startswith("@"):
            return {name}
        return set().union(*(expand(n) for n in sets[name]))

    allowed: set[str] = set()
    for value in unit_values("SystemCallFilter"):
        names = value.lstrip("~").split()
        group = set().union(*(expand(n) for n in names))
        allowed = allowed - group if value.startswith("~") else allowed | group
    return allowed


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The command prefix that runs a program inside the unit's seccomp sandbox."""
    missing = [t for t in ("systemd-analyze", "gcc") if shutil.which(t) is None]
    header = Path("/usr/include/seccomp.h")
    if missing or not header.exists():
        reason = (f"needs {' '.join(missing) or ''} libseccomp-dev "
                  "(apt install systemd gcc libseccomp-dev)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; .ci/run installs them")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("sandbox")
    binary = tmp / "seccomp_run"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary),
                    str(ROOT / "tests/native/seccomp_run.c"), "-lseccomp"], check=True)
    allowed = tmp / "syscalls.txt"
    allowed.write_text("\n".join(sorted(unit_allowed_syscalls())) + "\n")
    assert unit_values("RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert unit_values("SystemCallErrorNumber") == ["EPERM"]
    mdwe = "1" if unit_values("MemoryDenyWriteExecute") == ["yes"] else "0"
    yield [str(binary), str(allowed), mdwe, "--"]


def test_the_sandbox_bites(sandbox: list[str]) -> None:
    """The sandbox is real: what the unit forbids fails inside it."""
    code = ("import mmap, os, socket\n"
            "def refused(f):\n"
            "    try:\n"
            "        f()\n"
            "    except OSError as e:\n"
            "        return e.errno\n"
            "    return 0\n"
            "print(refused(lambda: mmap.mmap(-1, 4096, prot=7)),\n"  # W+X
            "      refused(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),\n"
            "      refused(lambda: os.sched_setaffinity(0, {0})),\n"  # @resources
            "      refused(lambda: os.chroot('/')))\n")  # @privileged
    r = subprocess.run([*sandbox, sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    wx, packet, affinity, chroot = (int(x) for x in r.stdout.split())
    assert wx == 1 and affinity == 1 and chroot == 1  # EPERM
    assert packet == 97  # EAFNOSUPPORT


def start_daemon(prefix: list[str], tmp: Path, config: dict, env: dict[str, str]
                 ) -> tuple[subprocess.Popen[bytes], Path, str]:
    endpoint = f"ipc://{tmp}/predictions.sock"
    config.setdefault("publish", {})["endpoint"] = endpoint
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log = tmp / "daemon.log"
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    full_env.update(env, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    with open(log, "wb") as out:
        proc = subprocess.Popen([*prefix, sys.executable, "-m", "edged", "run", "--config",
                                 str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                                env=full_env, cwd=tmp)
    return proc, log, endpoint


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.testdata
def test_daemon_runs_inside_the_units_sandbox(testdata: Path, tmp_path: Path,
                                              sandbox: list[str]) -> None:
    ns = NotifySocket(str(tmp_path / "notify.sock"), str(tmp_path / "notify.sock"))
    config = cat_config(testdata)
    config["model"]["threads"] = 2  # XNNPACK's thread pool too
    proc, log, endpoint = start_daemon(
        sandbox, tmp_path, config, {"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "600000"})
    try:
        ns.until("READY=1")
        got = receive_json(subscribe(endpoint), 5)
        assert all(m["classes"][0]["label"] == "Egyptian cat" for m in got)
        expected = "litert" if importlib.util.find_spec("ai_edge_litert") else "tflite-runtime"
        assert got[0]["model"]["runtime"] == expected
        ns.until("WATCHDOG=1")
        proc.send_signal(signal.SIGHUP)
        ns.until("RELOADING=1")
        ns.until("READY=1")
        assert stop(proc) == 0
        ns.collect(0.3)
        assert ns.events()[-1] == "STOPPING=1"
    finally:
        if proc.poll() is None:
            proc.kill()
        ns.sock.close()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "Operation not permitted" not in text, text


@pytest.mark.testdata
def test_bad_config_on_sighup_keeps_the_old_one_with_check_configs_messages(
        testdata: Path, tmp_path: Path, daemon_factory) -> None:
    ns = NotifySocket(str(tmp_path / "notify.sock"), str(tmp_path / "notify.sock"))
    d = daemon_factory(cat_config(testdata), subdir="d",
                       env={"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "600000"})
    ns.until("READY=1")
    sub = subscribe(d.endpoint)
    [before] = receive_json(sub, 1)
    ns.until("WATCHDOG=1")
    bad = d.config_path.read_text() + "bogus_section: 1\n"
    bad = bad.replace("threads: 1", "threads: -3")
    d.config_path.write_text(bad)
    checked = subprocess.run([sys.executable, "-m", "edged", "check-config",
                              str(d.config_path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert checked.returncode == 78
    messages = [ln.strip() for ln in (checked.stdout + checked.stderr).splitlines()
                if "(line " in ln]
    assert len(messages) >= 2, checked.stdout + checked.stderr  # both problems named
    # drain first: a datagram socket queues only net.unix.max_dgram_qlen (10) messages, which
    # the WATCHDOG=1 pings filled during check-config; the daemon drops what does not fit
    # (it never blocks on notify), and a dropped READY=1 failed this test under load
    ns.collect(0.5)
    d.signal(signal.SIGHUP)
    ns.until("RELOADING=1")
    ns.until("READY=1")
    ns.until("WATCHDOG=1")  # still making progress on the old config
    after = receive_json(sub, 3)
    assert all(m["run_id"] == before["run_id"] for m in after)
    assert all(m["classes"][0]["label"] == "Egyptian cat" for m in after)
    log = d.log()
    assert "reload failed, still running the previous config" in log
    for message in messages:
        assert message in log, (message, log)
    assert d.stop() == 0
    ns.collect(0.3)
    events = ns.events()
    ready = [i for i, e in enumerate(events) if e == "READY=1"]
    reloading = events.index("RELOADING=1")
    assert len(ready) == 2 and ready[0] < reloading < ready[1]
    assert events[reloading + 1].startswith("MONOTONIC_USEC=")
    assert events[-1] == "STOPPING=1"
    assert events.count("STOPPING=1") == 1
    ns.sock.close()
