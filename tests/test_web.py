"""edged web against a real daemon: the page in headless Chromium (the box of a known
detection drawn where it belongs, status running, the frame counter moving), /metrics parsed
with the Prometheus client's own parser and matching the status, tokens over real HTTP."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image
from webhelp import WebProcess, chromium, wait_for

pytest.importorskip("prometheus_client", reason="prometheus-client is in the dev extra")

SSD = ROOT / "tests/models/ssd_grid.tflite"
BOX = (0.5, 0.25, 0.75, 0.5)  # the white cell below, as tests/test_daemon.py shows


def grid_frame(folder: Path) -> Path:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[120:240, 320:480] = 255
    path = folder / "frame.png"
    Image.fromarray(frame).save(path)
    return path


def detection_daemon(tmp_path: Path, daemon_factory, frames: bool = True):  # type: ignore[no-untyped-def]
    image = grid_frame(tmp_path)
    return daemon_factory({"source": {"type": "images", "path": str(image), "fps": 15},
                           "model": {"path": str(SSD)},
                           "publish": {"frames": frames, "status_interval": 1.0}}, subdir="d")


def magenta(px: tuple[int, ...]) -> bool:
    r, g, b = px[:3]
    return r > 180 and g < 90 and b > 180


def test_page_draws_the_known_box_and_updates(tmp_path: Path, daemon_factory) -> None:
    d = detection_daemon(tmp_path, daemon_factory)
    web = WebProcess(tmp_path, {"publish": {"endpoint": d.endpoint, "frames": True,
                                            "status_interval": 1.0}})
    browser = chromium()
    try:
        browser.get(web.base + "/")
        count = lambda: int(browser.find_element("id", "frame-count").text or 0)  # noqa: E731
        wait_for(lambda: count() >= 3, 60, "three frames drawn")
        wait_for(lambda: browser.find_element("id", "state").text == "running", 60, "running")
        rect = browser.execute_script(
            "const r = document.getElementById('view').getBoundingClientRect();"
            "return [r.left, r.top, r.width, r.height];")
        shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
        first = count()
        left, top, width, height = rect
        x0, y0 = left + BOX[0] * width, top + BOX[1] * height
        x1, y1 = left + BOX[2] * width, top + BOX[3] * height
        edges = [(x0 + (x1 - x0) * t / 10, y) for t in range(1, 10) for y in (y0, y1)]
        edges += [(x, y0 + (y1 - y0) * t / 10) for t in range(1, 10) for x in (x0, x1)]
        hits = [magenta(shot.getpixel((round(x), round(y)))) for x, y in edges]
        assert sum(hits) >= 0.9 * len(hits), f"{sum(hits)}/{len(hits)} edge points magenta"
        inside = shot.getpixel((round((x0 + x1) / 2), round((y0 + y1) / 2)))
        outside = shot.getpixel((round(left + 0.2 * width), round(top + 0.8 * height)))
        assert not magenta(inside) and not magenta(outside)
        wait_for(lambda: count() >= first + 5, 60, "the frame counter to move on")
        second = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
        assert second.size == shot.size
    finally:
        browser.quit()
        assert web.stop() == 0
    assert d.stop() == 0


def _metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_parse_and_match_the_status(tmp_path: Path, daemon_factory) -> None:
    d = detection_daemon(tmp_path, daemon_factory, frames=False)
    web = WebProcess(tmp_path, {"publish": {"endpoint": d.endpoint, "status_interval": 1.0}})

    def consistent():  # type: ignore[no-untyped-def]
        code, _h, body = web.get("/api/status")
        if code != 200:
            return None
        status = json.loads(body)
        values = _metric_values(web.get("/metrics")[2].decode())
        again = json.loads(web.get("/api/status")[2])
        if again != status or status["state"] != "running" or not status["frames"].get(
                "published"):
            return None  # a new status arrived in between: read again
        if not values.get(("edged_inference_seconds_count", ())):
            return None  # that status came before the first prediction this companion received
        return status, values

    status, values = wait_for(consistent, 60, "a running status and matching metrics")
    for stage, n in status["frames"].items():
        assert values[("edged_frames_total", (("stage", stage),))] == n
    for cause, n in status["dropped"].items():
        assert values[("edged_dropped_frames_total", (("cause", cause),))] == n
    assert values[("edged_state", (("state", "running"),))] == 1
    assert values[("edged_up", ())] == 1
    assert values[("edged_frame_rate_hertz", (("direction", "out"),))] == status["fps_out"]
    assert values[("edged_build_info", (("version", __import__("edged").__version__),))] == 1
    assert values[("edged_inference_seconds_count", ())] >= 1
    assert ("edged_end_to_end_latency_seconds_bucket", (("le", "+Inf"),)) in values
    assert web.stop() == 0
    assert d.stop() == 0


def test_daemon_down_is_a_clear_answer(tmp_path: Path) -> None:
    web = WebProcess(tmp_path, {"publish": {"endpoint": f"ipc://{tmp_path}/none.sock"}})
    code, _h, body = web.get("/api/status")
    assert code == 503 and b"not running" in body
    assert _metric_values(web.get("/metrics")[2].decode())[("edged_up", ())] == 0
    assert web.stop() == 0


def test_token_enforced_over_http(tmp_path: Path) -> None:
    token = "0123456789abcdef0123456789abcdef"
    (tmp_path / "token").write_text(token + "\n")
    web = WebProcess(tmp_path, {"publish": {"endpoint": f"ipc://{tmp_path}/none.sock"},
                                "web": {"token_file": str(tmp_path / "token")}})
    for path in ("/", "/api/status", "/metrics", "/api/stream", "/app.js"):
        assert web.get(path)[0] == 401, path
        assert web.get(path, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    assert web.get("/metrics", {"Authorization": f"Bearer {token}"})[0] == 200
    code, headers, _ = web.get(f"/?token={token}")
    assert code == 303 and "HttpOnly" in headers["Set-Cookie"]
    cookie = headers["Set-Cookie"].split(";")[0]
    code, headers, body = web.get("/", {"Cookie": cookie})
    assert code == 200 and b"<canvas" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "Access-Control-Allow-Origin" not in headers
    assert web.get("/?token=nope")[0] == 401
    assert web.stop() == 0


def test_loopback_without_token_refuses_foreign_host_names(tmp_path: Path) -> None:
    web = WebProcess(tmp_path, {"publish": {"endpoint": f"ipc://{tmp_path}/none.sock"}})
    assert web.get("/", {"Host": "attacker.example:8080"})[0] == 403  # DNS rebinding
    assert web.get("/", {"Host": f"localhost:{web.port}"})[0] == 200
    assert web.get("/", {"Host": f"127.0.0.1:{web.port}"})[0] == 200
    assert web.get("/api/status", {"Host": "127.0.0.1"})[0] == 503
    assert web.stop() == 0


def test_non_loopback_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("web: {listen: '0.0.0.0:8080'}\n")
    r = subprocess.run([sys.executable, "-m", "edged", "check-config", str(cfg)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 78 and "web.listen" in r.stdout + r.stderr and "token_file" in (
        r.stdout + r.stderr)
    r = subprocess.run([sys.executable, "-m", "edged", "web", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 78


def test_streams_are_capped(tmp_path: Path) -> None:
    import http.client

    web = WebProcess(tmp_path, {"publish": {"endpoint": f"ipc://{tmp_path}/none.sock"},
                                "web": {"max_clients": 2}})
    conns = []
    for _ in range(2):
        c = http.client.HTTPConnection("127.0.0.1", web.port, timeout=20)
        c.request("GET", "/api/stream")
        r = c.getresponse()
        assert r.status == 200 and r.readline().startswith(b"event: config")
        conns.append(c)
    assert web.get("/api/stream")[0] == 503
    conns[0].close()
    wait_for(lambda: web.get("/api/status")[0] == 503 and _stream_ok(web.port), 30,
             "a slot to free up")
    for c in conns:
        c.close()
    assert web.stop() == 0


def _stream_ok(port: int) -> bool:
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", "/api/stream")
        return c.getresponse().status == 200
    finally:
        c.close()
