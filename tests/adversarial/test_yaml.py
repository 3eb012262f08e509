"""Hostile YAML: billion laughs, 10,000-level nesting, unknown tags. ``edged run`` and
``edged check-config`` (real subprocesses) refuse each at once with exit 78 and the key or
line, never a traceback; merge keys work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from files_support import args_for, assert_refused_fast, billion_laughs, run_edged

HOSTILE = {
    "billion-laughs": (billion_laughs(), ["expands to more than 10000 values"]),
    "nested-sequences-10000": ("source: " + "[" * 10_000 + "]" * 10_000 + "\n",
                               ["(line 1)", "nested more than 64 levels deep"]),
    "nested-mappings-10000": ("source: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
                              ["nested more than 64 levels deep"]),
    "nested-blocks-500": ("".join(" " * i + f"k{i}:\n" for i in range(500)),
                          ["nested more than 64 levels deep"]),
    "recursive-alias": ("source: &s [*s, *s]\n", ["source", "nested more than 64 levels"]),
    "python-tag": ("source: !!python/object/apply:os.system ['touch pwned']\n",
                   ["source (line 1)", "unsupported tag '!!python/object/apply:os.system'"]),
    "custom-tag": ("source:\n  type: synthetic\n  fps: !env FPS\n",
                   ["source.fps (line 3)", "unsupported tag '!env'"]),
    "set-tag": ("model:\n  classes: !!set {a, b}\n",
                ["model.classes (line 2)", "unsupported tag '!!set'"]),
    "mapping-key": ("source:\n  ? [a, b]\n  : 1\n", ["source (line 2)", "a key must be a plain"]),
}


@pytest.mark.parametrize("verb", ["run", "check-config"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_refused_at_once(case: str, verb: str, tmp_path: Path) -> None:
    text, fragments = HOSTILE[case]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    o = run_edged(args_for(verb, cfg), tmp_path)
    assert_refused_fast(o, verb, *fragments)
    assert not (tmp_path / "pwned").exists()


def test_merge_keys_are_supported(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model:\n"
                   "  class_thresholds:\n"
                   "    <<: &common {person: 0.5, car: 0.4}\n"
                   "    car: 0.6\n"
                   "  normalize:\n"
                   "    <<: [{mean: 127.5}, {mean: 1.0, std: 127.5}]\n"
                   "source:\n  <<: {type: synthetic, fps: 5}\n  fps: 7\n")
    o = run_edged(["check-config", "--no-model", str(cfg)], tmp_path)
    assert o.code == 0, o.summary()
    data, _ = json.JSONDecoder().raw_decode(o.output)  # stderr's plan lines follow the JSON
    assert data["model"]["class_thresholds"] == {"person": 0.5, "car": 0.6}
    assert data["model"]["normalize"] == {"mean": 127.5, "std": 127.5}
    assert (data["source"]["type"], data["source"]["fps"]) == ("synthetic", 7.0)
