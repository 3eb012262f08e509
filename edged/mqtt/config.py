"""The ``mqtt:`` section of the daemon's YAML file, read by ``edged mqtt``; the daemon
ignores it."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from edged.companion import CurveClientConfig
from edged.sources.base import StrictModel

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Qos = Literal[0, 1, 2]


class _Finite(StrictModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def default_device_id() -> str:
    """The hostname, made safe for MQTT topics and Home Assistant ids."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0])[:64]
    return name or "edged"


class MqttTls(_Finite):
    ca: Path | None = Field(None, description="CA certificate (PEM) that signed the broker's "
                            "certificate; omitted: the system's CAs")
    cert: Path | None = Field(None, description="client certificate (PEM), with key")
    key: Path | None = Field(None, description="client private key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> MqttTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert: a client certificate needs its key (tls.cert and tls.key)")
        return self


class MqttQos(_Finite):
    status: Qos = 1
    events: Qos = Field(1, description="events are queued while the broker is away")
    predictions: Qos = 0


class MqttConfig(_Finite, CurveClientConfig):
    host: str = Field("localhost", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    device_id: str = Field(default_factory=default_device_id,
                           description="topics go under edged/<device_id>/ (default: hostname)")
    client_id: str | None = Field(None, description="default: edged-<device_id>")
    topic_prefix: str | None = Field(None, description="default: edged/<device_id>")
    username: str | None = None
    password_file: Path | None = Field(None, description="file holding the password "
                                       "(first line); relative: in $CREDENTIALS_DIRECTORY")
    tls: MqttTls | None = None
    keepalive: int = Field(30, ge=5, le=3600, description="seconds")
    qos: MqttQos = Field(default_factory=MqttQos)
    labels: list[str] = Field(["person"], description="labels that get a Home Assistant "
                              "occupancy binary sensor and a count sensor")
    discovery: bool = Field(True, description="publish Home Assistant discovery configs")
    discovery_prefix: str = Field("homeassistant", min_length=1)
    predictions_interval_s: float = Field(
        1.0, ge=0, le=3600, description="at most one predictions summary per interval")
    predictions_on_change: bool = Field(
        True, description="publish a summary only when the per-label counts change")
    queue_events: int = Field(10_000, ge=1, le=1_000_000, description="events held in "
                              "memory while the broker is unreachable (then newest dropped)")
    stale_after_s: float = Field(15.0, gt=0, le=3600, description="availability goes offline "
                                 "when the daemon sends no status for this long")

    @field_validator("device_id")
    @classmethod
    def _device(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("expected 1-64 letters, digits, '_' or '-' (it is part of topics)")
        return v

    @field_validator("topic_prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c in v for c in "#+\0") or v.startswith("/")
                              or v.endswith("/")):
            raise ValueError("a topic without wildcards (+, #) and without a leading or "
                             "trailing '/'")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        if len(v) > 200 or any(not s or len(s) > 100 for s in v):
            raise ValueError("at most 200 labels of 1-100 characters")
        return v

    @model_validator(mode="after")
    def _together(self) -> MqttConfig:
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file: needs mqtt.username too")
        return self

    @property
    def prefix(self) -> str:
        return self.topic_prefix or f"edged/{self.device_id}"

    @property
    def node_id(self) -> str:
        return f"edged_{self.device_id}"
