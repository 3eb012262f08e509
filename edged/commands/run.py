from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edged.config import Config, load_config
from edged.daemon import Daemon, StopRequested
from edged.errors import ConfigError, EdgedError, PublishError
from edged.logsetup import setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", type=Path,
                   help="YAML config (default: the embedded demo: synthetic shapes, demo model)")
    p.add_argument("--endpoint", help="override publish.endpoint")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config) if args.config else Config()
        if args.endpoint:
            data = config.model_dump()
            data["publish"]["endpoint"] = args.endpoint
            config = Config.model_validate(data)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    setup_logging(config.log.level)
    log = logging.getLogger("edged")
    daemon = Daemon(config, args.config)
    daemon.install_signal_handlers()
    try:
        daemon.start()
    except StopRequested:
        log.info("stopped while starting")
        daemon.shutdown()
        return 0
    except EdgedError as exc:
        log.error("%s", exc)
        hint = endpoint_hint(exc, args.endpoint)
        if hint:
            log.error("%s", hint)
        daemon.shutdown()
        return exc.exit_code
    return daemon.run()


def endpoint_hint(exc: EdgedError, endpoint_option: str | None) -> str | None:
    """A publisher that cannot create its ipc socket (typically /run/edged as a non-root user,
    which systemd's RuntimeDirectory= creates for the service): say how to publish elsewhere."""
    text = str(exc)
    if not isinstance(exc, PublishError) or endpoint_option:
        return None
    if not (text.startswith(("cannot create", "cannot use")) or "ermission denied" in text):
        return None
    folder = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return (f"hint: outside the systemd service (which creates /run/edged), publish where you "
            f"may write: edged run --endpoint ipc://{folder}/edged/predictions.sock "
            f"(or --endpoint tcp://127.0.0.1:5556), and subscribe to the same endpoint")
