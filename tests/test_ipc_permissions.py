"""Only the socket's group may subscribe: another local user cannot connect (run as root here:
the test creates two throwaway users and subscribes as each with setpriv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import receive_json, subscribe

pytestmark = pytest.mark.testdata

LISTEN = ("import sys, zmq; s = zmq.Context().socket(zmq.SUB); s.setsockopt(zmq.SUBSCRIBE, b'');"
          "s.connect(sys.argv[1]); print('got' if s.poll(3000) else 'nothing')")


@pytest.fixture
def users() -> Iterator[tuple[str, str, str]]:
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("useradd"):
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail("setpriv/useradd missing")
        pytest.skip("needs root, setpriv and useradd to create throwaway users")
    tag = uuid.uuid4().hex[:6]
    group, member, other = f"edg{tag}", f"edm{tag}", f"edo{tag}"
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["useradd", "-M", "-G", group, member], check=True)
    subprocess.run(["useradd", "-M", other], check=True)
    yield group, member, other
    for u in (member, other):
        subprocess.run(["userdel", u], check=False)
    subprocess.run(["groupdel", group], check=False)


def listen_as(user: str, endpoint: str) -> str:
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                        sys.executable, "-c", LISTEN, endpoint],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip() or r.stderr.strip()


def test_only_group_members_can_subscribe(testdata: Path, users, daemon_factory) -> None:
    group, member, other = users
    probe = subprocess.run(["setpriv", f"--reuid={other}", f"--regid={other}", "--init-groups",
                            sys.executable, "-c", "import zmq"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"another user cannot run {sys.executable} here (the venv's folder is "
                    "private), so there is no way to test as one")
    base = Path("/tmp") / f"edged-perm-{uuid.uuid4().hex[:6]}"
    base.mkdir(mode=0o755)
    try:
        endpoint = f"ipc://{base}/run/predictions.sock"
        d = daemon_factory({
            "source": {"type": "images", "path": str(testdata / "images/cat.bmp"), "fps": 20},
            "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite")},
            "publish": {"endpoint": endpoint, "group": group}})
        receive_json(subscribe(endpoint), 1)
        sock = base / "run/predictions.sock"
        assert oct(sock.stat().st_mode & 0o777) == "0o660"
        assert oct((base / "run").stat().st_mode & 0o777) == "0o750"
        assert listen_as(member, endpoint) == "got"
        assert listen_as(other, endpoint) == "nothing"
        assert d.stop() == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
