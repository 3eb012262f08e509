"""Metadata packed inside a .tflite: a zip archive appended to the flatbuffer (the zip's
central directory at the end of the file makes it readable). TFLite metadata models pack
label files; Ultralytics exports pack their model card, as a Python dict literal
(``temp_meta.txt``, older exports) or as JSON (``metadata.json``, newer ones).

Every read is bounded: an untrusted archive must not make us read or parse gigabytes.
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edged.labels import parse_labels

log = logging.getLogger("edged.metadata")

MAX_LABEL_BYTES = 4 << 20
MAX_META_BYTES = 1 << 20  # a model card with 10,000 class names is ~200 kB
MAX_MEMBERS = 64
ULTRALYTICS_MEMBERS = ("metadata.json", "temp_meta.txt")
ULTRALYTICS_TASKS = ("detect", "segment", "pose", "classify", "obb")


@dataclass(frozen=True)
class UltralyticsMeta:
    """The parts of an Ultralytics model card edged uses."""

    member: str  # metadata.json or temp_meta.txt
    task: str | None
    names: dict[int, str] = field(default_factory=dict)
    imgsz: tuple[int, int] | None = None  # (height, width)
    kpt_shape: tuple[int, ...] | None = None
    nms: bool = False  # exported with NMS built in (args.nms)


def _read_members(model_path: Path, wanted: Any, cap: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of the archive members ``wanted(name)`` selects, each at most ``cap``
    bytes once decompressed (the declared size is not trusted: reads stop at cap + 1)."""
    out: list[tuple[str, bytes]] = []
    try:
        if not stat.S_ISREG(os.stat(model_path).st_mode):  # a FIFO would block the open
            return out
        with zipfile.ZipFile(model_path) as archive:
            for info in archive.infolist()[:MAX_MEMBERS]:
                if not wanted(info.filename) or not 0 < info.file_size <= cap:
                    continue
                with archive.open(info) as member:
                    data = member.read(cap + 1)
                if len(data) <= cap:
                    out.append((info.filename, data))
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError,
            RuntimeError) as exc:  # RuntimeError: an encrypted member
        log.debug("%s: no readable packed archive (%s)", model_path, exc)
    return out


def _file_key(model_path: Path) -> tuple[str, int, int]:
    try:
        st = model_path.stat()
    except OSError:
        return str(model_path), 0, 0
    return str(model_path), st.st_mtime_ns, st.st_size


def ultralytics_metadata(model_path: Path) -> UltralyticsMeta | None:
    """The Ultralytics model card packed in the model, or None (not an Ultralytics export,
    or a card that cannot be parsed: logged, never fatal)."""
    return _ultralytics_cached(_file_key(model_path))


@functools.lru_cache(maxsize=16)
def _ultralytics_cached(key: tuple[str, int, int]) -> UltralyticsMeta | None:
    path = Path(key[0])
    members = _read_members(path, lambda n: n.rsplit("/", 1)[-1] in ULTRALYTICS_MEMBERS,
                            MAX_META_BYTES)
    members.sort(key=lambda m: m[0].endswith("temp_meta.txt"))  # JSON first
    for name, data in members:
        card = parse_card(name, data)
        if card is None:
            log.warning("model file %s: packed %s cannot be parsed; ignored", path, name)
            continue
        meta = card_to_meta(name, card)
        if meta is not None:
            return meta
    return None


def parse_card(name: str, data: bytes) -> dict[str, Any] | None:
    """A model card as a dict: JSON, or a Python literal read with ast.literal_eval (a
    literal only, never code)."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text) if name.endswith(".json") else ast.literal_eval(text.strip())
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError,
            RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _names(value: Any) -> dict[int, str]:
    if isinstance(value, list):
        return {i: str(v) for i, v in enumerate(value)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            try:
                out[int(k)] = str(v)
            except (TypeError, ValueError):
                return {}
        return {k: v for k, v in out.items() if 0 <= k < 100_000}
    return {}


def _imgsz(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 \
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    return None


def card_to_meta(member: str, card: dict[str, Any]) -> UltralyticsMeta | None:
    """UltralyticsMeta from a parsed card; None when it is not an Ultralytics card."""
    if "names" not in card or ("task" not in card and "stride" not in card):
        return None
    task = card.get("task")
    args = card.get("args")
    args = args if isinstance(args, dict) else {}
    kpt = card.get("kpt_shape")
    kpt_shape = tuple(int(v) for v in kpt) if isinstance(kpt, (list, tuple)) \
        and all(isinstance(v, int) for v in kpt) else None
    return UltralyticsMeta(member=member, task=task if isinstance(task, str) else None,
                           names=_names(card.get("names")), imgsz=_imgsz(card.get("imgsz")),
                           kpt_shape=kpt_shape, nms=bool(args.get("nms", False)))


def packed_labels(model_path: Path) -> tuple[dict[int, str], str] | None:
    """({index: label}, where) from the model's packed metadata, or None.

    An Ultralytics card's ``names`` win; its card file is never taken for a label file."""
    meta = ultralytics_metadata(model_path)
    if meta is not None and meta.names:
        return dict(meta.names), f"{meta.member}:names"

    def is_label_file(name: str) -> bool:
        base = name.rsplit("/", 1)[-1]
        return base.lower().endswith(".txt") and base not in ULTRALYTICS_MEMBERS

    members = _read_members(model_path, is_label_file, MAX_LABEL_BYTES)
    members.sort(key=lambda m: "label" not in m[0].lower())
    for name, data in members:
        labels = parse_labels(data.decode("utf-8", errors="replace"))
        if labels:
            return labels, name
    return None
