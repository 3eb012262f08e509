"""A real Mosquitto broker on a free loopback port, optionally with TLS and passwords, and a
real MQTT client that records what arrives. Used by the MQTT bridge tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def need_mosquitto() -> None:
    if not os.path.exists(MOSQUITTO):
        message = "mosquitto is not installed (apt install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true this is a failure")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def make_certs(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    for ca in ("ca", "other_ca"):
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=edged test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt")
    return {n: folder / f"{n}.crt" for n in ("ca", "other_ca", "server")} | {
        "server_key": folder / "server.key"}


@dataclass
class Broker:
    folder: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    certs: dict[str, Path] | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        need_mosquitto()
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {self.folder}/", "log_dest stderr",
                 "max_queued_messages 100000"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto', who can't read tmp_path
        if self.users:
            pw = self.folder / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            os.chmod(pw, 0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        if self.certs:
            lines += [f"cafile {self.certs['ca']}", f"certfile {self.certs['server']}",
                      f"keyfile {self.certs['server_key']}"]
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.folder / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        wait_for(self._listening, 20, f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError("mosquitto exited: " + (self.folder / "mosquitto.log")
                                 .read_text(errors="replace")[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


class Recorder:
    """A real paho client subscribed to ``topics``; keeps (topic, payload, retained) in order."""

    def __init__(self, broker: Broker, topics: list[str], client_id: str = "",
                 clean: bool = True, username: str | None = None, password: str | None = None,
                 ca: Path | None = None) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean)
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.topics = topics

        def on_connect(c, _u, _f, reason, _p):  # type: ignore[no-untyped-def]
            if not reason.is_failure:
                for t in topics:
                    c.subscribe(t, qos=1)
                self.connected.set()

        def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
            with self.lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        def on_disconnect(*_a):  # type: ignore[no-untyped-def]
            self.connected.clear()

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.on_disconnect = on_disconnect
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", broker.port, 30)
        self.client.loop_start()
        wait_for(self.connected.is_set, 20, "the recording client to connect")

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _r in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        got = self.on(topic)
        return got[-1] if got else None

    def topics_seen(self) -> set[str]:
        with self.lock:
            return {t for t, _p, _r in self.messages}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
