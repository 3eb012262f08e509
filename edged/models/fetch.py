"""Download catalogue files: atomic (a hidden .part file, verified, then renamed), resumed with
HTTP Range after an interrupted transfer, retried with backoff, refused when the bytes or the
TFLite structure do not match the catalogue. Standard library only."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edged import __version__
from edged.errors import EX_UNAVAILABLE, EdgedError
from edged.models.catalog import EDGETPU_OP, Entry, Expect, RemoteFile
from edged.models.tensors import read_signature
from edged.runtime.flatbuf import FlatbufferError, summarize

EX_DATAERR = 65
CHUNK = 64 * 1024

Progress = Callable[[str, int, int | None], None]  # file, bytes so far, total (None: unknown)


class FetchError(EdgedError):
    """The file could not be downloaded (network, HTTP error, not writable)."""

    exit_code = EX_UNAVAILABLE


class VerifyError(FetchError):
    """The bytes arrived but are not the catalogue's file: refused, nothing installed."""

    exit_code = EX_DATAERR


class _Retryable(Exception):
    pass


@dataclass(frozen=True)
class Options:
    mirror: str | None = None  # base URL serving the same file names (http(s):// or file://)
    retries: int = 4
    timeout: float = 30.0  # seconds without a byte before an attempt counts as failed
    backoff_s: float = 0.5
    progress: Progress | None = None
    log: Callable[[str], None] = lambda _msg: None


def source_url(remote: RemoteFile, mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{remote.file}" if mirror else remote.url


def verify(path: Path, remote: RemoteFile, expect: Expect | None = None) -> None:
    """VerifyError unless ``path`` holds the catalogue's bytes (and, for a model, structure)."""
    data = path.read_bytes()
    name = remote.file
    if remote.size is not None and len(data) != remote.size:
        raise VerifyError(f"{name}: {len(data)} bytes, expected {remote.size} "
                          "(truncated or a different file)")
    if remote.sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != remote.sha256:
            raise VerifyError(f"{name}: sha256 {got} does not match the catalogue's "
                              f"{remote.sha256}")
    elif remote.git_blob_sha1 is not None:
        got = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
        if got != remote.git_blob_sha1:
            raise VerifyError(f"{name}: git blob id {got} does not match the upstream "
                              f"{remote.git_blob_sha1} ({len(data)} bytes: truncated or a "
                              "different file)")
    if expect is not None:
        check_structure(name, data, expect)


def check_structure(name: str, data: bytes, expect: Expect) -> None:
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise VerifyError(f"{name}: not a TFLite model (no 'TFL3' identifier)")
    try:
        ops = {c for c in summarize(data).operator_codes if isinstance(c, str)}
        sig = read_signature(data)
    except FlatbufferError as exc:
        raise VerifyError(f"{name}: truncated or corrupt TFLite file: {exc}") from None
    shape, dtype = expect.input
    got_in = [(t.shape, t.dtype) for t in sig.inputs]
    if got_in != [(shape, dtype)]:
        raise VerifyError(f"{name}: inputs {[str(t) for t in sig.inputs]}, expected one "
                          f"{'x'.join(map(str, shape))} {dtype} input")
    if len(sig.outputs) != expect.outputs:
        raise VerifyError(f"{name}: {len(sig.outputs)} outputs, expected {expect.outputs}")
    missing = [op for op in expect.custom_ops if op not in ops]
    if missing:
        raise VerifyError(f"{name}: custom operators {missing} missing (has {sorted(ops)})")
    if EDGETPU_OP in ops and EDGETPU_OP not in expect.custom_ops:
        raise VerifyError(f"{name}: compiled for the Coral Edge TPU ('{EDGETPU_OP}'), "
                          "expected a CPU model")


def is_installed(entry: Entry, dest: Path) -> bool:
    """True when every file of ``entry`` is in ``dest`` and verifies."""
    try:
        for remote in entry.files():
            verify(dest / remote.file, remote, entry.expect if remote is entry.model else None)
    except (OSError, VerifyError):
        return False
    return True


def fetch_entry(entry: Entry, dest: Path, opts: Options) -> list[tuple[Path, bool]]:
    """Fetch the model and its labels into ``dest``: [(path, downloaded?)]."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {dest}: {exc.strerror} (use --dir DIR, or sudo)") from None
    return [fetch_file(remote, dest, opts, entry.expect if remote is entry.model else None)
            for remote in entry.files()]


def fetch_file(remote: RemoteFile, dest: Path, opts: Options,
               expect: Expect | None = None) -> tuple[Path, bool]:
    final = dest / remote.file
    if final.exists():
        try:
            verify(final, remote, expect)
            opts.log(f"unchanged: {final} (verified)")
            return final, False
        except VerifyError as exc:
            opts.log(f"replacing {final}: {exc}")
    part = dest / f".{remote.file}.part"
    url = source_url(remote, opts.mirror)
    for fresh_start in (False, True):
        if fresh_start:
            part.unlink(missing_ok=True)
        resumed = _download_with_retries(url, part, remote, opts)
        try:
            verify(part, remote, expect)
            break
        except VerifyError:
            if resumed and not fresh_start:
                opts.log(f"{remote.file}: the resumed file does not verify, downloading it again")
                continue
            part.unlink(missing_ok=True)
            raise
    _fsync(part)
    os.replace(part, final)
    _fsync(dest)
    opts.log(f"fetched: {final} ({final.stat().st_size} bytes, verified)")
    return final, True


def _download_with_retries(url: str, part: Path, remote: RemoteFile, opts: Options) -> bool:
    """Download into ``part``; True if any attempt resumed a partial file."""
    resumed = False
    last = ""
    for attempt in range(opts.retries + 1):
        if attempt:
            delay = min(opts.backoff_s * 2 ** (attempt - 1), 10.0)
            opts.log(f"{remote.file}: {last}; retrying in {delay:.1f} s "
                     f"(attempt {attempt + 1} of {opts.retries + 1})")
            time.sleep(delay)
        try:
            resumed |= _download(url, part, remote, opts)
            return resumed
        except _Retryable as exc:
            last = str(exc)
    part.unlink(missing_ok=True)
    raise FetchError(f"{url}: {last} (gave up after {opts.retries + 1} attempts)")


def _download(url: str, part: Path, remote: RemoteFile, opts: Options) -> bool:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"edged/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=opts.timeout) as resp:
            resuming = have > 0 and resp.status == 206 and _range_starts_at(resp, have)
            if not resuming:
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else remote.size
            done = _copy(resp, part, "ab" if resuming else "wb", have, total, remote.file, opts)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the partial file is already complete or larger: start over
            part.unlink(missing_ok=True)
            raise _Retryable("server refused the resume range") from None
        if exc.code >= 500 or exc.code == 429:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
            ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, urllib.error.URLError) and isinstance(reason, FileNotFoundError):
            raise FetchError(f"{url}: not found") from None
        raise _Retryable(f"{type(exc).__name__}: {reason}") from None
    if total is not None and done < total:
        raise _Retryable(f"connection closed after {done} of {total} bytes")
    return resuming


def _range_starts_at(resp: http.client.HTTPResponse, offset: int) -> bool:
    return resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-")


def _copy(resp: http.client.HTTPResponse, part: Path, mode: str, done: int, total: int | None,
          name: str, opts: Options) -> int:
    try:
        out = open(part, mode)
    except OSError as exc:
        raise FetchError(f"cannot write {part}: {exc.strerror} (use --dir DIR, or sudo)") from None
    with out:
        if opts.progress:
            opts.progress(name, done, total)
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if opts.progress:
                opts.progress(name, done, total)
    return done


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
