"""Label files packed inside a .tflite: TFLite metadata models carry a zip archive appended to
the flatbuffer (the zip's central directory at the end of the file makes it readable)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from edged.labels import parse_labels

MAX_LABEL_BYTES = 4 << 20  # an untrusted archive must not make us read gigabytes


def packed_labels(model_path: Path) -> tuple[dict[int, str], str] | None:
    """({index: label}, member name) from the model's packed label file, or None."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".txt")
                       and 0 < m.file_size <= MAX_LABEL_BYTES]
            members.sort(key=lambda m: "label" not in m.filename.lower())
            for member in members:
                text = archive.read(member).decode("utf-8", errors="replace")
                labels = parse_labels(text)
                if labels:
                    return labels, member.filename
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    return None
