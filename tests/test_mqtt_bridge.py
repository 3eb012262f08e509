"""edged mqtt against a real Mosquitto and a real MQTT client: discovery, availability and
the Last Will, status/predictions from a real daemon, events in order across a broker restart,
clear errors for bad credentials and a wrong CA, and ten bridges sharing one broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import zmq
from brokers import Broker, Recorder, make_certs, wait_for
from conftest import ROOT

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is in the dev extra")

# What Home Assistant's MQTT discovery requires of these entities (from its schemas:
# state_topic is required for binary_sensor and sensor; a device needs identifiers or
# connections; unique_id is needed to attach an entity to a device).
HA_REQUIRED = {"binary_sensor": {"state_topic", "unique_id", "device"},
               "sensor": {"state_topic", "unique_id", "device"}}
HA_DEVICE_CLASSES = {"binary_sensor": {"occupancy", None}, "sensor": {
    "temperature", "duration", None}}


def check_discovery(topic: str, payload: dict) -> None:
    prefix, component, node, obj, tail = topic.split("/")
    assert tail == "config" and component in HA_REQUIRED, topic
    missing = HA_REQUIRED[component] - payload.keys()
    assert not missing, f"{topic}: missing {missing}"
    assert payload["device"]["identifiers"] and payload["device"]["name"]
    assert payload.get("device_class") in HA_DEVICE_CLASSES[component]
    assert payload["availability_topic"].endswith("/availability")
    assert "{{" in payload["value_template"]
    # Home Assistant 2025.10 replaced object_id (removed in 2026.4) by default_entity_id
    assert "object_id" not in payload
    assert payload["default_entity_id"].startswith(component + ".")


class BridgeProcess:
    def __init__(self, config_path: Path, log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "edged", "mqtt", "--config",
                                      str(config_path)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self._log.close()
        return code


@pytest.fixture
def bridges():
    started: list[BridgeProcess] = []

    def start(config: dict, folder: Path, name: str = "bridge") -> BridgeProcess:
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        b = BridgeProcess(path, folder / f"{name}.log")
        started.append(b)
        return b

    yield start
    for b in started:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


@pytest.fixture
def broker(tmp_path: Path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


class FakeDaemon:
    """Stands in for the daemon's publisher (a real XPUB on ipc) so a test can emit an exact,
    numbered event stream; the full daemon is used where its own output is what's tested."""

    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 100000)
        self.sock.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscription, duplicates too
        self.sock.bind(endpoint)
        self.seq = 0

    def wait_subscribers(self, n_topics: int, timeout: float = 20) -> None:
        seen = 0
        deadline = time.monotonic() + timeout
        while seen < n_topics:
            assert time.monotonic() < deadline, "the bridge never subscribed"
            if self.sock.poll(100):
                msg = self.sock.recv()
                seen += msg[:1] == b"\x01"

    def status(self) -> None:
        self.sock.send_multipart([b"edged.status", json.dumps(
            {"schema": "edged.status/1", "run_id": "r", "state": "running",
             "fps_out": 10.0, "inference_ms": {"p50": 1.0}, "temperature_c": 40.0}).encode()])

    def event(self) -> None:
        self.sock.send_multipart([b"edged.events", json.dumps(
            {"schema": "edged.event/1", "type": "line.crossed", "run_id": "r",
             "seq": self.seq}).encode()])
        self.seq += 1

    def drain(self) -> None:
        while self.sock.poll(0):
            self.sock.recv()

    def close(self) -> None:
        self.sock.close(0)


def mqtt_section(broker: Broker, device: str, **extra: object) -> dict:
    return {"host": "127.0.0.1", "port": broker.port, "device_id": device,
            "keepalive": 5, **extra}


