"""Reading files named in the config without trusting them: regular files only, size-capped.

Why: ``open()`` on a FIFO blocks until a writer comes (and Python retries the read after every
signal, so even SIGTERM is ignored), and ``/dev/zero`` or a sparse 1 GB file is read to the
end. Here the file is opened with O_NONBLOCK (an open that never waits), then ``fstat`` of
the descriptor itself (not of the name, which could be swapped in between) decides: anything
but a regular file is refused at once, and so is a file over the cap, before a byte is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MB = 1024 * 1024


class FileRefused(Exception):
    """The path cannot be read as asked; the message says why, without the path."""


def kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def describe_size(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The contents of a regular file of at most ``max_bytes``; FileRefused otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise FileRefused("not found") from None
    except IsADirectoryError:
        raise FileRefused("is a directory, expected a file") from None
    except OSError as exc:
        raise FileRefused(f"cannot be opened ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"is {kind_of(st.st_mode)}, expected a regular file")
        if st.st_size > max_bytes:
            raise FileRefused(f"is {describe_size(st.st_size)}, more than the "
                              f"{describe_size(max_bytes)} allowed")
        return _read_at_most(fd, max_bytes)
    finally:
        os.close(fd)


def _read_at_most(fd: int, max_bytes: int) -> bytes:
    """Read to the end, but never more than ``max_bytes`` (the file may grow after fstat)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, min(MB, max_bytes + 1 - total))
        except OSError as exc:
            raise FileRefused(f"cannot be read ({exc.strerror})") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise FileRefused(f"grew past the {describe_size(max_bytes)} allowed while read")


def check_regular(path: Path | str, allow_dir: bool = False) -> str | None:
    """Why ``path`` cannot be used as an input file (None when it can), without opening it.

    Follows symlinks (a link to a model is normal); a name that does not exist is "not found".
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(st.st_mode) or (allow_dir and stat.S_ISDIR(st.st_mode)):
        return None
    return f"is {kind_of(st.st_mode)}, expected a regular file" + (
        " or a folder" if allow_dir else "")
