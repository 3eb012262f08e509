"""`edged mqtt` against a hostile publisher on the same broker (real Mosquitto, real bridge
process, real paho clients): a flood of Home Assistant birth messages and large retained
junk under the bridge's own discovery node. The bridge must not amplify the flood, must keep
delivering the daemon's events in order, and must stay small."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is in the dev extra")
from brokers import Broker, Recorder, wait_for  # noqa: E402
from test_mqtt_bridge import FakeDaemon, bridges, mqtt_section  # noqa: E402,F401

PERSON = "homeassistant/binary_sensor/edged_cam9/person_detected/config"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def flooder(broker: Broker):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", broker.port, 30)
    c.loop_start()
    return c


def test_a_birth_message_flood_is_not_amplified_and_events_still_flow(
        tmp_path: Path, bridges) -> None:  # noqa: F811
    broker = Broker(tmp_path / "broker").start()
    fake = FakeDaemon(f"ipc://{tmp_path}/p.sock")
    rec = Recorder(broker, ["homeassistant/binary_sensor/#", "edged/cam9/events"])
    b = bridges({"publish": {"endpoint": f"ipc://{tmp_path}/p.sock"},
                 "mqtt": mqtt_section(broker, "cam9", labels=["person"])}, tmp_path)
    wait_for(lambda: rec.on(PERSON), 30, "the first discovery")
    fake.wait_subscribers(3)
    fake.status()
    attacker = flooder(broker)
    t0 = time.monotonic()
    junk = b"x" * 262_144
    for i in range(200):  # 51 MB of junk under the bridge's own node, delivered live
        attacker.publish(f"homeassistant/binary_sensor/edged_cam9/junk{i}/config", junk,
                         qos=1, retain=True)
    infos = [attacker.publish("homeassistant/status", "online", qos=0) for _ in range(20_000)]
    for k in range(100):
        fake.event()
        fake.drain()
        if k % 10 == 0:
            fake.status()
    infos[-1].wait_for_publish(60)
    wait_for(lambda: len(rec.on("edged/cam9/events")) >= 100, 60, "the 100 events")
    seqs = list(dict.fromkeys(json.loads(p)["seq"] for p in rec.on("edged/cam9/events")))
    assert seqs == list(range(100))
    # Home Assistant did say "online": the bridge announces again, once the window allows
    wait_for(lambda: len(rec.on(PERSON)) >= 2, 30, "the coalesced re-announce")
    elapsed = time.monotonic() - t0
    announces = len(rec.on(PERSON)) - 1
    # one re-announce per 10 s window at most (plus the window the flood started in)
    assert 1 <= announces <= 2 + elapsed / 10, (announces, elapsed)
    assert b.proc.poll() is None and rss_mb(b.proc.pid) < 150
    print(f"20,000 birth messages + 200 x 256 KB junk: {announces} re-announces "
          f"in {elapsed:.1f} s, bridge RSS {rss_mb(b.proc.pid):.0f} MB")
    attacker.loop_stop()
    attacker.disconnect()
    assert b.stop() == 0
    rec.close()
    fake.close()
    broker.stop()
