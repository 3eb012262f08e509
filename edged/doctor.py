"""``edged doctor`` checks: each returns a Check saying what was found and, for problems, the
fix. Hardware is read from sysfs (``$EDGED_SYSFS_ROOT`` overrides /sys for tests)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CORAL_USB_IDS = {("1a6e", "089a"): "Coral USB (before firmware load)",
                 ("18d1", "9302"): "Coral USB (firmware loaded)"}
THROTTLE_BITS = {0: "under-voltage now", 1: "ARM frequency capped now", 2: "throttled now",
                 3: "soft temperature limit now", 16: "under-voltage has occurred",
                 17: "frequency capping has occurred", 18: "throttling has occurred",
                 19: "soft temperature limit has occurred"}


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def sysfs() -> Path:
    return Path(os.environ.get("EDGED_SYSFS_ROOT", "/sys"))


def check_python() -> list[Check]:
    import numpy as np

    from edged.errors import RuntimeUnavailable
    from edged.runtime.select import select_runtime

    out = [Check("python", "ok", f"Python {platform.python_version()}, numpy {np.__version__}, "
                 f"{platform.machine()}")]
    found = False
    for name in ("litert", "tflite-runtime"):
        try:
            rt = select_runtime(name)
            out.append(Check(f"runtime {name}", "ok", f"{name} {rt.version}"))
            found = True
        except RuntimeUnavailable as exc:
            out.append(Check(f"runtime {name}", "warn", str(exc).split(";")[0],
                             str(exc).split(";", 1)[-1].strip()))
    if not found:
        out.append(Check("runtime", "fail", "no usable TFLite runtime",
                         "pip install ai-edge-litert (in /opt/edged: sudo deploy/install.sh)"))
    out.append(check_area_kernel())
    return out


def check_area_kernel() -> Check:
    from edged import area

    if area.KERNEL is not None:
        return Check("area resize", "ok", area.implementation())
    return Check("area resize", "warn", area.implementation() + ": 7-8x the CPU per frame",
                 "sudo apt install gcc python3-dev, then sudo deploy/install.sh again")


def check_config(path: Path) -> tuple[list[Check], Any]:
    from edged.config import load_config
    from edged.errors import ConfigError

    try:
        config = load_config(path)
    except ConfigError as exc:
        return [Check("config", "fail", "; ".join(exc.errors),
                      f"fix {path}; check it with: edged check-config {path}")], None
    return [Check("config", "ok", f"{path} is valid")], config


def check_model(config: Any) -> list[Check]:
    from edged.errors import EdgedError
    from edged.runtime.modelfile import read_model_file

    out = []
    paths = [config.model_path] + ([config.model.edgetpu_path]
                                   if config.model.edgetpu_path else [])
    for path in paths:
        try:
            mf = read_model_file(path)
        except EdgedError as exc:
            out.append(Check(f"model {path.name}", "fail", str(exc),
                             "copy the right .tflite to that path"))
            continue
        kind = "Edge-TPU-compiled" if mf.edgetpu_compiled else "CPU"
        ops = len(mf.operator_codes)
        detail = f"{mf.size} bytes, {kind}, {ops} operator kinds, sha256 {mf.sha256[:12]}…"
        status, fix = "ok", ""
        if mf.edgetpu_compiled and config.model.delegate == "cpu":
            status, fix = "fail", "set model.delegate: edgetpu or auto, or use the CPU model"
        out.append(Check(f"model {path.name}", status, detail + _io(config, path), fix))
    return out


def check_plan(config: Any) -> Check:
    from edged.plan import plan_for_config

    return Check("preprocessing", "ok", "; ".join(plan_for_config(config)))


def _io(config: Any, path: Path) -> str:
    from edged.errors import EdgedError
    from edged.runtime.select import select_runtime

    try:
        rt = select_runtime(config.model.runtime)
        interp = rt.interpreter_class(model_path=str(path))
        i = interp.get_input_details()[0]
        outs = [f"{d['shape'].tolist()} {d['dtype'].__name__}"
                for d in interp.get_output_details()]
        return (f"; input {i['shape'].tolist()} {i['dtype'].__name__} q={i['quantization']}; "
                f"outputs {', '.join(outs)}")
    except (EdgedError, ValueError, RuntimeError) as exc:
        return f"; cannot inspect tensors here ({exc})"


def check_cameras() -> list[Check]:
    from edged.errors import SourceError
    from edged.sources import opencv, picamera2

    out = []
    try:
        cams = picamera2.list_cameras()
        out.append(Check("pi cameras", "ok" if cams else "warn",
                         ", ".join(f"{c['index']}: {c['model']}" for c in cams) or "none found",
                         "" if cams else "check the ribbon cable; rpicam-hello --list-cameras"))
    except SourceError as exc:
        out.append(Check("pi cameras", "warn", "picamera2 not available", str(exc)))
    v4l = [c for c in opencv.list_cameras() if not c.get("pi_hardware")]
    out.append(Check("usb cameras", "ok", ", ".join(f"{c['device']} ({c['name']})" for c in v4l)
                     or "none"))
    return out


def check_edgetpu(config: Any) -> list[Check]:
    found = []
    for dev in sorted((sysfs() / "bus/usb/devices").glob("*")):
        try:
            ids = ((dev / "idVendor").read_text().strip(), (dev / "idProduct").read_text().strip())
        except OSError:
            continue
        if ids in CORAL_USB_IDS:
            speed = (dev / "speed").read_text().strip() if (dev / "speed").exists() else "?"
            found.append(f"{dev.name}: {CORAL_USB_IDS[ids]} {ids[0]}:{ids[1]}, {speed} Mb/s")
    wants = config is not None and config.model.delegate != "cpu"
    out = [Check("edge tpu usb", "ok" if found else ("fail" if wants else "ok"),
                 "; ".join(found) or "no Coral USB Accelerator",
                 "plug it into a USB 3 port" if wants and not found else "")]
    if any(", 480 Mb/s" in f for f in found):
        out[0].status, out[0].fix = "warn", "it runs at USB 2 speed: use a blue USB 3 port"
    library = config.model.edgetpu_library if config is not None else "libedgetpu.so.1"
    try:
        ctypes.CDLL(library)
        out.append(Check("edge tpu library", "ok", f"{library} loads"))
    except OSError:
        out.append(Check("edge tpu library", "fail" if wants else "ok", f"{library} not found",
                         "sudo apt install libedgetpu1-std (Coral apt repository)"
                         if wants else ""))
    import grp

    try:
        member = grp.getgrnam("plugdev").gr_gid in os.getgroups()
    except KeyError:
        member = False
    if wants and not member and os.geteuid() != 0:
        out.append(Check("plugdev group", "warn", "this user is not in plugdev",
                         "sudo usermod -aG plugdev $USER (the service user edged is, via "
                         "the unit's SupplementaryGroups)"))
    return out


def check_socket(config: Any) -> list[Check]:
    endpoint = config.publish.endpoint if config is not None else \
        "ipc:///run/edged/predictions.sock"
    if not endpoint.startswith("ipc://"):
        return [Check("socket", "ok", f"{endpoint} (tcp)")]
    path = Path(endpoint[len("ipc://"):])
    if not path.parent.is_dir():
        return [Check("socket", "warn", f"{path.parent} does not exist (daemon not running?)",
                      "sudo systemctl start edged")]
    st = path.stat() if path.exists() else None
    if st is None:
        return [Check("socket", "warn", f"{path} is absent: the daemon is not running",
                      "sudo systemctl start edged; journalctl -u edged")]
    mode = oct(st.st_mode & 0o777)
    readable = os.access(path, os.W_OK)
    return [Check("socket", "ok" if readable else "warn", f"{path} mode {mode}",
                  "" if readable else "add yourself to the edged group to subscribe")]


def check_thermal() -> list[Check]:
    from edged.daemon import cpu_temperature

    temp = cpu_temperature(sysfs() / "class/thermal/thermal_zone0/temp")
    out = [Check("temperature", "ok" if temp is None or temp < 80 else "warn",
                 f"{temp} °C" if temp is not None else "not exposed here",
                 "add a heatsink or fan: the SoC throttles at 80-85 °C"
                 if temp is not None and temp >= 80 else "")]
    if shutil.which("vcgencmd"):
        r = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True)
        value = int(r.stdout.strip().split("=")[-1], 16) if "=" in r.stdout else 0
        flags = [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]
        out.append(Check("throttling", "warn" if flags else "ok", ", ".join(flags) or "none",
                         "use the official 5V/3A supply and cooling" if flags else ""))
    return out


def run_checks(config_path: Path) -> list[Check]:
    checks = check_python()
    config_checks, config = check_config(config_path)
    checks += config_checks
    if config is not None:
        checks += check_model(config)
        checks.append(check_plan(config))
    checks += check_cameras() + check_edgetpu(config) + check_socket(config) + check_thermal()
    return checks


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
