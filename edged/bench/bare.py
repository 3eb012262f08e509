"""The ceiling: set_tensor / invoke / get_tensor in a tight loop, nothing else."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edged.runtime.modelfile import read_model_file
from edged.runtime.select import select_runtime


def bare_loop(model: Path, threads: int, runtime: str, seconds: float) -> dict[str, Any]:
    read_model_file(model)  # a missing or corrupt file: a clear ModelError, not a traceback
    rt = select_runtime(runtime)  # type: ignore[arg-type]
    interp = rt.interpreter_class(model_path=str(model), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = [d["index"] for d in interp.get_output_details()]
    frame = np.random.default_rng(0).integers(0, 256, inp["shape"]).astype(inp["dtype"])
    for _ in range(5):
        interp.set_tensor(inp["index"], frame)
        interp.invoke()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        interp.set_tensor(inp["index"], frame)
        interp.invoke()
        for i in outs:
            interp.get_tensor(i)
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    ms = np.array(times) * 1e3
    return {"fps": len(times) / elapsed, "frames": len(times),
            "invoke_ms_p50": float(np.percentile(ms, 50)),
            "invoke_ms_p99": float(np.percentile(ms, 99)),
            "runtime": rt.name, "runtime_version": rt.version}
