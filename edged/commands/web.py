"""``edged web --config PATH``: the preview page and Prometheus metrics (a separate process and
unit, systemd/edged-web.service). Reads the daemon's YAML file: the ``web:`` section (optional:
defaults to 127.0.0.1:8080) and ``publish`` to find the daemon. Exit 78 on a config error."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edged.config import Config, load_config
from edged.errors import ConfigError, EdgedError
from edged.logsetup import setup_logging
from edged.web.config import WebConfig, split_listen

DEFAULT_CONFIG = Path("/etc/edged/config.yaml")
log = logging.getLogger("edged.web")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", type=Path, default=DEFAULT_CONFIG,
                   help=f"the daemon's YAML file (default {DEFAULT_CONFIG})")


def page_config(config: Config) -> dict[str, Any]:
    """Zones and lines to draw (when the events feature is configured)."""
    def dump(items: Any) -> list[dict[str, Any]]:
        return [i.model_dump(mode="json") for i in items or []]
    return {"zones": dump(getattr(config, "zones", None)),
            "lines": dump(getattr(config, "lines", None))}


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        web = config.web or WebConfig()
        from edged.web.auth import Guard

        guard = Guard(web)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    try:
        from edged.web.metrics import Metrics
    except ModuleNotFoundError as exc:
        print(f"edged web: {exc.name} is not installed: pip install 'edged[web]'",
              file=sys.stderr)
        return 69
    from edged.framepub import frames_endpoint
    from edged.web.feed import Feed
    from edged.web.server import App, Server

    setup_logging(config.log.level)
    pub = config.publish
    curve = web.curve_keys()
    frames = (pub.frames_endpoint or frames_endpoint(pub.endpoint)) if pub.frames else None
    topics = {"status": pub.status_topic, "predictions": pub.topic, "events": "edged.events",
              "frames": "edged.frames"}
    feed = Feed(pub.endpoint, frames, topics, curve)
    stale = max(3 * pub.status_interval, 10.0)
    app = App(feed, Metrics(feed, stale), guard, page_config(config), web.max_clients,
              web.max_fps, stale)
    host, port = split_listen(web.listen)
    try:
        server = Server((host, port), app)
    except OSError as exc:
        print(f"edged web: cannot listen on {web.listen}: {exc.strerror}", file=sys.stderr)
        return 69
    feed.start()

    def on_signal(_signum: int, _frame: Any) -> None:
        app.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("serving http://%s:%d/ (daemon %s)", host, server.server_address[1], pub.endpoint)
    print(f"edged web: http://{web.listen}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except EdgedError as exc:
        print(f"edged web: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        server.server_close()
        feed.stop()
    return 0
