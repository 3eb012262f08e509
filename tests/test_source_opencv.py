"""The OpenCV source on video files the tests write with cv2.VideoWriter (MJPG in .avi)."""

from __future__ import annotations

import http.server
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.config import parse_config
from edged.errors import ConfigError, SourceError
from edged.sources import build_source
from edged.sources.opencv import OpenCVSource, OpenCVSourceConfig, classify_device, list_cameras

cv2 = pytest.importorskip("cv2")

W, H, N = 64, 48, 6


def frame_colour(i: int) -> tuple[int, int, int]:
    """RGB of frame i: red fixed, green counts frames, blue fixed (JPEG keeps flat colours)."""
    return (200, 20 + 35 * i, 60)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "count.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert writer.isOpened()
    for i in range(N):
        r, g, b = frame_colour(i)
        writer.write(np.tile(np.array([b, g, r], np.uint8), (H, W, 1)))  # VideoWriter takes BGR
    writer.release()
    return path


def source(device: Any, **options: Any) -> OpenCVSource:
    return OpenCVSource(OpenCVSourceConfig(type="opencv", device=device, **options))


def frame_index(image: np.ndarray) -> int:
    """Which frame this is, from its green level (and a check that it is RGB, not BGR)."""
    r, g, b = (int(v) for v in image[H // 2, W // 2])
    assert abs(r - 200) <= 4 and abs(b - 60) <= 4, f"not RGB order: {(r, g, b)}"
    return round((g - 20) / 35)


def test_reads_a_video_file_as_rgb_in_order(video: Path) -> None:
    src = source(str(video))
    src.open()
    seen, stamps = [], []
    for _ in range(N):  # a frame is valid until the next read: inspect it now
        frame = src.read()
        assert frame is not None and frame.image.shape == (H, W, 3)
        seen.append(frame_index(frame.image))
        stamps.append(frame.capture_ns)
    src.close()
    assert seen == list(range(N))
    assert stamps == sorted(stamps)


def test_past_the_end_without_loop_ends_the_stream(video: Path) -> None:
    src = source(str(video), loop=False)
    src.open()
    for _ in range(N):
        assert src.read() is not None
    assert src.read() is None
    src.close()


def test_past_the_end_with_loop_wraps_to_the_first_frame(video: Path) -> None:
    src = source(str(video), loop=True)
    src.open()
    seen = []
    for _ in range(2 * N + 2):
        frame = src.read()
        assert frame is not None
        seen.append(frame_index(frame.image))
    src.close()
    assert seen == list(range(N)) * 2 + [0, 1]


def test_frames_land_in_one_preallocated_buffer(video: Path) -> None:
    src = source(str(video))
    src.open()
    a, b = src.read(), src.read()
    assert a is not None and b is not None and a.image is b.image
    src.close()


def test_built_from_config(video: Path) -> None:
    config = parse_config(f"source:\n  type: opencv\n  device: {video}\n  loop: true\n")
    src = build_source(config.source)
    assert isinstance(src, OpenCVSource) and src.describe() == f"opencv:{video}"


def test_bad_fourcc_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="fourcc"):
        parse_config("source:\n  type: opencv\n  fourcc: MJPEG\n")


@pytest.mark.parametrize("device,kind", [
    (0, "camera"), ("2", "camera"), ("/dev/video0", "camera"), ("rtsp://cam.local/s", "stream"),
    ("http://10.0.0.2:8080/video", "stream"), ("clips/a.mp4", "file"), ("/data/a.avi", "file")])
def test_device_kinds(device: Any, kind: str) -> None:
    assert classify_device(device)[0] == kind


def test_missing_file_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found") as err:
        source(str(tmp_path / "nope.avi")).open()
    assert err.value.transient is False


def test_undecodable_file_is_permanent(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError, match="cannot be decoded") as err:
        source(str(bad)).open()
    assert err.value.transient is False


def test_missing_camera_is_transient_and_lists_cameras() -> None:
    with pytest.raises(SourceError, match="V4L2 cameras found") as err:
        source("/dev/video99").open()
    assert err.value.transient is True


def test_unreachable_stream_is_transient() -> None:
    with pytest.raises(SourceError, match="could not be opened") as err:
        source("http://127.0.0.1:9/none.avi", timeout_s=1).open()
    assert err.value.transient is True


class _Server:
    """Serves the video over loopback HTTP, cut off after ``limit`` bytes (a dying camera)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.limit = data, len(data)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                self.wfile.write(outer.data[: outer.limit])

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cam.avi"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(video: Path) -> Iterator[_Server]:
    s = _Server(video.read_bytes())
    yield s
    s.close()


def test_stream_that_stops_is_a_transient_failure_then_reopens(server: _Server) -> None:
    src = source(server.url, timeout_s=2)
    src.open()
    first = src.read()
    assert first is not None and frame_index(first.image) == 0
    with pytest.raises(SourceError, match="no frame") as err:
        for _ in range(N + 1):  # the stream ends: for a live source that is a failure
            src.read()
    assert err.value.transient is True
    src.close()
    src.open()  # what the pipeline does after its backoff delay
    again = src.read()
    assert again is not None and frame_index(again.image) == 0
    src.close()


def test_missing_opencv_is_permanent_with_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                       video: Path) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(SourceError, match=r"edged\[opencv\]") as err:
        source(str(video)).open()
    assert err.value.transient is False and "python3-opencv" in str(err.value)


def test_list_cameras_reads_sysfs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import edged.sources.opencv as mod

    for n, name in ((0, "USB Camera: HD Webcam"), (10, "bcm2835-codec-decode"), (2, "C920")):
        (tmp_path / f"video{n}").mkdir()
        (tmp_path / f"video{n}" / "name").write_text(name + "\n")
    monkeypatch.setattr(mod, "SYS_V4L", tmp_path)
    cams = list_cameras()
    assert [c["device"] for c in cams] == ["/dev/video0", "/dev/video2", "/dev/video10"]
    assert [c["pi_hardware"] for c in cams] == [False, False, True]
    assert cams[0]["name"] == "USB Camera: HD Webcam" and cams[1]["index"] == 2
