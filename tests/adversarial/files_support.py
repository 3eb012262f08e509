"""Run ``edged`` as a real subprocess with its memory and time watched: the peak RSS and CPU
time come from the kernel (wait4), and a child past a ceiling or a deadline is killed, so a
regression fails the test instead of taking the machine down or hanging it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CEILING_MB = 400  # kill beyond this: the attacks used to reach several GB
WALL_DEADLINE_S = 30.0  # a hang (a FIFO) is killed here; the load of a shared CI machine
# stretches a ~1 s start to several, so "refused fast" is judged on CPU time beyond a
# trivially refused run (see Outcome.extra_cpu_s)


@dataclass
class Outcome:
    code: int | None  # exit status; None when killed by us; negative: killed by a signal
    wall_s: float
    cpu_s: float
    peak_mb: float
    output: str
    killed_for: str = ""

    def summary(self) -> str:
        return (f"exit {self.code}{' (killed: ' + self.killed_for + ')' if self.killed_for else ''}"
                f", {self.wall_s:.2f} s wall, {self.cpu_s:.2f} s CPU, peak {self.peak_mb:.0f} MB"
                f"\n{self.output[-2000:]}")


def edged_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _rss_mb(pid: int, field: str = "VmRSS:") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def run_edged(args: list[str], cwd: Path, deadline_s: float = WALL_DEADLINE_S,
              ceiling_mb: float = CEILING_MB, env: dict[str, str] | None = None) -> Outcome:
    log = cwd / f"edged-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "edged", *args], stdout=out,
                                stderr=subprocess.STDOUT, env={**edged_env(), **(env or {})},
                                cwd=cwd)
        killed_for = ""
        # the child's own peak: rusage's ru_maxrss would also count the pytest process it was
        # forked from (Linux keeps the pre-exec high-water mark), which grows over a suite
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _rss_mb(proc.pid, "VmHWM:"))
            if time.monotonic() - t0 > deadline_s:
                killed_for = f"still running after {deadline_s:.0f} s"
            elif _rss_mb(proc.pid) > ceiling_mb:
                killed_for = f"RSS above {ceiling_mb:.0f} MB"
            if killed_for:
                os.kill(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        wall = time.monotonic() - t0
    return Outcome(None if killed_for else proc.returncode, wall,
                   usage.ru_utime + usage.ru_stime, peak,
                   log.read_text(errors="replace"), killed_for)


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


GROWTH_MB = 50  # the bound on memory growth for a refused file
EXTRA_CPU_S = 2.0  # CPU time beyond a trivially refused config


_BASELINES: dict[str, Outcome] = {}


def baseline(verb: str) -> Outcome:
    """``verb`` refusing a config whose model file is simply missing (measured once)."""
    if verb not in _BASELINES:
        d = Path(tempfile.mkdtemp(prefix="edged-baseline-"))
        cfg = d / "config.yaml"
        cfg.write_text(f"model:\n  path: {d}/missing.tflite\npublish:\n"
                       f"  endpoint: ipc://{d}/p.sock\n")
        o = run_edged(args_for(verb, cfg), d)
        assert o.code == 78 and "file not found" in o.output, o.summary()
        _BASELINES[verb] = o
        shutil.rmtree(d, ignore_errors=True)
    return _BASELINES[verb]


def args_for(verb: str, config: Path) -> list[str]:
    return ["run", "--config", str(config)] if verb == "run" else ["check-config", str(config)]


def assert_refused_fast(o: Outcome, verb: str, *fragments: str) -> None:
    """Exit 78 with the message, no traceback, memory and CPU time close to a trivial
    refusal's."""
    base = baseline(verb)
    assert o.code == 78, o.summary()
    for f in fragments:
        assert f in o.output, o.summary()
    assert "Traceback" not in o.output, o.summary()
    assert o.peak_mb - base.peak_mb < GROWTH_MB, o.summary()
    assert o.cpu_s - base.cpu_s < EXTRA_CPU_S, o.summary()


def billion_laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):  # 9^10 strings once expanded
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\nsource: *j\n"
