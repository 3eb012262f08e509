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


# --- numeric ranges, finite floats (check-config refuses what run would choke on) ---------

@pytest.mark.parametrize("text, expected", [
    ("source:\n  type: synthetic\n  fps: .inf\n", "source.fps (line 3): Input should be a finite"),
    ("source:\n  type: synthetic\n  fps: .nan\n", "source.fps (line 3): Input should be a finite"),
    ("model:\n  normalize:\n    mean: .nan\n",
     "model.normalize.mean (line 3): Input should be a finite number"),
    ("model:\n  class_thresholds: {person: -.inf}\n",
     "model.class_thresholds.person (line 2): Input should be a finite number"),
    ("publish:\n  hwm: 2147483648\n", "publish.hwm (line 2): Input should be less than or equal"),
    ("source:\n  type: synthetic\n  size: [0, 0]\n",
     "source.size (line 3): width and height must be between 1 and 16384, got [0, 0]"),
    ("source:\n  type: synthetic\n  size: [640, 100000]\n", "source.size (line 3): width and"),
    ("source:\n  type: opencv\n  size: [-1, 480]\n", "source.size (line 3): width and height"),
    ("source:\n  type: synthetic\n  fps: 1.0e-300\n", "source.fps (line 3): must be 0"),
    ("source:\n  type: synthetic\n  backoff: {initial_s: 1.0e300}\n",
     "source.backoff.initial_s (line 3): Input should be less than or equal to 3600"),
    ("model:\n  max_size_mb: 0\n", "model.max_size_mb (line 2): Input should be greater"),
    ("model:\n  edgetpu_retry_s: 1.0e20\n", "model.edgetpu_retry_s (line 2): Input should be less"),
])
def test_out_of_range_and_non_finite_numbers_are_refused(text: str, expected: str) -> None:
    errs = errors_of(text)
    assert any(e.startswith(expected) for e in errs), errs


def test_sizes_and_rates_in_range_are_accepted() -> None:
    config = parse_config("source:\n  type: synthetic\n  size: [1, 16384]\n  fps: 0.001\n")
    assert config.source.size == (1, 16384)  # type: ignore[union-attr]


# --- YAML: merge keys, tags, bounds ---------------------------------------------------------

def test_merge_keys_merge_and_explicit_keys_win() -> None:
    config = parse_config("model:\n  class_thresholds:\n    <<: {person: 0.5, car: 0.4}\n"
                          "    car: 0.6\nsource:\n  <<: {type: synthetic, fps: 5}\n  fps: 7\n")
    assert config.model.class_thresholds == {"person": 0.5, "car": 0.6}
    assert config.source.fps == 7


@pytest.mark.parametrize("text, expected", [
    ("source: !!python/object/apply:os.system [ls]\n",
     "source (line 1): unsupported tag '!!python/object/apply:os.system'"),
    ("model:\n  top_k: !!binary aGVsbG8=\n", "model.top_k (line 2): unsupported tag '!!binary'"),
    ("log:\n  level: !env LEVEL\n", "log.level (line 2): unsupported tag '!env'"),
    ("model:\n  <<: 3\n", "model (line 2): a merge key '<<' needs a mapping"),
    ("model:\n  top_k: 1" + "0" * 5000 + "\n", "model.top_k (line 2): bad value"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "(top level) (line 1): nested more than 64 levels"),
    ("x: &x [" + ", ".join(["*x"] * 3) + "]\n", "nested more than 64 levels deep"),
    ("a: &a {<<: *a}\n", "a (line 1): nested more than 64 levels deep"),
    ("a: &a {x: 1, <<: [*a, *a]}\n", "nested more than 64 levels deep"),
])
def test_yaml_tags_and_bounds_are_key_line_errors(text: str, expected: str) -> None:
    errs = errors_of(text)
    assert len(errs) == 1 and expected in errs[0], errs


def test_config_loader_raises_only_config_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong inside (here: Python's recursion limit), a reload sees ConfigError."""
    import edged.config

    def boom(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(edged.config, "load_with_lines", boom)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("source: {type: synthetic}\n")
    with pytest.raises(ConfigError, match="RecursionError"):
        load_config(cfg)


def test_config_file_must_be_a_small_regular_utf8_file(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "fifo.yaml")
    for path, message in ((tmp_path / "fifo.yaml", r"is a FIFO \(named pipe\)"),
                          (Path("/dev/zero"), "is a character device"),
                          (tmp_path, "is a directory"),
                          (tmp_path / "nope.yaml", "not found")):
        with pytest.raises(ConfigError, match=message):
            load_config(path)
    (tmp_path / "big.yaml").write_text("#" * (256 * 1024 + 1))
    with pytest.raises(ConfigError, match="more than the 256 KB allowed"):
        load_config(tmp_path / "big.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"log: {level: \xe9}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "latin1.yaml")


def test_model_and_labels_must_be_regular_files_within_their_caps(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "m.tflite")
    errs = errors_of(f"model:\n  path: {tmp_path}/m.tflite\n  labels: /dev/null\n")
    assert errs == [f"model.path (line 2): {tmp_path}/m.tflite is a FIFO (named pipe), "
                    "expected a regular file",
                    "model.labels (line 3): /dev/null is a character device, expected a "
                    "regular file"]
    with open(tmp_path / "big.tflite", "wb") as f:
        f.truncate(3 * 1024 * 1024)
    errs = errors_of(f"model:\n  path: {tmp_path}/big.tflite\n  max_size_mb: 2\n")
    assert errs == [f"model.path (line 2): {tmp_path}/big.tflite is 3.0 MB, more than the "
                    "2.0 MB allowed (raise model.max_size_mb if this model is right)"]
    assert parse_config(f"model:\n  path: {tmp_path}/big.tflite\n  max_size_mb: 3\n")
    # source.path may be a folder of images, but not a device
    assert parse_config(f"source:\n  type: images\n  path: {tmp_path}\n")
    errs = errors_of("source:\n  type: images\n  path: /dev/zero\n")
    assert "expected a regular file or a folder" in errs[0]
