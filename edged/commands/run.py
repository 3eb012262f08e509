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
        return _exit(daemon, 0)
    except EdgedError as exc:
        log.error("%s", exc)
        hint = endpoint_hint(exc, args.endpoint)
        if hint:
            log.error("%s", hint)
        daemon.shutdown()
        return _exit(daemon, exc.exit_code)
    return _exit(daemon, daemon.run())


def _exit(daemon: Daemon, code: int) -> int:
    """The exit code; or, when a pipeline thread hung (an invoke that never returns, e.g. a
    wedged Edge TPU), end the process here. Returning would run interpreter shutdown: the
    runtime's objects torn down under a thread still inside them (a crash or another hang)
    and ZeroMQ's context term waiting on sockets that thread still holds. os._exit skips
    all that; the kernel closes the sockets and the ipc lock."""
    if not daemon.hung:
        return code
    logging.getLogger("edged").error("a pipeline thread did not stop; exiting without "
                                     "waiting for it")
    for handler in logging.getLogger().handlers + logging.getLogger("edged").handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
