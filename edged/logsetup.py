"""Logging: the journal with structured fields under systemd, plain stderr otherwise.

Under systemd (``$JOURNAL_STREAM`` or ``$INVOCATION_ID`` set) with systemd-python importable
(apt ``python3-systemd``), records go through ``JournalHandler``: ``extra={"EDGED_STAGE": …}``
becomes a journal field (``journalctl -u edged EDGED_STAGE=source``). Without systemd-python
under systemd, stderr lines carry a ``<N>`` syslog priority prefix, which journald understands,
and no timestamp (the journal adds its own).
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class _SyslogPrefixFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        return f"<{prio}>{super().format(record)}"


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def setup_logging(level: str = "INFO") -> str:
    """Configure the 'edged' loggers; returns which handler was chosen ('journal',
    'stderr-journal' or 'stderr')."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    if under_systemd():
        try:
            from systemd.journal import JournalHandler

            root.addHandler(JournalHandler(SYSLOG_IDENTIFIER="edged"))
            return "journal"
        except ImportError:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_SyslogPrefixFormatter("%(name)s: %(message)s"))
            root.addHandler(handler)
            return "stderr-journal"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return "stderr"
