"""Label files: one label per line, or 'index label' per line (pycoral's two formats)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edged.errors import ModelError
from edged.safefile import MB, FileRefused, read_regular

_INDEXED = re.compile(r"^\s*(\d{1,9})[:\s]+(.*?)\s*$")
MAX_BYTES = 4 * MB  # ImageNet-21k's 21,843 labels are under 1 MB
_BACKGROUND = {"background", "???", "__background__", "unlabeled"}


@dataclass(frozen=True)
class Labels:
    """Labels aligned to a model's class indices: ``names[i]`` is class i's label or None."""

    names: tuple[str | None, ...]
    source: str  # where they came from, for logs and status ("file:…", "metadata:…")

    def get(self, index: int) -> str | None:
        return self.names[index] if 0 <= index < len(self.names) else None


def parse_labels(text: str) -> dict[int, str]:
    """Parse label text into {index: label}. Mixed formats are resolved per file, not per line."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    matches = [_INDEXED.match(ln) for ln in lines]
    if lines and all(matches):
        return {int(m.group(1)): m.group(2) for m in matches if m}
    return {i: ln.strip() for i, ln in enumerate(lines)}


def read_label_file(path: Path, max_bytes: int = MAX_BYTES) -> dict[int, str]:
    try:
        data = read_regular(path, max_bytes)
    except FileRefused as exc:
        raise ModelError(f"labels file {path}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"labels file {path}: not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None
    labels = parse_labels(text)
    if not labels:
        raise ModelError(f"labels file {path}: contains no labels")
    return labels


def align_labels(labels: dict[int, str], n_classes: int, source: str) -> Labels:
    """Match labels to a model with ``n_classes`` outputs, allowing one background line.

    - same count: as is;
    - one more label and the first is a background line: the model has no background class;
    - one fewer label: the model's class 0 is an unlabeled background.
    Anything else contradicts the model and is an error.
    """
    count = max(labels) + 1 if labels else 0
    ordered = [labels.get(i) for i in range(min(count, n_classes + 1))]  # an index of 10^9
    if count == n_classes:
        names = ordered
    elif count == n_classes + 1 and (ordered[0] or "").strip().lower() in _BACKGROUND:
        names = ordered[1:]
    elif count == n_classes - 1:
        names = ["background", *ordered]
    else:
        raise ModelError(
            f"{source}: {count} labels but the model outputs {n_classes} classes "
            "(only one background line of difference is allowed); is it the right labels file "
            "for this model?")
    return Labels(tuple(names), source)
