"""What the companion processes (``edged mqtt``, ``edged web``) share: they subscribe to the
daemon like any client, with a CURVE client key when the daemon's publish.curve is set."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from edged.sources.base import StrictModel


class CurveClientConfig(StrictModel):
    curve_server_key: Path | None = Field(None, description="the daemon's public key (.key) "
                                          "when publish.curve is set")
    curve_client_key: Path | None = Field(None, description="this companion's secret key "
                                          "(.key_secret) when publish.curve is set")

    @model_validator(mode="after")
    def _curve_pair(self) -> CurveClientConfig:
        if (self.curve_server_key is None) != (self.curve_client_key is None):
            raise ValueError("curve_server_key: goes together with curve_client_key")
        return self

    def curve_keys(self) -> dict[str, bytes] | None:
        """The keys for edged.client-style sockets, or None without CURVE."""
        if self.curve_server_key is None or self.curve_client_key is None:
            return None
        from edged.security import client_keys

        return client_keys(self.curve_server_key, self.curve_client_key)
