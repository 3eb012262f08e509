"""The one YAML file: pydantic models (extra keys forbidden) and a loader whose errors say
``key.path (line N): message``."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from edged.endpoints import check_endpoint, next_port
from edged.errors import ConfigError
from edged.events.config import Lines, TrackConfig, Zones
from edged.labels import MAX_BYTES as LABELS_MAX_BYTES
from edged.mqtt.config import MqttConfig
from edged.safefile import MB, FileRefused, check_regular, describe_size, read_regular
from edged.sources import SourceConfig
from edged.sources.base import StrictModel
from edged.sources.synthetic import SyntheticSourceConfig
from edged.web.config import WebConfig
from edged.yamlpos import KeyPath, YamlError, line_for, load_with_lines

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_MODEL = DEMO_DIR / "shapes_int8.tflite"
DEMO_LABELS = DEMO_DIR / "shapes_labels.txt"
CONFIG_MAX_BYTES = MB // 4  # a config is a few KB; parsing YAML costs ~1 us a byte


class NormalizeConfig(StrictModel):
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class ModelConfig(StrictModel):
    path: Path | None = Field(None, description="the .tflite file; omitted = embedded demo")
    labels: Path | None = None
    task: Literal["auto", "classification", "detection", "pose", "segmentation"] = "auto"
    runtime: Literal["auto", "litert", "tflite-runtime"] = "auto"
    max_size_mb: int = Field(
        256, ge=1, le=4096, description="refuse model files larger than this (MB)")
    threads: int | None = Field(None, ge=1, le=64, description="default: cores - 1, at least 1")
    delegate: Literal["cpu", "edgetpu", "auto"] = "cpu"
    edgetpu_path: Path | None = None
    edgetpu_device: str = ""
    edgetpu_library: str = Field("libedgetpu.so.1", description="the Edge TPU runtime library")
    edgetpu_timeout_ms: int = Field(
        1000, ge=1, le=600_000,
        description="auto: an Edge TPU inference slower than this counts as hung")
    edgetpu_retry_s: float = Field(
        30.0, gt=0, le=86_400, description="auto: first wait before trying a failed Edge TPU again "
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
    interpolation: Literal["area", "bilinear", "nearest"] = Field("area", description="area: antialiased (OpenCV INTER_AREA) when shrinking, bilinear when enlarging; bilinear; nearest")  # noqa: E501
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
    topic: str = Field("edged.predictions", min_length=1, max_length=255)
    hwm: int = Field(100, ge=1, le=100_000,
                     description="messages queued per subscriber before dropping")
    linger_ms: int = Field(200, ge=0, le=10_000)
    group: str | None = Field(
        None, description="ipc: give the sockets (0660) to this group, and their folder (0750) "
        "when edged creates it, so only its members can subscribe; under systemd the "
        "service's own group already is")
    curve: CurveConfig | None = Field(
        None, description="CURVE encryption and client keys; required for non-loopback tcp")
    masks: bool = Field(False, description="publish segmentation masks on TOPIC.mask")
    frames: bool = Field(False, description="publish a JPEG of each inferred frame (the "
                         "model input) on its own socket, topic edged.frames")
    frames_endpoint: str | None = Field(
        None, description="default: frames.sock beside an ipc endpoint, or the next tcp port")
    frames_quality: int = Field(80, ge=10, le=95)
    status_topic: str = Field("edged.status", min_length=1, max_length=255)
    status_interval: float = Field(5.0, gt=0)

    @field_validator("endpoint", "frames_endpoint")
    @classmethod
    def _endpoint_form(cls, v: str | None) -> str | None:
        return v if v is None else check_endpoint(v, curve=True)

    def endpoints(self) -> dict[str, str]:
        """Every endpoint this section binds, by its key (frames: the default if unset)."""
        out = {"endpoint": self.endpoint}
        if self.frames or self.frames_endpoint is not None:
            out["frames_endpoint"] = self.frames_endpoint or next_port(self.endpoint)
        return out

    @model_validator(mode="after")
    def _endpoint_policy(self) -> PublishConfig:
        """One policy for every bound socket: ipc, loopback tcp, or CURVE (edged.endpoints)."""
        for key, endpoint in self.endpoints().items():
            try:
                check_endpoint(endpoint, curve=self.curve is not None)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
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
    mqtt: MqttConfig | None = Field(None, description="edged mqtt: the broker bridge")
    web: WebConfig | None = Field(None, description="edged web: preview page and metrics")

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
    """Read, parse and validate a config file; ConfigError lists every problem.

    Raises nothing but ConfigError, whatever the file holds: a reload (SIGHUP) calls this
    while the daemon runs, and a hostile file must never take the daemon down."""
    path = Path(path)
    try:
        data = read_regular(path, CONFIG_MAX_BYTES)
    except FileRefused as exc:
        raise ConfigError([f"config file {path}: {exc}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"config file {path}: not UTF-8 text ({exc.reason} at byte "
                           f"{exc.start})"]) from None
    return parse_config(text, str(path), base_dir=path.parent)


def parse_config(text: str, name: str = "<config>", base_dir: Path | None = None,
                 check_files: bool = True) -> Config:
    try:
        return _parse(text, name, base_dir, check_files)
    except ConfigError:
        raise
    except Exception as exc:  # RecursionError, MemoryError...: never a traceback, never a crash
        raise ConfigError([f"(top level): cannot be loaded ({type(exc).__name__}: "
                           f"{str(exc)[:200]})"], name) from None


def _parse(text: str, name: str, base_dir: Path | None, check_files: bool) -> Config:
    try:
        data, lines = load_with_lines(text)
    except YamlError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise ConfigError([f"{format_path(exc.path)}{where}: {exc}"], name) from None
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


def _size_caps(config: Config) -> dict[tuple[str, str], int]:
    model_cap = config.model.max_size_mb * MB
    return {("model", "path"): model_cap, ("model", "edgetpu_path"): model_cap,
            ("model", "labels"): LABELS_MAX_BYTES}


def _check_files(config: Config, lines: dict[KeyPath, int]) -> list[str]:
    """Every file the config names: present, a regular file (a folder for source.path), and
    within its size cap. Only stat(): nothing is opened, so a FIFO cannot block this."""
    errors = []
    caps = _size_caps(config)
    for section, key in PATH_KEYS:
        value = getattr(getattr(config, section), key, None)
        if value is None or value in (DEMO_LABELS,):
            continue
        where = (section, key)
        problem = check_regular(value, allow_dir=where == ("source", "path"))
        if problem is None and where in caps:
            size = Path(value).stat().st_size
            if size > caps[where]:
                problem = (f"is {describe_size(size)}, more than the "
                           f"{describe_size(caps[where])} allowed")
                if section == "model" and key != "labels":
                    problem += " (raise model.max_size_mb if this model is right)"
        if problem is not None:
            if problem == "file not found":
                problem = f"file not found: {value}"
            else:
                problem = f"{value} {problem}"
            errors.append(f"{format_path(where)} (line {line_for(lines, where)}): {problem}")
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
