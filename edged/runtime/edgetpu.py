"""Coral Edge TPU: load libedgetpu through the runtime's ``load_delegate`` and turn each way
it fails into a message that says what to do.

The three failures people hit, told apart:
- the library is missing (OSError from dlopen),
- the library loads but finds no TPU (ValueError: the delegate returned NULL),
- the library and the TFLite runtime do not match, which crashes the process: ``probe`` runs
  the first load and inference in a child process, so that crash is reported, not fatal.
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from typing import Any

from edged.errors import ModelError
from edged.runtime.select import Runtime

INSTALL_HINT = ("install the Edge TPU runtime: add the Coral apt repository and "
                "'sudo apt install libedgetpu1-std' (see the README, Coral Edge TPU)")
NO_DEVICE_HINT = ("no Edge TPU found: plug the USB Accelerator into a USB 3 (blue) port with "
                  "enough power, make sure the service user is in the plugdev group and the "
                  "udev rule is installed (deploy/99-edgetpu.rules); the USB id changes from "
                  "1a6e:089a to 18d1:9302 once the firmware is loaded, and both need the rule")


class EdgeTpuUnavailable(ModelError):
    """The Edge TPU cannot be used; ``reason`` is one of missing-library, no-device, crash."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def delegate_options(device: str) -> dict[str, str]:
    return {"device": device} if device else {}


def load_edgetpu_delegate(runtime: Runtime, library: str, device: str,
                          extra: dict[str, str] | None = None) -> Any:
    options = {**delegate_options(device), **(extra or {})}
    try:
        # dlopen first: when the library is missing, LiteRT's Delegate object also prints a
        # spurious AttributeError traceback from its __del__ (ai-edge-litert 2.3.0)
        ctypes.CDLL(library)
        return runtime.load_delegate(library, options)
    except OSError as exc:
        raise EdgeTpuUnavailable(f"Edge TPU library {library} cannot be loaded ({exc}); "
                                 f"{INSTALL_HINT}", "missing-library") from None
    except ValueError as exc:
        where = f" at '{device}'" if device else ""
        raise EdgeTpuUnavailable(f"Edge TPU library {library} loaded but found no device"
                                 f"{where} ({exc}); {NO_DEVICE_HINT}", "no-device") from None


def probe(runtime_name: str, library: str, device: str, model_path: str,
          extra: dict[str, str] | None = None, timeout: float = 30.0) -> None:
    """Load the delegate and run one inference in a child process; raise EdgeTpuUnavailable
    with the reason when that fails or crashes."""
    request = json.dumps({"runtime": runtime_name, "library": library, "device": device,
                          "model": model_path, "extra": extra or {}})
    try:
        r = subprocess.run([sys.executable, "-m", "edged.runtime.edgetpu", request],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgeTpuUnavailable(f"the Edge TPU did not answer within {timeout:.0f}s while "
                                 "probing; unplug and replug it", "hang") from None
    if r.returncode < 0:
        name = signal.Signals(-r.returncode).name
        raise EdgeTpuUnavailable(
            f"the Edge TPU runtime crashed ({name}) while probing {library}: libedgetpu and "
            f"the TFLite runtime ({runtime_name}) probably do not match; install the "
            "libedgetpu build made for this runtime version", "crash")
    if r.returncode != 0:
        try:
            detail = json.loads(r.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            detail = {"reason": "crash", "message": r.stderr.strip()[-500:]}
        raise EdgeTpuUnavailable(detail["message"], detail["reason"])


def _probe_child(request: dict[str, Any]) -> int:
    import numpy as np

    from edged.runtime.select import select_runtime

    try:
        runtime = select_runtime(request["runtime"])
        delegate = load_edgetpu_delegate(runtime, request["library"], request["device"],
                                         request["extra"])
        interp = runtime.interpreter_class(model_path=request["model"],
                                           experimental_delegates=[delegate])
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
        interp.invoke()
    except EdgeTpuUnavailable as exc:
        print(json.dumps({"reason": exc.reason, "message": str(exc)}))
        return 1
    except (RuntimeError, ValueError) as exc:
        print(json.dumps({"reason": "inference", "message":
                          f"the Edge TPU model failed its first inference: "
                          f"{exc or type(exc).__name__}"}))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_probe_child(json.loads(sys.argv[1])))
