"""The one YAML file: pydantic models (extra keys forbidden) and a loader whose errors say
``key.path (line N): message``."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from edged.errors import ConfigError
from edged.events.config import Lines, TrackConfig, Zones
from edged.sources import SourceConfig
from edged.sources.base import StrictModel
from edged.sources.synthetic import SyntheticSourceConfig
from edged.yamlpos import KeyPath, YamlError, line_for, load_with_lines

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_MODEL = DEMO_DIR / "shapes_int8.tflite"
DEMO_LABELS = DEMO_DIR / "shapes_labels.txt"
LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class NormalizeConfig(StrictModel):
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class ModelConfig(StrictModel):
    path: Path | None = Field(None, description="the .tflite file; omitted = embedded demo")
    labels: Path | None = None
    task: Literal["auto", "classification", "detection", "pose", "segmentation"] = "auto"
    runtime: Literal["auto", "litert", "tflite-runtime"] = "auto"
    threads: int | None = Field(None, ge=1, description="default: cores - 1, at least 1")
    delegate: Literal["cpu", "edgetpu", "auto"] = "cpu"
    edgetpu_path: Path | None = None
    edgetpu_device: str = ""
    edgetpu_library: str = Field("libedgetpu.so.1", description="the Edge TPU runtime library")
    edgetpu_timeout_ms: int = Field(
        1000, ge=1, description="auto: an Edge TPU inference slower than this counts as hung")
    edgetpu_retry_s: float = Field(
        30.0, gt=0, description="auto: first wait before trying a failed Edge TPU again "
        "(doubles up to 10 minutes)")
    edgetpu_options: dict[str, str] = Field(
        default_factory=dict, description="more options passed to the delegate as they are")
    top_k: int = Field(5, ge=1, le=1000)
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="minimum score (segmentation: pixel fraction); "
        "default 0.25 for detection, 0 otherwise")
    classes: list[str | int] | None = Field(
        None, description="detection: only these classes (labels or indices)")
    class_thresholds: dict[str, float] = Field(
        default_factory=dict, description="detection: per-label minimum score")
    max_detections: int = Field(25, ge=1, le=1000)
    iou_threshold: float = Field(0.45, ge=0.0, le=1.0, description="YOLO non-max suppression")
    resize: Literal["stretch", "letterbox", "center-crop"] = "stretch"
    interpolation: Literal["nearest", "bilinear"] = "bilinear"
    normalize: NormalizeConfig | None = Field(
        None, description="real input = (pixel - mean) / std; default: what the model's "
                          "input quantization implies")

    @field_validator("edgetpu_device")
    @classmethod
    def _device(cls, v: str) -> str:
        kind, _, num = v.partition(":")
        if v and (kind not in ("usb", "pci") or (num and not num.isdigit())):
            raise ValueError("expected '', usb, usb:N, pci or pci:N")
        return v


class CurveConfig(StrictModel):
    secret_key_file: Path = Field(description="server certificate with the secret key "
                                  "(edged keygen); relative: in $CREDENTIALS_DIRECTORY")
    authorized_keys_dir: Path = Field(description="folder of allowed clients' *.key files")


class PublishConfig(StrictModel):
    endpoint: str = "ipc:///run/edged/predictions.sock"
    topic: str = Field("edged.predictions", min_length=1)
    hwm: int = Field(100, ge=1, description="messages queued per subscriber before dropping")
    linger_ms: int = Field(200, ge=0, le=10_000)
    group: str | None = Field(
        None, description="ipc: give the socket and its folder to this group (0660 / 0750), "
        "so only its members can subscribe; under systemd the service's own group already is")
    curve: CurveConfig | None = Field(
        None, description="CURVE encryption and client keys; required for non-loopback tcp")
    masks: bool = Field(False, description="publish segmentation masks on TOPIC.mask")
    frames: bool = Field(False, description="publish a JPEG of each inferred frame (the "
                         "model input) on its own socket, topic edged.frames")
    frames_endpoint: str | None = Field(
        None, description="default: frames.sock beside an ipc endpoint, or the next tcp port")
    frames_quality: int = Field(80, ge=10, le=95)
    status_topic: str = Field("edged.status", min_length=1)
    status_interval: float = Field(5.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme == "ipc":
            if not v[len("ipc://"):]:
                raise ValueError("ipc endpoint needs a path, e.g. ipc:///run/edged/predictions.sock")
            return v
        if parts.scheme == "tcp":
            if not parts.port:
                raise ValueError("tcp endpoint needs a port, e.g. tcp://127.0.0.1:5556")
            return v
        raise ValueError("expected ipc://PATH or tcp://HOST:PORT")

    @model_validator(mode="after")
    def _non_loopback_needs_curve(self) -> PublishConfig:
        parts = urlsplit(self.endpoint)
        host = parts.hostname or ""
        if parts.scheme == "tcp" and self.curve is None and not is_loopback(host):
            raise ValueError(f"endpoint: tcp endpoint binds {host}, which is not loopback; "
                             "predictions would be readable by anyone on the network; "
                             "configure publish.curve (edged keygen) to allow it")
        return self


class LogConfig(StrictModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _demo_source() -> SyntheticSourceConfig:
    return SyntheticSourceConfig(type="synthetic", fps=10)


class Config(StrictModel):
    source: SourceConfig = Field(default_factory=_demo_source)
    model: ModelConfig = Field(default_factory=ModelConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    zones: Zones = Field(default_factory=list)
    lines: Lines = Field(default_factory=list)

    @model_validator(mode="after")
    def _demo_defaults(self) -> Config:
        if self.model.path is None and self.model.labels is None:
            self.model.labels = DEMO_LABELS
        return self

    @property
    def model_path(self) -> Path:
        return self.model.path or DEMO_MODEL


# --- loading -----------------------------------------------------------------------------

PATH_KEYS: tuple[tuple[str, str], ...] = (("model", "path"), ("model", "labels"),
                                  ("model", "edgetpu_path"), ("source", "path"))


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file; ConfigError lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {path}: not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"config file {path}: cannot be read ({exc})"]) from None
    return parse_config(text, str(path), base_dir=path.parent)


def parse_config(text: str, name: str = "<config>", base_dir: Path | None = None,
                 check_files: bool = True) -> Config:
    try:
        data, lines = load_with_lines(text)
    except YamlError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise ConfigError([f"(top level){where}: {exc}"], name) from None
    if not isinstance(data, dict):
        raise ConfigError([f"(top level) (line 1): expected a mapping of sections "
                           f"(source, model, publish, log), got {type(data).__name__}"], name)
    if base_dir is not None:
        _resolve_paths(data, base_dir)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, data, lines), name) from None
    errors = _check_files(config, lines) if check_files else []
    if errors:
        raise ConfigError(errors, name)
    return config


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> None:
    """Relative file paths in the config are relative to the config file's folder."""
    for section, key in PATH_KEYS:
        sub = data.get(section)
        if isinstance(sub, dict) and isinstance(sub.get(key), str):
            p = Path(sub[key]).expanduser()
            sub[key] = str(p if p.is_absolute() else base_dir / p)


