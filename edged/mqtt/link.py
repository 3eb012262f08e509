"""The broker side: a paho-mqtt 2.x client with the Last Will, TLS, credentials and a
bounded outgoing queue.

Why paho-mqtt: it is the Eclipse reference client, pure Python (nothing to build on a Pi),
maintained, and its outgoing queue already keeps QoS 1 messages in order across reconnects,
which is exactly the "events are not lost while the broker is away" promise (bounded by
``max_queued_messages``; in memory, so a restart of the bridge itself loses what is queued).

Callbacks run on paho's network thread; they only hand notes to the bridge's thread."""

from __future__ import annotations

import logging
import queue
import ssl
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edged.errors import ConfigError, EdgedError
from edged.mqtt.config import MqttConfig
from edged.security import credential_path

log = logging.getLogger("edged.mqtt")
# Inbound messages (Home Assistant's birth message, retained discovery configs) are small and
# only ever compared with "online" or tested for emptiness: anyone who may publish on the
# broker can send them, so each is cut to this many bytes and at most this many wait.
INBOUND_PAYLOAD_BYTES = 64
INBOUND_PENDING_MAX = 1000

# CONNACK codes that retrying cannot fix: MQTT 3.1.1 codes 1-5 and their MQTT 5 names
FATAL_CONNACK = {1, 2, 4, 5, 128, 129, 130, 132, 133, 134, 135, 138, 140}


class BrokerError(EdgedError):
    """The broker refused us for a reason that retrying cannot fix (credentials, TLS)."""

    exit_code = 78


@dataclass
class Note:
    kind: str  # connected | disconnected | fatal | message
    text: str = ""
    topic: str = ""
    payload: bytes = b""
    retained: bool = False
    mid: int = 0


def read_password(config: MqttConfig) -> str | None:
    if config.password_file is None:
        return None
    path = credential_path(config.password_file)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"mqtt.password_file: cannot read {path} ({exc})"]) from None
    return text.splitlines()[0] if text else ""


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    try:
        ctx = ssl.create_default_context(
            cafile=str(config.tls.ca) if config.tls.ca else None)
        if config.tls.cert and config.tls.key:
            ctx.load_cert_chain(str(config.tls.cert), str(config.tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([f"mqtt.tls: cannot load the certificates ({exc})"]) from None
    return ctx


class Link:
    def __init__(self, config: MqttConfig, subscriptions: list[str]) -> None:
        self.config = config
        self.notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
        self.subscriptions = subscriptions
        self.connected = False
        self.generation = 0  # connections so far (written by paho's thread only)
        self.inbound_dropped = 0  # messages dropped while INBOUND_PENDING_MAX were waiting
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=config.client_id or f"edged-{config.device_id}",
                                  protocol=paho.MQTTv311, clean_session=True)
        self.client.max_queued_messages_set(config.queue_events)
        self.client.reconnect_delay_set(1, 30)
        self.client.will_set(f"{config.prefix}/availability", "offline", qos=1, retain=True)
        password = read_password(config)
        if config.username is not None:
            self.client.username_pw_set(config.username, password)
        ctx = tls_context(config)
        if ctx is not None:
            self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    # --- paho's thread -------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            code = int(reason.value)
            kind = "fatal" if code in FATAL_CONNACK else "disconnected"
            self.notes.put(Note(kind, f"the broker refused the connection: {reason}"))
            if kind == "fatal":
                client.disconnect()
            return
        self.generation += 1
        self.connected = True
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self.notes.put(Note("connected"))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected = False
        self.notes.put(Note("disconnected", str(reason)))

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if self.notes.qsize() >= INBOUND_PENDING_MAX:  # a flood: the bridge keeps up with
            self.inbound_dropped += 1                  # the daemon, not with the flood
            return
        self.notes.put(Note("message", topic=msg.topic[:512],
                            payload=bytes(msg.payload[:INBOUND_PAYLOAD_BYTES]),
                            retained=bool(msg.retain)))

    def _on_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self.notes.put(Note("published", mid=mid))

    # --- the bridge's thread -------------------------------------------------------------
    def connect_once(self) -> None:
        """One synchronous attempt. Raises BrokerError for TLS failures (retrying cannot help)
        and OSError for an unreachable broker (the caller retries with backoff)."""
        try:
            self.client.connect(self.config.host, self.config.port, self.config.keepalive)
        except ssl.SSLCertVerificationError as exc:
            raise BrokerError(f"mqtt.tls: the broker's certificate at {self.config.host}:"
                              f"{self.config.port} is not trusted ({exc.verify_message}); "
                              "check mqtt.tls.ca") from None
        except ssl.SSLError as exc:
            raise BrokerError(f"mqtt.tls: TLS with {self.config.host}:{self.config.port} "
                              f"failed ({exc.reason or exc}); is the port a TLS listener?"
                              ) from None
        self.client.loop_start()

    def publish_tracked(self, topic: str, payload: bytes, qos: int) -> int | None:
        """Publish and return the message id to wait for, or None if paho did not take it."""
        info = self.client.publish(topic, payload, qos=qos)
        ok = info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
        return info.mid if ok else None

    def publish(self, topic: str, payload: bytes | str, qos: int, retain: bool = False) -> bool:
        """False when the message was not accepted (not connected for QoS 0, queue full)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            return True
        return info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos > 0  # kept, sent on reconnect

    def close(self, goodbye: tuple[str, str] | None = None) -> None:
        if goodbye and self.connected:
            info = self.client.publish(goodbye[0], goodbye[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
