"""The status message (topic ``publish.status_topic``) and the one-line systemd STATUS=."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edged.frames import monotonic_ns
from edged.health import Health
from edged.messages import STATUS_SCHEMA
from edged.stats import Stats

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C where the kernel exposes it (a Pi does), else None."""
    try:
        return round(int(path.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


class Running(Protocol):
    """What the status reads from the parts that run now (the supervisor)."""

    def source_description(self) -> str: ...
    def model_description(self) -> dict[str, Any]: ...
    def labels_origin(self) -> str | None: ...
    def subscribers(self) -> int: ...
    def extras(self) -> dict[str, Any]: ...


class StatusReport:
    def __init__(self, run_id: str, stats: Stats, health: Health,
                 running: Callable[[], Running | None]) -> None:
        self.run_id, self.stats, self.health = run_id, stats, health
        self.started = time.monotonic()
        self._running = running

    def status(self) -> dict[str, Any]:
        fps_in, fps_out = self.stats.rates()
        r = self._running()
        return {
            "schema": STATUS_SCHEMA, "run_id": self.run_id, "state": self.health.state,
            "reason": self.health.reason, "uptime_s": round(time.monotonic() - self.started, 3),
            "publish_ns": monotonic_ns(), "fps_in": round(fps_in, 2),
            "fps_out": round(fps_out, 2), "frames": self.stats.counts(),
            "dropped": self.stats.drops(),
            "inference_ms": self.stats.inference_percentiles(),
            "subscribers": r.subscribers() if r else 0,
            "source": r.source_description() if r else "",
            "model": r.model_description() if r else {},
            "labels": r.labels_origin() if r else None,
            "temperature_c": cpu_temperature(),
            **(r.extras() if r else {}),
        }

    def payload(self) -> bytes:
        return json.dumps(self.status(), separators=(",", ":")).encode()

    def line(self) -> str:
        s = self.stats
        fps = s.published / max(1e-9, time.monotonic() - self.started)
        dropped = sum(s.drops().values())
        r = self._running()
        subs = r.subscribers() if r else 0
        text = f"{self.health.state}: {fps:.1f} fps, {subs} subscribers, {dropped} dropped"
        return text + (f" ({self.health.reason})" if self.health.reason else "")