def _check_files(config: Config, lines: dict[KeyPath, int]) -> list[str]:
    errors = []
    for section, key in PATH_KEYS:
        value = getattr(getattr(config, section), key, None)
        if value is None or value in (DEMO_LABELS,):
            continue
        if not Path(value).exists():
            where = (section, key)
            errors.append(f"{format_path(where)} (line {line_for(lines, where)}): "
                          f"file not found: {value}")
    return errors


def _format_errors(exc: ValidationError, data: Any, lines: dict[KeyPath, int]) -> list[str]:
    out = []
    for err in exc.errors():
        path = _data_path(err["loc"], data)
        line = line_for(lines, path)
        where = f"{format_path(path)} (line {line})" if line else format_path(path)
        if err["type"] == "extra_forbidden":
            message = f"unknown key '{path[-1]}'" + _did_you_mean(path, data)
        elif err["type"] == "union_tag_invalid":
            path = (*path, "type")
            line = line_for(lines, path)
            where = f"{format_path(path)} (line {line})"
            message = err["msg"]
        elif err["type"] == "missing":
            message = "missing item" if isinstance(path[-1], int) else "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            key, sep, rest = message.partition(": ")
            if sep and (*path, key) in lines:  # a cross-field check naming its key
                path = (*path, key)
                message = rest
                where = f"{format_path(path)} (line {line_for(lines, path)})"
        out.append(f"{where}: {message}")
    return out


def _data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Pydantic's error location without the union tags it inserts (e.g. 'images')."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # discriminated-union tag
        elif isinstance(part, str) and "[" in part:
            continue  # validator wrapper, e.g. 'function-after[...]'
        else:
            node = None
        path.append(part)
    return tuple(path)


def _did_you_mean(path: KeyPath, data: Any) -> str:
    allowed = _fields_at(path[:-1], data)
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""


def _fields_at(path: KeyPath, data: Any) -> list[str]:
    model: type[BaseModel] | None = Config
    node = data
    for key in path:
        if model is None or not isinstance(key, str) or key not in model.model_fields:
            return []
        node = node.get(key) if isinstance(node, dict) else None
        model = _pick_model(model.model_fields[key].annotation, node)
    return list(model.model_fields) if model else []


def _pick_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    candidates = [a for a in _flatten(annotation) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    wanted = node.get("type") if isinstance(node, dict) else None
    for c in candidates:
        field = c.model_fields.get("type")
        if field is not None and wanted in typing.get_args(field.annotation):
            return c
    return None


def _flatten(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [x for arg in typing.get_args(annotation) for x in _flatten(arg)]
    return [annotation]