def test_real_daemon_discovery_status_predictions_and_last_will(
        tmp_path: Path, broker: Broker, daemon_factory, bridges) -> None:
    daemon = daemon_factory({"source": {"type": "synthetic", "fps": 20}})
    labels = (ROOT / "edged/demo/shapes_labels.txt").read_text().split()
    config = {"publish": {"endpoint": daemon.endpoint},
              "mqtt": mqtt_section(broker, "cam1", labels=labels[:2],
                                   predictions_interval_s=0.2, predictions_on_change=False)}
    rec = Recorder(broker, ["edged/#", "homeassistant/#"])
    bridge = bridges(config, tmp_path)
    wait_for(lambda: rec.last("edged/cam1/availability") == b"online", 60, "online")
    wait_for(lambda: len(rec.on("edged/cam1/predictions")) >= 3, 60, "3 summaries")

    def status() -> dict:
        return json.loads(rec.last("edged/cam1/status") or b"{}")

    wait_for(lambda: status().get("bridge", {}).get("predictions_seen", 0) >= 1, 60,
             "a status sent after predictions were bridged")
    assert status()["schema"] == "edged.status/1" and status()["state"] == "running"
    summary = json.loads(rec.on("edged/cam1/predictions")[-1])
    assert summary["task"] == "classification" and len(summary["counts"]) == 1
    assert next(iter(summary["counts"])) in labels

    configs = {t: json.loads(p) for t, p, _r in rec.messages
               if t.startswith("homeassistant/") and p}
    binary = [t for t in configs if t.startswith("homeassistant/binary_sensor/edged_cam1/")]
    assert len(binary) == 2
    for topic, payload in configs.items():
        check_discovery(topic, payload)
    assert {"fps", "inference_ms", "temperature"} <= {
        t.split("/")[3] for t in configs if "/sensor/" in t}

    bridge.proc.kill()  # kill -9: the broker publishes the Last Will
    bridge.proc.wait()
    wait_for(lambda: rec.last("edged/cam1/availability") == b"offline", 30, "the Last Will")
    rec.close()


def test_removed_label_removes_its_entity(tmp_path: Path, broker: Broker, bridges) -> None:
    fake = FakeDaemon(f"ipc://{tmp_path}/p.sock")
    base = {"publish": {"endpoint": f"ipc://{tmp_path}/p.sock"}}
    rec = Recorder(broker, ["homeassistant/#"])
    first = bridges({**base, "mqtt": mqtt_section(broker, "cam2", labels=["person", "car"])},
                    tmp_path, "first")
    car = "homeassistant/binary_sensor/edged_cam2/car_detected/config"
    wait_for(lambda: rec.last(car), 30, "the car entity")
    assert first.stop() == 0
    bridges({**base, "mqtt": mqtt_section(broker, "cam2", labels=["person"])}, tmp_path, "second")
    wait_for(lambda: rec.last(car) == b"", 30, "the car entity's removal (empty retained config)")
    assert rec.last("homeassistant/binary_sensor/edged_cam2/person_detected/config")
    fake.close()
    rec.close()


def test_events_in_order_across_a_broker_restart(tmp_path: Path, bridges) -> None:
    broker = Broker(tmp_path / "broker").start()
    fake = FakeDaemon(f"ipc://{tmp_path}/p.sock")
    rec = Recorder(broker, ["edged/cam3/events"], client_id="watcher", clean=False)
    bridges({"publish": {"endpoint": f"ipc://{tmp_path}/p.sock"},
             "mqtt": mqtt_section(broker, "cam3")}, tmp_path)
    fake.wait_subscribers(3)
    fake.status()

    def emit(n: int) -> None:
        for _ in range(n):
            fake.event()
            fake.drain()
            time.sleep(0.002)  # a steady stream, not a burst (pacing, not synchronisation)

    emit(200)
    wait_for(lambda: len(rec.on("edged/cam3/events")) >= 200, 30, "the first 200 events")
    broker.stop()
    emit(300)  # the broker is down: these must be queued by the bridge
    broker.start()
    emit(200)
    wait_for(lambda: len({json.loads(p)["seq"] for p in rec.on("edged/cam3/events")}) >= 700,
             60, "all 700 events after the restart")
    seqs = [json.loads(p)["seq"] for p in rec.on("edged/cam3/events")]
    unique = list(dict.fromkeys(seqs))
    assert unique == list(range(700)), "events lost or out of order"
    print(f"broker restart: 700 events, 300 sent while the broker was down, "
          f"{len(seqs) - 700} duplicates (QoS 1 is at-least-once)")
    rec.close()
    fake.close()
    broker.stop()


def _one_clear_error(b: BridgeProcess, needle: str) -> None:
    assert b.proc.wait(60) == 78, b.log()
    log = b.log()
    assert needle in log, log
    assert "Traceback" not in log, log


