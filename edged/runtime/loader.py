"""From ``model:`` config to a loaded, warmed-up ModelRunner, choosing the delegate.

``delegate: cpu`` runs ``model.path``. ``edgetpu`` runs ``model.edgetpu_path`` on the Edge
TPU or fails at start saying why. ``auto`` probes the TPU in a child process (a mismatched
libedgetpu crashes the process that loads it) and falls back to ``model.path`` on the CPU,
with one log line saying which model runs where and why.

On tflite-runtime the first load and one inference of a model also happen in a child process
first: tflite-runtime 2.14 does not verify a model, and some corrupt files that pass edged's
own flatbuffer checks crash it (SIGSEGV). The child's death becomes a ModelError naming the
signal (exit 78) instead of the daemon's. LiteRT verifies the flatbuffer itself.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

from edged.config import Config
from edged.errors import ModelError
from edged.runtime.edgetpu import EdgeTpuUnavailable, load_edgetpu_delegate, probe
from edged.runtime.model import ModelRunner, cpu_count, default_threads
from edged.runtime.modelfile import ModelFile, read_model_file
from edged.runtime.select import Runtime, select_runtime
from edged.safefile import MB

PROBE_TIMEOUT_S = 120.0
CHILD_PROBED = ("tflite-runtime",)  # runtimes whose first load of a model runs in a child

log = logging.getLogger("edged.model")


def resolve_threads(requested: int | None) -> int:
    cores = cpu_count()
    if requested is None:
        return default_threads()
    if requested > cores:
        log.warning("model.threads: %d is more than the %d cores available; using %d",
                    requested, cores, cores)
        return cores
    return requested


def model_file(config: Config, path: Path) -> ModelFile:
    return read_model_file(path, config.model.max_size_mb * MB)


def probe_model(runtime_name: str, path: Path, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Load ``path`` and run one inference on zeros in a child process; ModelError when the
    child fails, crashes or hangs."""
    request = json.dumps({"runtime": runtime_name, "model": str(path)})
    try:
        r = subprocess.run([sys.executable, "-m", "edged.runtime.loader", request],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModelError(f"model file {path}: {runtime_name} did not finish loading it and "
                         f"running one inference within {timeout:.0f}s") from None
    if r.returncode < 0:
        try:
            name = signal.Signals(-r.returncode).name
        except ValueError:
            name = f"signal {-r.returncode}"
        raise ModelError(f"model file {path}: {runtime_name} crashed ({name}) loading it or "
                         "running its first inference; the file is corrupt or not a model "
                         "this runtime can run")
    if r.returncode != 0:
        lines = r.stdout.strip().splitlines()
        message = lines[-1] if lines else (r.stderr.strip()[-300:] or f"exit {r.returncode}")
        raise ModelError(f"model file {path}: {runtime_name} cannot load it: {message}")


def _probe_child(request: dict[str, str]) -> int:
    import numpy as np

    try:
        runtime = select_runtime(request["runtime"])  # type: ignore[arg-type]
        interp = runtime.interpreter_class(model_path=request["model"], num_threads=1)
        interp.allocate_tensors()
        for d in interp.get_input_details():
            interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        interp.invoke()
    except Exception as exc:  # the message goes to the parent, which names the file
        print(f"{type(exc).__name__}: {str(exc)[:300]}".replace("\n", " "))
        return 1
    return 0


def _runner(config: Config, runtime: Runtime, path: Path, delegates: list[object],
            name: str) -> ModelRunner:
    norm = config.model.normalize
    file = model_file(config, path)
    if runtime.name in CHILD_PROBED and not delegates and not file.edgetpu_compiled:
        probe_model(runtime.name, path)
    runner = ModelRunner(file, runtime, resolve_threads(config.model.threads),
                         delegates=delegates, delegate_name=name,
                         mean=norm.mean if norm else None, std=norm.std if norm else None)
    runner.device = config.model.edgetpu_device or "default" if name == "edgetpu" else None
    return runner


def _edgetpu_model(config: Config) -> Path | None:
    cfg = config.model
    if cfg.edgetpu_path is not None:
        return cfg.edgetpu_path
    if model_file(config, config.model_path).edgetpu_compiled:
        return config.model_path
    return None


def _try_edgetpu(config: Config, runtime: Runtime) -> ModelRunner:
    cfg = config.model
    path = _edgetpu_model(config)
    if path is None:
        raise EdgeTpuUnavailable("model.edgetpu_path is not set: give the _edgetpu.tflite "
                                 "twin of model.path compiled with edgetpu_compiler",
                                 "no-model")
    if cfg.delegate == "auto":
        probe(runtime.name, cfg.edgetpu_library, cfg.edgetpu_device, str(path),
              cfg.edgetpu_options)
    delegate = load_edgetpu_delegate(runtime, cfg.edgetpu_library, cfg.edgetpu_device,
                                     cfg.edgetpu_options)
    return _runner(config, runtime, path, [delegate], "edgetpu")


def load_model(config: Config) -> ModelRunner:
    """Load the model the config names on the runtime and delegate it asks for; raises
    ModelError / RuntimeUnavailable with the file and reason."""
    cfg = config.model
    runtime = select_runtime(cfg.runtime)
    if cfg.delegate != "cpu":
        try:
            runner = _try_edgetpu(config, runtime)
            log.info("model %s on the Edge TPU (%s, device %s) in %.0f ms", runner.file.path.name,
                     cfg.edgetpu_library, runner.device, runner.load_seconds * 1e3)
            return runner
        except EdgeTpuUnavailable as exc:
            if cfg.delegate == "edgetpu":
                raise ModelError(f"model.delegate is edgetpu, but {exc}") from None
            if model_file(config, config.model_path).edgetpu_compiled:
                raise ModelError(f"model.delegate auto: the Edge TPU is not usable ({exc}), "
                                 f"and model.path {config.model_path} is Edge-TPU-compiled; "
                                 "set model.path to the CPU model") from None
            log.warning("model.delegate auto: running %s on the CPU, because %s",
                        config.model_path.name, exc)
    runner = _runner(config, runtime, config.model_path, [], "cpu")
    log.info("model %s loaded on %s %s (cpu, %d threads) in %.0f ms", runner.file.path.name,
             runtime.name, runtime.version, runner.threads, runner.load_seconds * 1e3)
    return runner


if __name__ == "__main__":
    raise SystemExit(_probe_child(json.loads(sys.argv[1])))
