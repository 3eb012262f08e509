"""From ``model:`` config to a loaded, warmed-up ModelRunner, choosing the delegate.

``delegate: cpu`` runs ``model.path``. ``edgetpu`` runs ``model.edgetpu_path`` on the Edge
TPU or fails at start saying why. ``auto`` probes the TPU in a child process (a mismatched
libedgetpu crashes the process that loads it) and falls back to ``model.path`` on the CPU,
with one log line saying which model runs where and why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edged.config import Config
from edged.errors import ModelError
from edged.runtime.edgetpu import EdgeTpuUnavailable, load_edgetpu_delegate, probe
from edged.runtime.model import ModelRunner, cpu_count, default_threads
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import Runtime, select_runtime

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


def _runner(config: Config, runtime: Runtime, path: Path, delegates: list[object],
            name: str) -> ModelRunner:
    norm = config.model.normalize
    runner = ModelRunner(read_model_file(path), runtime, resolve_threads(config.model.threads),
                         delegates=delegates, delegate_name=name,
                         mean=norm.mean if norm else None, std=norm.std if norm else None)
    runner.device = config.model.edgetpu_device or "default" if name == "edgetpu" else None
    return runner


def _edgetpu_model(config: Config) -> Path | None:
    cfg = config.model
    if cfg.edgetpu_path is not None:
        return cfg.edgetpu_path
    if read_model_file(config.model_path).edgetpu_compiled:
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
            if read_model_file(config.model_path).edgetpu_compiled:
                raise ModelError(f"model.delegate auto: the Edge TPU is not usable ({exc}), "
                                 f"and model.path {config.model_path} is Edge-TPU-compiled; "
                                 "set model.path to the CPU model") from None
            log.warning("model.delegate auto: running %s on the CPU, because %s",
                        config.model_path.name, exc)
    runner = _runner(config, runtime, config.model_path, [], "cpu")
    log.info("model %s loaded on %s %s (cpu, %d threads) in %.0f ms", runner.file.path.name,
             runtime.name, runtime.version, runner.threads, runner.load_seconds * 1e3)
    return runner
