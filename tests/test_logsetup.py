"""edged.logsetup: the journal with structured fields under systemd, stderr otherwise.

The journal case is real: systemd-python's JournalHandler (apt python3-systemd, imported by the
system python3) sends to /run/systemd/journal/socket, a path compiled into libsystemd. In a
private mount namespace (unshare, needs root) a tmpfs over /run lets a real datagram socket
stand in for journald there, and the test decodes the native journal protocol it receives."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from edged.logsetup import STAGES, StageFilter, setup_logging, stage_of

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"

JOURNAL_CHILD = r"""
import json, logging, os, socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
os.makedirs("/run/systemd/journal", exist_ok=True)
sock.bind("/run/systemd/journal/socket")
sock.settimeout(10)
os.environ["INVOCATION_ID"] = "0123456789abcdef0123456789abcdef"
from edged.logsetup import setup_logging
print(setup_logging("INFO", fields={"EDGED_RUN_ID": "run42"}), flush=True)
logging.getLogger("edged.sources.picamera2").warning("camera %s timed out", 0,
                                                     extra={"EDGED_SEQ": 17})
logging.getLogger("edged.publish").info("two\nlines", extra={"EDGED_STAGE": "custom"})
logging.getLogger("edged.daemon").debug("below the level: never sent")
for _ in range(2):
    sys.stdout.buffer.write(sock.recv(65536).hex().encode() + b"\n")
"""


def parse_native(data: bytes) -> dict[str, str]:
    """The journal's native protocol: KEY=value\\n, or KEY\\n<le64 size><value>\\n."""
    fields: dict[str, str] = {}
    while data:
        line_end = data.index(b"\n")
        eq = data.find(b"=", 0, line_end)
        if eq >= 0:
            fields[data[:eq].decode()] = data[eq + 1:line_end].decode()
            data = data[line_end + 1:]
        else:
            (size,) = struct.unpack("<Q", data[line_end + 1:line_end + 9])
            start = line_end + 9
            fields[data[:line_end].decode()] = data[start:start + size].decode()
            data = data[start + size + 1:]
    return fields


def run_in_private_run(code: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private /run (a stand-in journald)")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.decode().strip()}")
    has = Path(SYSTEM_PYTHON).exists() and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import systemd.journal"], capture_output=True).returncode == 0
    if not has:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-systemd missing under CI (apt install python3-systemd)")
        pytest.skip("systemd-python not importable by /usr/bin/python3 (apt python3-systemd)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("JOURNAL_STREAM", None)
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs tmpfs /run && exec "$0" -c "$1"', SYSTEM_PYTHON, code],
        capture_output=True, text=True, env=env, timeout=60)


def test_journal_gets_structured_fields_under_systemd() -> None:
    r = run_in_private_run(JOURNAL_CHILD)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "journal"
    first, second = (parse_native(bytes.fromhex(h)) for h in lines[1:3])
    assert first["MESSAGE"] == "camera 0 timed out"
    assert first["PRIORITY"] == "4"
    assert first["SYSLOG_IDENTIFIER"] == "edged"
    assert first["LOGGER"] == "edged.sources.picamera2"
    assert first["EDGED_STAGE"] == "source"  # from the logger name
    assert first["EDGED_SEQ"] == "17"  # from extra=
    assert first["EDGED_RUN_ID"] == "run42"  # constant field
    assert second["MESSAGE"] == "two\nlines"  # binary-safe form for a multi-line value
    assert second["PRIORITY"] == "6"
    assert second["EDGED_STAGE"] == "custom"  # extra= wins over the logger name
    assert "EDGED_SEQ" not in second


def test_under_systemd_without_systemd_python_stderr_has_priority_prefixes() -> None:
    code = ("import logging, sys\n"
            "sys.modules['systemd'] = None  # as if python3-systemd were not installed\n"
            "from edged.logsetup import setup_logging\n"
            "print(setup_logging('DEBUG'))\n"
            "logging.getLogger('edged.model').error('model broken')\n"
            "logging.getLogger('edged.daemon').debug('details')\n")
    env = {**os.environ, "INVOCATION_ID": "abc", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.stdout.strip() == "stderr-journal"
    assert r.stderr.splitlines() == ["<3>edged.model: model broken", "<7>edged.daemon: details"]


@pytest.mark.parametrize(("name", "stage"), [
    ("edged.sources.picamera2", "source"), ("edged.sources", "source"),
    ("edged.model", "inference"), ("edged.runtime.edgetpu", "inference"),
    ("edged.publish", "publish"), ("edged.frames", "publish"), ("edged.pipeline", "pipeline"),
    ("edged.daemon", "daemon"), ("edged", "daemon"), ("edged.somethingnew", "daemon"),
    ("edged.sourcesx", "daemon"), ("zmq.auth", "other"),
])
def test_stage_from_logger_name(name: str, stage: str) -> None:
    assert stage_of(name) == stage


def test_every_stage_prefix_is_a_real_logger_or_package() -> None:
    for prefix in STAGES:
        module = ROOT / prefix.replace(".", "/")
        if prefix in ("edged.model", "edged.publish", "edged.frames"):
            continue  # logger names used by edged/runtime/*.py, publisher.py, framepub.py
        assert module.is_dir() or module.with_suffix(".py").is_file(), prefix


def test_stage_filter_keeps_an_explicit_stage() -> None:
    record = logging.LogRecord("edged.daemon", logging.INFO, __file__, 1, "m", None, None)
    record.EDGED_STAGE = "custom"
    assert StageFilter().filter(record) and record.EDGED_STAGE == "custom"


def test_outside_systemd_plain_stderr(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("INVOCATION_ID", "JOURNAL_STREAM"):
        monkeypatch.delenv(name, raising=False)
    assert setup_logging("WARNING") == "stderr"
    try:
        logging.getLogger("edged.pipeline").warning("slow", extra={"EDGED_SEQ": 3})
        logging.getLogger("edged.pipeline").info("hidden")
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].endswith(" WARNING edged.pipeline: slow")
    finally:
        logging.getLogger().handlers.clear()


def test_helper_decodes_both_native_forms() -> None:
    data = b"A=1\nB\n" + struct.pack("<Q", 3) + b"x\ny\nC=\n"
    assert parse_native(data) == {"A": "1", "B": "x\ny", "C": ""}
    assert json.dumps(parse_native(b"")) == "{}"
