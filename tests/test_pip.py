"""`pip install .` into a fresh venv, no extras (what `pip install edged` gives), then
`edged run` publishes predictions on a real runtime. Slow (a real pip install): its own pass,
`make test-pip`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import venv
from pathlib import Path

import pytest
import zmq

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.pip, pytest.mark.slow]


def test_pip_install_then_edged_run_publishes(tmp_path: Path) -> None:
    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("LiteRT publishes wheels for x86_64 and aarch64 Linux only")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    pip = subprocess.run([str(target / "bin/python"), "-m", "pip", "install", "-q", str(ROOT)],
                         capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    where = subprocess.run([str(target / "bin/python"), "-c",
                            "import edged; print(edged.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert str(target) in where.stdout  # the installed copy, not this checkout
    endpoint = f"ipc://{tmp_path}/p.sock"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.subscribe(b"edged.predictions")
    sub.connect(endpoint)
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen([str(target / "bin/edged"), "run", "--endpoint", endpoint],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        assert sub.poll(60_000), (tmp_path / "daemon.log").read_text()
        topic, payload = sub.recv_multipart()[:2]
        message = json.loads(payload)
        assert message["schema"] == "edged.prediction/1"
        assert message["model"]["runtime"] == "litert"
        assert message["classes"][0]["label"] in ("circle", "square", "triangle", "cross")
    finally:
        daemon.terminate()
        code = daemon.wait(30)
        log.close()
        sub.close()
    assert code == 0, (tmp_path / "daemon.log").read_text()
