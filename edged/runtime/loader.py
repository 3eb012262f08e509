"""From ``model:`` config to a loaded, warmed-up ModelRunner (delegate choice lives here)."""

from __future__ import annotations

import logging

from edged.config import Config
from edged.runtime.model import ModelRunner, cpu_count, default_threads
from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime

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


def load_model(config: Config) -> ModelRunner:
    """Load the model the config names on the runtime it asks for; raises ModelError /
    RuntimeUnavailable with the file and reason."""
    cfg = config.model
    runtime = select_runtime(cfg.runtime)
    model_file = read_model_file(config.model_path)
    norm = cfg.normalize
    runner = ModelRunner(model_file, runtime, resolve_threads(cfg.threads),
                         mean=norm.mean if norm else None, std=norm.std if norm else None)
    log.info("model %s loaded on %s %s (cpu, %d threads) in %.0f ms", model_file.path.name,
             runtime.name, runtime.version, runner.threads, runner.load_seconds * 1e3)
    return runner
