"""Hostile files named by the config: devices, FIFOs, folders, huge files. ``edged run`` and
``edged check-config`` (real subprocesses) refuse each at once with exit 78, naming the key
and the reason, without reading it: bounded time and memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from files_support import args_for, assert_refused_fast, fifo, run_edged, sparse_file


def _config(tmp: Path, model_lines: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(f"model:\n{model_lines}publish:\n  endpoint: ipc://{tmp}/p.sock\n")
    return cfg


CASES = {
    # name: (model section lines, what to make first, fragments of the message)
    "dev-zero-model": ("  path: /dev/zero\n", None,
                       ["model.path (line 2)", "/dev/zero is a character device"]),
    "dev-zero-labels": ("  labels: /dev/zero\n", None,
                        ["model.labels (line 2)", "character device"]),
    "fifo-model": ("  path: m.tflite\n", "fifo:m.tflite",
                   ["model.path (line 2)", "is a FIFO (named pipe), expected a regular file"]),
    "fifo-labels": ("  labels: l.txt\n", "fifo:l.txt", ["model.labels (line 2)", "FIFO"]),
    "1gb-labels": ("  labels: l.txt\n", "sparse:l.txt",
                   ["model.labels (line 2)", "is 1024.0 MB, more than the 4.0 MB allowed"]),
    "1gb-model": ("  path: m.tflite\n", "sparse:m.tflite",
                  ["model.path (line 2)", "1024.0 MB, more than the 256.0 MB allowed",
                   "model.max_size_mb"]),
    "folder-model": ("  path: m.tflite\n", "dir:m.tflite", ["model.path", "is a directory"]),
}


def _make(tmp: Path, spec: str | None) -> None:
    if spec is None:
        return
    kind, _, name = spec.partition(":")
    if kind == "fifo":
        fifo(tmp / name)
    elif kind == "sparse":
        sparse_file(tmp / name, 1 << 30)
    elif kind == "dir":
        (tmp / name).mkdir()


@pytest.mark.parametrize("verb", ["run", "check-config"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused_at_once(case: str, verb: str, tmp_path: Path) -> None:
    lines, make, fragments = CASES[case]
    _make(tmp_path, make)
    o = run_edged(args_for(verb, _config(tmp_path, lines)), tmp_path)
    assert_refused_fast(o, verb, *fragments)


@pytest.mark.parametrize("verb", ["run", "check-config"])
def test_fifo_as_the_config_is_refused_at_once(verb: str, tmp_path: Path) -> None:
    o = run_edged(args_for(verb, fifo(tmp_path / "config.yaml")), tmp_path)
    assert_refused_fast(o, verb, "is a FIFO (named pipe), expected a regular file")


@pytest.mark.parametrize("verb", ["run", "check-config"])
def test_dev_zero_and_huge_config_are_refused(verb: str, tmp_path: Path) -> None:
    o = run_edged(args_for(verb, Path("/dev/zero")), tmp_path)
    assert_refused_fast(o, verb, "config file /dev/zero: is a character device")
    big = sparse_file(tmp_path / "big.yaml", 1 << 30)
    o = run_edged(args_for(verb, big), tmp_path)
    assert_refused_fast(o, verb, "is 1024.0 MB, more than the 256 KB allowed")
