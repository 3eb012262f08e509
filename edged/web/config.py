"""The ``web:`` section of the daemon's YAML file, read by ``edged web``; the daemon ignores it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import ConfigDict, Field, field_validator, model_validator

from edged.companion import CurveClientConfig


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebConfig(CurveClientConfig):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    listen: str = Field("127.0.0.1:8080", description="HOST:PORT; beyond loopback a token or "
                        "a password is required")
    token_file: Path | None = Field(None, description="file holding the access token "
                                    "(first line); relative: in $CREDENTIALS_DIRECTORY")
    username: str | None = Field(None, description="basic auth user, with password_file")
    password_file: Path | None = Field(None, description="basic auth password (first line)")
    max_clients: int = Field(8, ge=1, le=100, description="live page streams at once")
    max_fps: float = Field(15.0, gt=0, le=60, description="frames per second to each page")

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        split_listen(v)
        return v

    @model_validator(mode="after")
    def _safe(self) -> WebConfig:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("password_file: basic auth needs web.username and "
                             "web.password_file together")
        host, _ = split_listen(self.listen)
        if not is_loopback_host(host) and self.token_file is None and self.password_file is None:
            raise ValueError(f"listen: {host} is not loopback: anyone on the network could "
                             "watch the camera; set web.token_file (or web.username + "
                             "web.password_file), or use an SSH tunnel to 127.0.0.1")
        return self
