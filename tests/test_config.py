"""Config contract: key paths, line numbers, hints, exit code 78 from the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edged.config import DEMO_MODEL, Config, load_config, parse_config
from edged.errors import EX_CONFIG, ConfigError


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.errors


def test_empty_config_is_the_embedded_demo() -> None:
    config = parse_config("")
    assert config.source.type == "synthetic"
    assert config.model_path == DEMO_MODEL
    assert config.publish.endpoint == "ipc:///run/edged/predictions.sock"
    assert config.publish.topic == "edged.predictions"


def test_typo_names_key_line_and_suggestion() -> None:
    errs = errors_of("source:\n  type: synthetic\nmodel:\n  top_k: 3\n  treshold: 0.5\n")
    assert errs == ["model.treshold (line 5): unknown key 'treshold'; did you mean 'threshold'?"]


def test_unknown_key_without_near_miss_lists_choices() -> None:
    errs = errors_of("publish:\n  zzz: 1\n")
    assert errs[0].startswith("publish.zzz (line 2): unknown key 'zzz'; expected one of: ")
    assert "endpoint" in errs[0]


def test_unknown_key_inside_a_source_variant_suggests_that_variants_fields() -> None:
    errs = errors_of("source:\n  type: images\n  path: /tmp\n  lop: true\n")
    assert errs == ["source.lop (line 4): unknown key 'lop'; did you mean 'loop'?"]


def test_wrong_type_and_missing_key_are_all_reported() -> None:
    errs = errors_of("source:\n  type: images\nmodel:\n  threads: two\n")
    assert "source.path (line 1): required key is missing" in errs
    assert any(e.startswith("model.threads (line 4): Input should be a valid integer")
               for e in errs)


def test_bad_source_type_points_at_type_line() -> None:
    errs = errors_of("log:\n  level: INFO\nsource:\n  type: webcam\n")
    assert errs[0].startswith("source.type (line 4): Input tag 'webcam'")


def test_non_loopback_tcp_is_refused() -> None:
    errs = errors_of("publish:\n  endpoint: tcp://0.0.0.0:5556\n")
    assert errs[0].startswith("publish.endpoint (line 2): tcp endpoint binds 0.0.0.0")
    assert "configure publish.curve" in errs[0]


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5556", "tcp://localhost:1",
                                      "ipc:///tmp/x.sock"])
def test_good_endpoints(endpoint: str) -> None:
    assert parse_config(f"publish:\n  endpoint: {endpoint}\n").publish.endpoint == endpoint


def test_yaml_syntax_error_has_line() -> None:
    errs = errors_of("model:\n  top_k: [1,\n")
    assert errs[0].startswith("(top level) (line 3): YAML syntax error")


def test_duplicate_key_is_an_error() -> None:
    errs = errors_of("model:\n  top_k: 3\n  top_k: 4\n")
    assert errs == ["model.top_k (line 3): duplicate key 'top_k'"]


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  path: nothere.tflite\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert info.value.errors == [f"model.path (line 2): file not found: {tmp_path}/nothere.tflite"]


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(b"x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  path: m.tflite\n")
    assert load_config(cfg).model.path == tmp_path / "m.tflite"


def test_example_config_validates() -> None:
    root = Path(__file__).resolve().parent.parent
    # schema-valid everywhere; its model files exist only after deploy/install.sh on a Pi
    config = parse_config((root / "config.example.yaml").read_text(), check_files=False)
    assert config.source.type == "picamera2"
    with pytest.raises(ConfigError) as info:
        parse_config((root / "config.example.yaml").read_text())
    assert all("file not found: /var/lib/edged/models/" in e for e in info.value.errors)


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  type: synthetic\n  fsp: 3\n")
    r = subprocess.run([sys.executable, "-m", "edged", "check-config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == EX_CONFIG == 78
    assert "source.fsp (line 3): unknown key 'fsp'; did you mean 'fps'?" in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text("source:\n  type: synthetic\n  fps: 3\n")
    r = subprocess.run([sys.executable, "-m", "edged", "check-config", str(good)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"fps": 3.0' in r.stdout


def test_run_refuses_bad_config_with_same_message_and_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  top_k: 0\n")
    r = subprocess.run([sys.executable, "-m", "edged", "run", "--config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78
    assert "model.top_k (line 2): Input should be greater than or equal to 1" in r.stderr


def test_defaults_are_a_valid_config_object() -> None:
    assert Config().model.top_k == 5
