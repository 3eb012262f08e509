"""Checks that need more than the YAML: labels against the model's, zones against the task.

``event_errors`` is shared by ``edged check-config`` (labels read from the label file or the
model's packed metadata, without loading the interpreter) and the daemon (labels from the
decoder it built); both report ``key.path (line N): message`` and exit 78.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edged.config import Config, format_path
from edged.yamlpos import KeyPath, YamlError, line_for, load_with_lines


def _where(path: KeyPath, lines: dict[KeyPath, int] | None) -> str:
    line = line_for(lines, path) if lines else None
    return f"{format_path(path)} (line {line})" if line else format_path(path)


def event_errors(config: Config, labels: Iterable[str | None] | None, task: str | None,
                 lines: dict[KeyPath, int] | None = None) -> list[str]:
    errors = []
    uses = bool(config.zones or config.lines)
    if uses and not config.track.enabled:
        errors.append(f"{_where(('track', 'enabled'), lines)}: zones and lines need tracking; "
                      "set it to true or remove them")
    if uses and task is not None and task != "detection":
        key = "zones" if config.zones else "lines"
        errors.append(f"{_where((key,), lines)}: zones and lines need a detection model "
                      f"(this model's task is {task})")
    if labels is None:
        return errors
    known = sorted({n for n in labels if n})
    filters = [("zones", i, z.labels) for i, z in enumerate(config.zones)] + \
        [("lines", i, ln.labels) for i, ln in enumerate(config.lines)]
    for key, i, names in filters:
        for j, name in enumerate(names or []):
            if not (name.isdigit() or name in known):
                errors.append(f"{_where((key, i, 'labels', j), lines)}: unknown label "
                              f"'{name}'{_hint(name, known)}")
    return errors


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; the model's labels: {', '.join(known[:12])}" + (" ..." if len(known) > 12 else "")


def model_label_names(config: Config) -> list[str] | None:
    """The model's labels as check-config can know them without loading the model."""
    from edged.labels import read_label_file
    from edged.metadata import packed_labels

    try:
        if config.model.labels is not None:
            return list(read_label_file(config.model.labels).values())
        packed = packed_labels(config.model_path)
    except Exception:  # an unreadable label file is reported by the daemon, not here
        return None
    return list(packed[0].values()) if packed else None


def check_config_file(config: Config, path: str | Path) -> list[str]:
    """``edged check-config``'s extra checks, with line numbers from the file."""
    if not (config.zones or config.lines):
        return []
    lines: dict[KeyPath, Any] | None
    try:
        _, lines = load_with_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, YamlError, UnicodeDecodeError):
        lines = None
    return event_errors(config, model_label_names(config), None, lines)
