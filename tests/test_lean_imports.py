"""The daemon maps OpenCV only when a resize needs it: on the default path (``area``,
shrinking, edged's kernel) cv2 stays out of the process (~4 MB private, up to ~30 MB of
mapped library pages). Real daemons, checked through /proc/PID/maps."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import receive_json, subscribe

from edged.area import KERNEL


def mapped(pid: int, needle: str) -> bool:
    return needle in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize("interpolation, loads_cv2", [("area", False), ("bilinear", True)])
def test_opencv_is_mapped_only_when_a_resize_needs_it(daemon_factory, interpolation: str,
                                                      loads_cv2: bool) -> None:
    if KERNEL is None and not loads_cv2:
        pytest.skip("edged._area was not built: area resizes with OpenCV here")
    d = daemon_factory({"source": {"type": "synthetic", "fps": 20, "size": [640, 480]},
                        "model": {"interpolation": interpolation}})
    sub = subscribe(d.endpoint)
    receive_json(sub, 3, timeout=60)  # frames were resized: the resize path has run
    if not loads_cv2:
        assert mapped(d.proc.pid, "edged/_area")  # the kernel did the resize
    assert mapped(d.proc.pid, "cv2") == loads_cv2
    sub.close(0)
    assert d.stop() == 0
