"""``edged mqtt --config PATH``: the MQTT / Home Assistant bridge (a separate process and unit,
systemd/edged-mqtt.service). It reads the daemon's YAML file: the ``mqtt:`` section, and
``publish`` to find the daemon. Exit 0 on SIGTERM, 78 for a config, credential or TLS error."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from edged.config import load_config
from edged.errors import ConfigError, EdgedError
from edged.logsetup import setup_logging

DEFAULT_CONFIG = Path("/etc/edged/config.yaml")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", type=Path, default=DEFAULT_CONFIG,
                   help=f"the daemon's YAML file with an mqtt: section (default {DEFAULT_CONFIG})")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if config.mqtt is None:
            raise ConfigError([f"mqtt (line 1): {args.config} has no mqtt: section; add at "
                               "least 'mqtt: {host: BROKER}'"])
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    try:
        from edged.mqtt.bridge import Bridge
    except ModuleNotFoundError as exc:
        print(f"edged mqtt: {exc.name} is not installed: pip install 'edged[mqtt]'",
              file=sys.stderr)
        return 69
    setup_logging(config.log.level)
    curve = config.mqtt.curve_keys()
    zones = [z.name for z in getattr(config, "zones", None) or []]
    topics = {"status": config.publish.status_topic, "predictions": config.publish.topic,
              "events": "edged.events"}
    try:
        bridge = Bridge(config.mqtt, config.publish.endpoint, topics, zones, curve)
    except EdgedError as exc:
        print(f"edged mqtt: {exc}", file=sys.stderr)
        return exc.exit_code

    def on_signal(_signum: int, _frame: Any) -> None:
        bridge.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return bridge.run()
    except EdgedError as exc:
        logging.getLogger("edged.mqtt").error("%s", exc)
        print(f"edged mqtt: {exc}", file=sys.stderr)
        return exc.exit_code