def test_wrong_password_is_one_clear_error(tmp_path: Path, bridges) -> None:
    broker = Broker(tmp_path / "broker", users={"edged": "right"}).start()
    (tmp_path / "pw").write_text("wrong\n")
    b = bridges({"mqtt": mqtt_section(broker, "cam4", username="edged",
                                      password_file=str(tmp_path / "pw"))}, tmp_path)
    _one_clear_error(b, "refused the connection")
    broker.stop()


def test_tls_with_password_and_a_wrong_ca(tmp_path: Path, bridges) -> None:
    certs = make_certs(tmp_path / "certs")
    broker = Broker(tmp_path / "broker", users={"edged": "s3cret"}, certs=certs).start()
    (tmp_path / "pw").write_text("s3cret\n")
    fake = FakeDaemon(f"ipc://{tmp_path}/p.sock")
    rec = Recorder(broker, ["edged/#"], username="edged", password="s3cret", ca=certs["ca"])
    mq = mqtt_section(broker, "cam5", username="edged", password_file=str(tmp_path / "pw"),
                      tls={"ca": str(certs["ca"])})
    good = bridges({"publish": {"endpoint": f"ipc://{tmp_path}/p.sock"}, "mqtt": mq},
                   tmp_path, "good")
    fake.wait_subscribers(3)
    fake.status()
    wait_for(lambda: rec.last("edged/cam5/availability") == b"online", 30, "online over TLS")
    assert good.stop() == 0
    assert rec.last("edged/cam5/availability") == b"offline"  # said goodbye before leaving
    bad = bridges({"mqtt": {**mq, "tls": {"ca": str(certs["other_ca"])}}}, tmp_path, "bad")
    _one_clear_error(bad, "not trusted")
    rec.close()
    fake.close()
    broker.stop()


def test_ten_bridges_share_a_broker_with_disjoint_topics(
        tmp_path: Path, broker: Broker, bridges) -> None:
    fake = FakeDaemon(f"ipc://{tmp_path}/p.sock")
    rec = Recorder(broker, ["edged/#", "homeassistant/#"])
    ids = [f"pi{i:02d}" for i in range(10)]
    for dev in ids:
        bridges({"publish": {"endpoint": f"ipc://{tmp_path}/p.sock"},
                 "mqtt": mqtt_section(broker, dev)}, tmp_path, dev)
    fake.wait_subscribers(30, timeout=60)
    fake.status()
    wait_for(lambda: all(rec.last(f"edged/{d}/availability") == b"online" for d in ids), 60,
             "ten devices online")

    def configs() -> list[bytes]:
        with rec.lock:
            return [p for t, p, _r in rec.messages if t.startswith("homeassistant/") and p]

    wait_for(lambda: len(configs()) >= 10 * 6, 60, "every device's discovery configs")
    for t in rec.topics_seen():
        if t.startswith("edged/"):
            assert t.split("/")[1] in ids
        else:
            assert t.split("/")[2] in {f"edged_{d}" for d in ids}
    uids = [json.loads(p)["unique_id"] for t, p, _r in rec.messages
            if t.startswith("homeassistant/") and p]
    assert len(uids) == len(set(uids)) and len(uids) >= 10 * 6
    rec.close()
    fake.close()


def test_config_errors_are_key_errors(tmp_path: Path) -> None:
    from edged.config import parse_config
    from edged.errors import ConfigError

    for bad, needle in [("mqtt: {password_file: /x}", "mqtt.password_file"),
                        ("mqtt: {device_id: 'a/b'}", "mqtt.device_id"),
                        ("mqtt: {predictions_interval_s: .inf}", "mqtt.predictions_interval_s"),
                        ("mqtt: {topic_prefix: 'edged/#'}", "mqtt.topic_prefix"),
                        ("mqtt: {tls: {cert: /a.pem}}", "mqtt.tls")]:
        with pytest.raises(ConfigError) as exc:
            parse_config(bad, check_files=False)
        assert needle in str(exc.value), (bad, str(exc.value))
    no_section = tmp_path / "c.yaml"
    no_section.write_text("log: {level: INFO}\n")
    r = subprocess.run([sys.executable, "-m", "edged", "mqtt", "--config", str(no_section)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 78 and "no mqtt: section" in r.stderr
