"""The bridge's loop: ZeroMQ messages from the daemon in, MQTT messages out.

    edged.status       -> <prefix>/status (retained), availability online/offline
    edged.events       -> <prefix>/events (QoS 1, never retained, queued while the broker is away)
    edged.predictions  -> <prefix>/predictions (per-label summary, throttled, retained)
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import zmq

from edged.mqtt import discovery
from edged.mqtt.config import MqttConfig
from edged.mqtt.link import BrokerError, Link, Note
from edged.mqtt.outbox import Outbox
from edged.mqtt.summary import Throttle, summarize

log = logging.getLogger("edged.mqtt")
EVENTS_TOPIC = "edged.events"
MAX_INBOUND = 1 << 20  # a message from the daemon larger than this is not ours
NOTES_PER_TURN = 200  # broker notes handled between two looks at the daemon's socket
REANNOUNCE_MIN_S = 10.0  # Home Assistant birth messages closer than this: one announce


class Counters:
    def __init__(self) -> None:
        self.predictions_published = 0
        self.predictions_seen = 0
        self.statuses = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Bridge:
    def __init__(self, config: MqttConfig, endpoint: str, topics: dict[str, str],
                 zones: list[str], curve: dict[str, bytes] | None = None,
                 context: zmq.Context | None = None) -> None:
        self.config = config
        self.topics = topics  # role -> zmq topic: status, predictions, events
        self.zones = zones
        self.stop_event = threading.Event()
        self.counters = Counters()
        self.throttle = Throttle(config.predictions_interval_s, config.predictions_on_change)
        self.entities = discovery.entities(config, zones) if config.discovery else []
        self._entity_topics = {e.topic(config) for e in self.entities}
        subs = [f"{config.discovery_prefix}/status",  # Home Assistant's birth message
                f"{config.discovery_prefix}/+/{config.node_id}/+/config"
                ] if config.discovery else []
        self.link = Link(config, subs)
        self.outbox = Outbox(config.queue_events)
        self._ever_connected = False
        self._online = False
        self._last_status: dict[str, Any] | None = None
        self._last_status_at = 0.0
        self._last_warning = 0.0
        self._announced_at = -REANNOUNCE_MIN_S
        self._announce_due: float | None = None
        self._sock = self._subscribe(endpoint, curve, context or zmq.Context.instance())

    def _subscribe(self, endpoint: str, curve: dict[str, bytes] | None,
                   context: zmq.Context) -> zmq.Socket:
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 1000)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_INBOUND)
        if curve:
            sock.curve_serverkey = curve["server_public"]
            sock.curve_publickey = curve["public"]
            sock.curve_secretkey = curve["secret"]
        for topic in self.topics.values():
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        sock.connect(endpoint)
        return sock

    # --- the loop ----------------------------------------------------------------------
    def run(self) -> int:
        next_try, delay = 0.0, 1.0
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if not self._ever_connected and now >= next_try:
                    if self._try_connect():
                        self._ever_connected = True
                    else:
                        next_try, delay = now + delay, min(delay * 2, 30.0)
                self._drain_notes()
                if self._sock.poll(50):
                    self._on_zmq(self._sock.recv_multipart(copy=True))
                self._pump()
                self._tick(time.monotonic())
        finally:
            self.close()
        return 0

    def _try_connect(self) -> bool:
        try:
            self.link.connect_once()
            return True
        except BrokerError:
            raise
        except OSError as exc:
            self._warn(f"broker {self.config.host}:{self.config.port} unreachable ({exc}); "
                       "retrying with backoff")
            return False

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning(text)

    def _drain_notes(self) -> None:
        for _ in range(NOTES_PER_TURN):  # a flood of broker messages cannot starve the daemon
            try:
                note = self.link.notes.get_nowait()
            except queue.Empty:
                return
            self._on_note(note)

    def _on_note(self, note: Note) -> None:
        if note.kind == "fatal":
            raise BrokerError(f"mqtt: {note.text} (check mqtt.username and mqtt.password_file)")
        if note.kind == "connected":
            log.info("connected to broker %s:%d", self.config.host, self.config.port)
            self._announce()
        elif note.kind == "disconnected" and self._ever_connected:
            self._online = False
            self._warn(f"broker connection lost ({note.text}); events are queued")
        elif note.kind == "published":
            self.outbox.acknowledged(note.mid)
        elif note.kind == "message":
            self._on_broker_message(note)

    def _on_broker_message(self, note: Note) -> None:
        if note.topic == f"{self.config.discovery_prefix}/status":
            if note.payload == b"online":  # Home Assistant (re)started: announce again
                self._announce_due = max(time.monotonic(),
                                         self._announced_at + REANNOUNCE_MIN_S)
        elif note.payload and note.retained and discovery.stale_topic(
                self.config, note.topic, self._entity_topics):
            log.info("removing entity no longer configured: %s", note.topic)
            self.link.publish(note.topic, b"", qos=1, retain=True)

    def _announce(self) -> None:
        self._publish_discovery()
        if self._last_status is not None:
            self._publish_status(self._last_status)
        self._online = not self._daemon_alive(time.monotonic())  # force the retained state out
        self._set_online(not self._online)

    def _publish_discovery(self) -> None:
        self._announced_at, self._announce_due = time.monotonic(), None
        for e in self.entities:
            self.link.publish(e.topic(self.config), json.dumps(e.payload), qos=1, retain=True)

    # --- from the daemon -----------------------------------------------------------------
    def _on_zmq(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return
        topic = frames[0].decode(errors="replace")
        if topic == self.topics["events"]:
            self._on_event(frames[1])
            return
        try:
            raw = json.loads(frames[1])
        except ValueError:
            return
        if not isinstance(raw, dict):
            return
        if topic == self.topics["status"]:
            self._on_status(raw)
        elif topic == self.topics["predictions"]:
            self.counters.predictions_seen += 1
            out = self.throttle.offer(summarize(raw), time.monotonic())
            if out is not None:
                self._publish_summary(out)

    def _on_event(self, payload: bytes) -> None:
        if not self.outbox.put(payload):
            self._warn("event queue full while the broker is away: newest events dropped "
                       "(mqtt.queue_events)")

    def _pump(self) -> None:
        topic, qos = f"{self.config.prefix}/events", self.config.qos.events
        self.outbox.pump(lambda p: self.link.publish_tracked(topic, p, qos),
                         self.link.connected, self.link.generation)

    def _on_status(self, raw: dict[str, Any]) -> None:
        self.counters.statuses += 1
        self._last_status, self._last_status_at = raw, time.monotonic()
        if self.link.connected:
            self._publish_status(raw)
            self._set_online(True)

    def _publish_status(self, raw: dict[str, Any]) -> None:
        body = {**raw, "bridge": {**self.counters.as_dict(), "events_delivered":
                                  self.outbox.delivered, "events_dropped": self.outbox.dropped,
                                  "broker_messages_dropped": self.link.inbound_dropped,
                                  "events_queued": len(self.outbox.pending)}}
        self.link.publish(f"{self.config.prefix}/status", json.dumps(body),
                          qos=self.config.qos.status, retain=True)
        zones = zone_counts(raw)
        if zones is not None:
            self.link.publish(f"{self.config.prefix}/zones", json.dumps(zones),
                              qos=self.config.qos.status, retain=True)

    def _publish_summary(self, summary: dict[str, Any]) -> None:
        if self.link.publish(f"{self.config.prefix}/predictions", json.dumps(summary),
                             qos=self.config.qos.predictions, retain=True):
            self.counters.predictions_published += 1

    def _daemon_alive(self, now: float) -> bool:
        return (self._last_status is not None
                and now - self._last_status_at < self.config.stale_after_s)

    def _set_online(self, online: bool) -> None:
        if online != self._online and self.link.connected:
            self._online = online
            self.link.publish(f"{self.config.prefix}/availability",
                              "online" if online else "offline", qos=1, retain=True)

    def _tick(self, now: float) -> None:
        if self._announce_due is not None and now >= self._announce_due and self.link.connected:
            self._publish_discovery()  # birth messages coalesced: one announce per window
        out = self.throttle.due(now)
        if out is not None:
            self._publish_summary(out)
        if self._online and not self._daemon_alive(now):
            log.warning("no status from the daemon for %.0f s: availability offline",
                        self.config.stale_after_s)
            self._set_online(False)

    def close(self) -> None:
        self._sock.close(linger=0)
        if self._ever_connected:
            self.link.close(goodbye=(f"{self.config.prefix}/availability", "offline"))


def zone_counts(status: dict[str, Any]) -> dict[str, int] | None:
    """``{zone: objects inside}`` from the status's events counts, when the daemon has zones."""
    events = status.get("events")
    zones = events.get("zones") if isinstance(events, dict) else status.get("zones")
    if not isinstance(zones, dict):
        return None
    out = {}
    for name, value in zones.items():
        if isinstance(value, dict):
            inside = value.get("count", value.get("inside", value))
            out[str(name)] = sum(inside.values()) if isinstance(inside, dict) else int(inside or 0)
        elif isinstance(value, int | float):
            out[str(name)] = int(value)
    return out
