"""Logging: the journal with structured fields under systemd, plain stderr otherwise.

Under systemd (``$JOURNAL_STREAM`` or ``$INVOCATION_ID`` set) with systemd-python importable
(apt ``python3-systemd``), records go through ``JournalHandler`` with these fields besides
MESSAGE and PRIORITY:

- ``EDGED_STAGE``: the pipeline stage that logged (source, preprocess, inference, decode,
  publish, daemon, ...), from the logger name unless given with ``extra={"EDGED_STAGE": …}``;
  ``journalctl -u edged EDGED_STAGE=source`` shows only the camera's messages;
- ``EDGED_SEQ``, or any other upper-case ``EDGED_*`` key, when passed with ``extra=``;
- the constant ``fields`` given to :func:`setup_logging` (e.g. ``EDGED_RUN_ID``).

Without systemd-python under systemd, stderr lines carry a ``<N>`` syslog priority prefix,
which journald understands, and no timestamp (the journal adds its own). Outside systemd:
plain timestamped lines on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}

# logger name prefix -> stage; the longest matching prefix wins
STAGES = {
    "edged.sources": "source",
    "edged.preprocess": "preprocess",
    "edged.model": "inference",
    "edged.runtime": "inference",
    "edged.tasks": "decode",
    "edged.publish": "publish",
    "edged.frames": "publish",
    "edged.pipeline": "pipeline",
    "edged.daemon": "daemon",
    "edged": "daemon",
}


def stage_of(logger_name: str) -> str:
    best = ""
    for prefix in STAGES:
        if (logger_name == prefix or logger_name.startswith(prefix + ".")) and \
                len(prefix) > len(best):
            best = prefix
    return STAGES[best] if best else "other"


class StageFilter(logging.Filter):
    """Gives every record an ``EDGED_STAGE`` attribute (kept if the caller passed one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "EDGED_STAGE"):
            record.EDGED_STAGE = stage_of(record.name)
        return True


class _SyslogPrefixFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        return f"<{prio}>{super().format(record)}"


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def _journal_handler(fields: Mapping[str, str]) -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="edged", **fields)
    return handler


def setup_logging(level: str = "INFO", fields: Mapping[str, str] | None = None) -> str:
    """Configure logging for the process; returns which handler was chosen ('journal',
    'stderr-journal' or 'stderr'). ``fields`` are journal fields added to every record
    (upper-case names, e.g. ``{"EDGED_RUN_ID": run_id}``); stderr output ignores them."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    chosen = "stderr"
    handler: logging.Handler | None = None
    if under_systemd():
        handler = _journal_handler(dict(fields or {}))
        chosen = "journal"
        if handler is None:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_SyslogPrefixFormatter("%(name)s: %(message)s"))
            chosen = "stderr-journal"
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(StageFilter())
    root.addHandler(handler)
    return chosen
