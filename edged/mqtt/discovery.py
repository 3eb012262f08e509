"""Home Assistant MQTT discovery: pure functions from the bridge's config to retained config
messages (topic, payload). Entities: an occupancy binary sensor and a count sensor per
configured label, a count sensor per zone, and health sensors (fps, inference ms, temperature).

Topic: ``<discovery_prefix>/<component>/<node_id>/<object_id>/config``; an empty retained
payload on the same topic removes the entity."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edged import __version__
from edged.mqtt.config import MqttConfig


@dataclass(frozen=True)
class Entity:
    component: str  # binary_sensor | sensor
    object_id: str
    payload: dict[str, Any]

    def topic(self, config: MqttConfig) -> str:
        return (f"{config.discovery_prefix}/{self.component}/{config.node_id}/"
                f"{self.object_id}/config")


def slug(text: str) -> str:
    """An object id fragment: lower case letters, digits and '_' only."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s or "x"


def device_block(config: MqttConfig) -> dict[str, Any]:
    return {"identifiers": [config.node_id], "name": f"edged {config.device_id}",
            "model": "edged inference daemon", "manufacturer": "edged",
            "sw_version": __version__}


def _common(config: MqttConfig, component: str, object_id: str, name: str,
            state_topic: str) -> dict[str, Any]:
    # default_entity_id replaced object_id in Home Assistant 2025.10 (object_id gone in 2026.4)
    uid = f"{config.node_id}_{object_id}"
    return {"name": name, "unique_id": uid,
            "default_entity_id": f"{component}.{slug(uid)}", "state_topic": state_topic,
            "availability_topic": f"{config.prefix}/availability",
            "payload_available": "online", "payload_not_available": "offline",
            "device": device_block(config)}


def _jinja_key(key: str) -> str:
    return json.dumps(key)  # a quoted string literal, safe inside a template


def label_entities(config: MqttConfig) -> list[Entity]:
    out = []
    state = f"{config.prefix}/predictions"
    for label in config.labels:
        count = f"(value_json.counts[{_jinja_key(label)}] | default(0) | int)"
        oid = f"{slug(label)}_detected"
        p = _common(config, "binary_sensor", oid, f"{label} detected", state)
        p.update(device_class="occupancy", value_template=f"{{{{ 'ON' if {count} > 0 "
                 "else 'OFF' }}", payload_on="ON", payload_off="OFF")
        out.append(Entity("binary_sensor", oid, p))
        oid = f"{slug(label)}_count"
        p = _common(config, "sensor", oid, f"{label} count", state)
        p.update(value_template=f"{{{{ {count} }}}}", state_class="measurement",
                 unit_of_measurement="objects", icon="mdi:counter")
        out.append(Entity("sensor", oid, p))
    return out


def zone_entities(config: MqttConfig, zones: list[str]) -> list[Entity]:
    out = []
    for zone in zones:
        oid = f"zone_{slug(zone)}_count"
        p = _common(config, "sensor", oid, f"{zone} zone count", f"{config.prefix}/zones")
        p.update(value_template=f"{{{{ value_json[{_jinja_key(zone)}] | default(0) | int }}}}",
                 state_class="measurement", unit_of_measurement="objects", icon="mdi:vector-square")
        out.append(Entity("sensor", oid, p))
    return out


def health_entities(config: MqttConfig) -> list[Entity]:
    status = f"{config.prefix}/status"
    specs = [
        ("fps", "frames per second", "{{ value_json.fps_out }}",
         {"unit_of_measurement": "fps", "state_class": "measurement", "icon": "mdi:speedometer"}),
        ("inference_ms", "inference time", "{{ value_json.inference_ms.p50 | default(0) }}",
         {"unit_of_measurement": "ms", "device_class": "duration", "state_class": "measurement"}),
        ("temperature", "CPU temperature", "{{ value_json.temperature_c }}",
         {"unit_of_measurement": "°C", "device_class": "temperature",
          "state_class": "measurement"}),
        ("state", "state", "{{ value_json.state }}", {"icon": "mdi:state-machine"}),
    ]
    out = []
    for oid, name, template, extra in specs:
        p = _common(config, "sensor", oid, name, status)
        p.update(value_template=template, entity_category="diagnostic", **extra)
        out.append(Entity("sensor", oid, p))
    return out


def entities(config: MqttConfig, zones: list[str]) -> list[Entity]:
    return label_entities(config) + zone_entities(config, zones) + health_entities(config)


def stale_topic(config: MqttConfig, topic: str, current: set[str]) -> bool:
    """True for a retained discovery config of this node that the config no longer has."""
    head = f"{config.discovery_prefix}/"
    if not topic.startswith(head) or not topic.endswith("/config"):
        return False
    parts = topic[len(head):].split("/")
    return len(parts) == 4 and parts[1] == config.node_id and topic not in current
