"""Give the calling thread its name at the OS level (``top -H``, ``py-spy``, /proc/PID/task),
so CPU time can be told apart per pipeline stage from outside the process."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_PR_SET_NAME = 15
_libc = None


def set_os_thread_name(name: str) -> None:
    """Best effort: Linux keeps 15 bytes; elsewhere nothing happens."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass
