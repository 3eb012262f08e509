"""The picamera2 source against the fake picamera2 in tests/fakes (no Pi camera here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.config import parse_config
from edged.errors import ConfigError, SourceError
from edged.sources import build_source
from edged.sources.picamera2 import Picamera2Source, Picamera2SourceConfig, list_cameras

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh fake camera world (one imx708 attached, VC4 platform, no faults)."""
    monkeypatch.syspath_prepend(str(FAKES))
    for name in [m for m in sys.modules if m.split(".")[0] in ("picamera2", "libcamera")]:
        monkeypatch.delitem(sys.modules, name)
    import picamera2.fake

    yield picamera2.fake.reset()


def source(target: tuple[int, int] | None = (224, 224), **options: Any) -> Picamera2Source:
    options.setdefault("timeout_s", 0.05)
    src = Picamera2Source(Picamera2SourceConfig(type="picamera2", **options))
    src.target_size = target
    return src


def solid(rgb: tuple[int, int, int], w: int = 64, h: int = 48) -> np.ndarray:
    return np.tile(np.array(rgb, np.uint8), (h, w, 1))


def quadrants() -> np.ndarray:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    scene = np.zeros((48, 64, 3), np.uint8)
    scene[:24, :32] = (255, 0, 0)
    scene[:24, 32:] = (0, 255, 0)
    scene[24:, :32] = (0, 0, 255)
    scene[24:, 32:] = (255, 255, 255)
    return scene


def expected_render(world: Any, size: tuple[int, int]) -> np.ndarray:
    """The whole field of view squeezed to ``size`` (model.resize: stretch, the default)."""
    import libcamera
    from picamera2 import _isp

    return _isp.render(world.scene, (0, 0, *world.cameras[0].resolution),
                       world.cameras[0].resolution, libcamera.Transform(), {"size": size})


# -- import and install hints ---------------------------------------------------------------

def test_missing_picamera2_is_a_permanent_error_with_install_instructions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError) as err:
        source().open()
    assert err.value.transient is False
    text = str(err.value)
    assert "apt install python3-picamera2" in text and "--system-site-packages" in text
    with pytest.raises(SourceError, match="python3-picamera2"):
        list_cameras()


def test_built_from_config_by_type(world: Any) -> None:
    config = parse_config("source:\n  type: picamera2\n  camera: 0\n  stream: lores\n")
    src = build_source(config.source)
    assert isinstance(src, Picamera2Source) and src.describe() == "picamera2:0:lores"


def test_crop_outside_the_frame_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="crop"):
        parse_config("source:\n  type: picamera2\n  crop: [0.5, 0.5, 0.6, 0.2]\n")


# -- frames ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["BGR888", "RGB888", "XBGR8888", "XRGB8888"])
def test_main_stream_delivers_rgb_whatever_the_drm_format_name(world: Any, fmt: str) -> None:
    world.set_scene(solid((200, 50, 10)))
    src = source(format=fmt)
    src.open()
    frame = src.read()
    src.close()
    assert frame.image.shape == (224, 224, 3) and frame.image.dtype == np.uint8
    assert (frame.image == (200, 50, 10)).all()
    assert world.last_config["main"]["format"] == fmt


def test_stream_is_configured_at_model_size_so_the_cpu_never_resizes(world: Any) -> None:
    src = source(target=(300, 200))
    src.open()
    frame = src.read()
    main = world.last_config["main"]
    assert main["size"] == (300, 200) and main["stride"] > 300 * 3  # the ISP pads rows
    assert world.last_config["lores"] is None and world.last_config["raw"] is None
    assert world.last_config["queue"] is False  # always a fresh frame, never a queued one
    assert np.array_equal(frame.image, expected_render(world, (300, 200)))
    src.close()


def test_odd_model_size_is_rounded_to_even_and_cropped_back(world: Any) -> None:
    src = source(target=(257, 257))
    src.open()
    frame = src.read()
    assert world.last_config["main"]["size"] == (258, 258)
    assert frame.size == (257, 257)
    assert np.array_equal(frame.image, expected_render(world, (258, 258))[:257, :257])
    src.close()


@pytest.mark.parametrize("colour_space", ["sycc", "smpte170m", "rec709"])
def test_lores_yuv420_is_converted_with_the_configured_range(world: Any,
                                                              colour_space: str) -> None:
    colours = [(200, 50, 10), (16, 128, 240), (255, 255, 255), (0, 0, 0)]
    src = source(stream="lores", colour_space=colour_space)
    src.open()
    for rgb in colours:
        world.set_scene(solid(rgb))
        image = src.read().image
        assert np.abs(image.astype(int) - rgb).max() <= 3, (colour_space, rgb, image[0, 0])
    lores = world.last_config["lores"]
    assert lores["format"] == "YUV420" and lores["size"] == (224, 224)
    src.close()


def test_lores_gradient_matches_the_rgb_render(world: Any) -> None:
    src = source(stream="lores")
    src.open()
    image = src.read().image.astype(int)
    src.close()
    assert np.abs(image - expected_render(world, (224, 224))).mean() < 2


def test_lores_rgb_is_refused_on_a_pi4_with_a_hint(world: Any) -> None:
    with pytest.raises(SourceError, match="use format YUV420") as err:
        source(stream="lores", format="BGR888").open()
    assert err.value.transient is False
    assert world.acquired == set()  # the camera was closed again


def test_lores_rgb_works_on_a_pi5(world: Any) -> None:
    world.platform = "pisp"
    world.set_scene(solid((1, 2, 3)))
    src = source(stream="lores", format="BGR888")
    src.open()
    assert (src.read().image == (1, 2, 3)).all()
    src.close()


def test_capture_ns_is_the_sensor_timestamp(world: Any) -> None:
    src = source()
    src.open()
    frame = src.read()
    assert frame.capture_ns == world.last_metadata["SensorTimestamp"]
    src.close()


def test_every_request_is_released_and_the_frame_is_a_copy(world: Any) -> None:
    src = source(buffer_count=2)
    src.open()
    frames = [src.read() for _ in range(5)]  # more reads than buffers: releases are needed
    assert world.outstanding == 0 and world.frames == 5
    # the camera buffers were poisoned on release; the frame lives in the source's own buffer
    assert not (frames[-1].image == 0xEE).all()
    assert np.shares_memory(frames[0].image, frames[-1].image)  # one preallocated buffer
    src.close()


def test_flips_use_the_libcamera_transform(world: Any) -> None:
    world.set_scene(quadrants())
    src = source(target=(64, 48), hflip=True, vflip=True)
    src.open()
    image = src.read().image
    src.close()
    t = world.last_config["transform"]
    assert t.hflip and t.vflip
    assert tuple(image[2, 2]) == (255, 255, 255) and tuple(image[-3, -3]) == (255, 0, 0)


def test_crop_sets_scaler_crop_from_the_normalized_roi(world: Any) -> None:
    world.set_scene(quadrants())
    src = source(target=(64, 48), crop=(0.5, 0.5, 0.5, 0.5))
    src.open()
    image = src.read().image
    src.close()
    assert world.last_controls["ScalerCrop"] == (2304, 1296, 2304, 1296)
    assert (image[2:-2, 2:-2] == 255).all()  # bottom-right quadrant only (edges are blended)


def test_options_are_passed_through(world: Any) -> None:
    src = source(size=(2304, 1296), framerate=15, buffer_count=3,
                 controls={"ExposureTime": 10000, "AnalogueGain": 2.0})
    src.open()
    config = world.last_config
    assert config["buffer_count"] == 3
    assert config["sensor"]["output_size"] == (2304, 1296)
    assert config["controls"]["ExposureTime"] == 10000
    assert config["controls"]["AnalogueGain"] == 2.0 and config["controls"]["FrameRate"] == 15
    src.close()


def test_unknown_control_is_a_config_error_listing_the_accepted_ones(world: Any) -> None:
    with pytest.raises(SourceError, match="ExposureTime") as err:
        source(controls={"Exposure": 1}).open()
    assert err.value.transient is False and "Exposure is not advertised" in str(err.value)


def test_list_cameras(world: Any) -> None:
    world.plug(2)
    cams = list_cameras()
    assert [c["index"] for c in cams] == [0, 1]
    assert cams[0]["model"] == "imx708" and "imx708" in cams[0]["id"]
    world.unplug()
    assert list_cameras() == []


# -- failures -------------------------------------------------------------------------------

def test_no_camera_at_start_is_transient(world: Any) -> None:
    world.unplug()
    with pytest.raises(SourceError, match="no cameras found") as err:
        source().open()
    assert err.value.transient is True


def test_wrong_camera_index_is_permanent_and_lists_what_was_found(world: Any) -> None:
    with pytest.raises(SourceError) as err:
        source(camera=2).open()
    assert err.value.transient is False
    assert "camera 2 does not exist" in str(err.value) and "0: imx708" in str(err.value)


def test_acquire_failure_is_transient_and_the_next_open_works(world: Any) -> None:
    world.acquire_failures = 1
    src = source()
    with pytest.raises(SourceError, match="could not be acquired") as err:
        src.open()
    assert err.value.transient is True and "busy" in str(err.value)
    src.open()
    assert src.read().image.shape == (224, 224, 3)
    src.close()


def test_camera_in_use_elsewhere_is_transient(world: Any) -> None:
    first = source()
    first.open()
    with pytest.raises(SourceError, match="could not be acquired"):
        source().open()
    first.close()


def test_timeout_is_transient_and_does_not_leak_a_frame(world: Any) -> None:
    src = source()
    src.open()
    world.timeouts = 1
    with pytest.raises(SourceError, match="no frame within") as err:
        src.read()
    assert err.value.transient is True
    src.read()
    assert world.leaked == 0 and world.outstanding == 0
    src.close()


def test_the_fake_models_picamera2_leaking_a_frame_after_an_unflushed_timeout(
        world: Any) -> None:
    from picamera2 import Picamera2

    cam = Picamera2(0)
    cam.start()
    world.timeouts = 1
    with pytest.raises(TimeoutError):
        cam.capture_request(wait=0.01)
    cam.capture_request(wait=0.01).release()
    assert world.leaked == 1  # why the source calls cancel_all_and_flush() on a timeout
    cam.close()


def test_camera_disappearing_mid_stream_then_returning(world: Any) -> None:
    src = source()
    src.open()
    src.read()
    world.unplug()
    with pytest.raises(SourceError) as err:
        src.read()
    assert err.value.transient is True
    src.close()
    assert world.acquired == set()
    with pytest.raises(SourceError, match="no cameras found"):
        src.open()
    world.plug()
    src.open()
    assert src.read().image.shape == (224, 224, 3)
    src.close()


def test_blank_frames_are_dropped_and_beyond_the_limit_are_a_failure(world: Any) -> None:
    src = source(blank_frames_limit=3)
    src.open()
    world.blank_frames = 2
    assert src.read().image.any()  # two black frames skipped, the third is good
    assert world.frames == 3
    world.blank_frames = 3
    with pytest.raises(SourceError, match="3 all-black frames") as err:
        src.read()
    assert err.value.transient is True and world.outstanding == 0
    assert src.read().image.any()
    src.close()


def test_blank_frame_check_can_be_turned_off(world: Any) -> None:
    src = source(blank_frames_limit=0)
    src.open()
    world.blank_frames = 5
    assert not src.read().image.any()
    src.close()


@pytest.mark.parametrize("stream", ["main", "lores"])
def test_read_into_fills_the_slot_at_model_size_with_what_read_gives(world: Any,
                                                                     stream: str) -> None:
    src = source(target=(300, 200), stream=stream)
    src.open()
    expected = src.read().image.copy()
    slot = np.full((200, 300, 3), 7, np.uint8)
    frame = src.read_into(slot)
    assert frame.image is slot and np.array_equal(slot, expected)
    assert world.outstanding == 0
    src.close()


def test_read_into_at_another_size_or_an_odd_model_size_is_a_plain_read(world: Any) -> None:
    src = source(target=(257, 257))
    src.open()
    slot = np.zeros((257, 257, 3), np.uint8)
    frame = src.read_into(slot)  # the ISP gives 258x258: cropped back, not written in place
    assert frame.image is not slot and frame.size == (257, 257) and not slot.any()
    other = src.read_into(np.zeros((10, 10, 3), np.uint8))
    assert other.size == (257, 257)
    src.close()


def test_read_into_drops_blank_frames_like_read(world: Any) -> None:
    src = source(blank_frames_limit=3)
    src.open()
    slot = np.zeros((224, 224, 3), np.uint8)
    world.blank_frames = 2
    assert src.read_into(slot).image.any() and world.frames == 2 + 1
    world.blank_frames = 3
    with pytest.raises(SourceError, match="3 all-black frames"):
        src.read_into(slot)
    src.close()


def test_a_frame_zero_on_the_sampled_rows_but_not_elsewhere_is_not_blank() -> None:
    from edged.sources.picamera2 import all_zero

    a = np.zeros((224, 224, 3), np.uint8)
    assert all_zero(a)
    a[3, 100, 1] = 1  # row 3 is not one of the sampled rows (every 7th)
    assert not all_zero(a)
    a[3, 100, 1], a[7, 0, 0] = 0, 255
    assert not all_zero(a)


def test_wrongly_shaped_frame_is_transient_and_the_request_is_released(world: Any) -> None:
    src = source()
    src.open()
    world.short_frames = 1
    with pytest.raises(SourceError, match="garbage frame") as err:
        src.read()
    assert err.value.transient is True and world.outstanding == 0
    assert src.read().image.shape == (224, 224, 3)
    src.close()


def test_close_tolerates_a_camera_that_fails_to_release(world: Any) -> None:
    src = source()
    src.open()
    world.close_failures = 1
    src.close()
    src.close()  # idempotent
    src.open()
    src.close()


def test_read_before_open_is_an_error(world: Any) -> None:
    with pytest.raises(SourceError, match="not open"):
        source().read()


# --- model.resize on the camera: the ISP scales and crops, boxes map back to the sensor FOV ---

IMX708 = (4608, 2592)


def object_scene() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 16:9 scene spanning the whole sensor, with a red box at a known place in it."""
    scene = np.full((360, 640, 3), 90, np.uint8)
    scene[100:160, 400:480] = (255, 0, 0)
    return scene, (400 / 640, 100 / 360, 480 / 640, 160 / 360)


def red_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """The red object's pixel box [x0, y0, x1, y1) in ``image``: a perfect detector."""
    ys, xs = np.nonzero((image[..., 0] > 170) & (image[..., 1] < 120))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


EXPECTED_CROP = {"stretch": (0, 0, *IMX708), "letterbox": (0, 0, *IMX708),
                 "center-crop": (1008, 0, 2592, 2592)}  # the middle square of a 16:9 sensor
EXPECTED_FRAME = {"stretch": (96, 96), "center-crop": (96, 96), "letterbox": (96, 54)}


@pytest.mark.parametrize("platform", ["vc4", "pisp"])
@pytest.mark.parametrize("mode", ["stretch", "center-crop", "letterbox"])
def test_boxes_map_back_to_the_same_place_in_the_sensor_fov(world: Any, platform: str,
                                                             mode: str) -> None:
    from edged.plan import with_fov
    from edged.preprocess import Resizer

    world.platform = platform
    scene, expected = object_scene()
    world.set_scene(scene)
    src = source(target=(96, 96))
    src.resize_mode = mode
    src.open()
    frame = src.read()
    src.close()
    # the ISP did the scaling and cropping the mode asks for, set explicitly on each platform
    control = "ScalerCrops" if platform == "pisp" else "ScalerCrop"
    crop = world.last_controls[control]
    assert (crop[0] if platform == "pisp" else crop) == EXPECTED_CROP[mode]
    assert frame.size == EXPECTED_FRAME[mode]
    # the pipeline's resize (identity, or letterbox bars) then the source's FOV map
    model = np.zeros((96, 96, 3), np.uint8)
    resizer = Resizer(frame.size, (96, 96), mode, "nearest")
    resizer(frame.image, model)
    if mode == "letterbox":
        assert (model[:20] == 0).all() and (model[-20:] == 0).all()  # bars, not picture
    t = with_fov(resizer.transform, src.fov_transform())
    x0, y0, x1, y1 = red_box(model)
    box = (float(t.x(x0 / 96)), float(t.y(y0 / 96)), float(t.x(x1 / 96)), float(t.y(y1 / 96)))
    assert box == pytest.approx(expected, abs=0.025), (mode, (x0, y0, x1, y1))


def test_the_object_sits_elsewhere_in_the_model_input_for_each_mode(world: Any) -> None:
    """So the test above cannot pass by accident: each mode puts the object elsewhere."""
    from edged.preprocess import Resizer

    scene, _ = object_scene()
    world.set_scene(scene)
    boxes = {}
    for mode in ("stretch", "center-crop", "letterbox"):
        src = source(target=(96, 96))
        src.resize_mode = mode
        src.open()
        frame = src.read()
        src.close()
        model = np.zeros((96, 96, 3), np.uint8)
        Resizer(frame.size, (96, 96), mode, "nearest")(frame.image, model)
        boxes[mode] = red_box(model)
    assert len(set(boxes.values())) == 3, boxes


@pytest.mark.parametrize("platform, expected", [("vc4", (1008, 0, 2592, 2592)),
                                                ("pisp", (1008, 0, 2592, 2592))])
def test_fake_defaults_crop_to_the_output_aspect_like_libcamera(world: Any, platform: str,
                                                                expected: tuple) -> None:
    """Left to its defaults (as edged no longer does), a square output is the middle square:
    VC4 crops to the largest output's aspect, PiSP to each preserve_ar stream's."""
    from picamera2 import Picamera2

    world.platform = platform
    cam = Picamera2(0)
    cam.configure(cam.create_preview_configuration(main={"size": (96, 96)}))
    cam.start()
    request = cam.capture_request(wait=1.0)
    assert request.get_metadata()["ScalerCrop"] == expected
    request.release()
    cam.close()


def test_pipeline_publishes_boxes_in_the_sensor_fov(world: Any) -> None:
    """The capture thread composes the resize with the source's FOV map."""
    import itertools

    from edged.health import Health
    from edged.pipeline import Pipeline
    from edged.runtime.model import ModelRunner
    from edged.runtime.modelfile import read_model_file
    from edged.runtime.select import select_runtime
    from edged.sources.base import BackoffConfig
    from edged.stats import Stats

    model = Path(__file__).parent / "models/yolo_int8_bare.tflite"
    runner = ModelRunner(read_model_file(model), select_runtime("auto"), 1)
    src = source(target=None)
    pipe = Pipeline(src, runner, None, lambda *a: None, lambda: None,  # type: ignore[arg-type]
                    Stats(), Health(), fps=0, backoff=BackoffConfig(), resize="center-crop",
                    interpolation="nearest", frame_counter=itertools.count())
    src.target_size, src.resize_mode = runner.input_size, pipe.resizers.mode
    src.open()
    pipe._preprocess(src.read())
    slot = pipe.frames.get(timeout=1)
    src.close()
    assert slot is not None
    # the model's left edge is the left edge of the middle square: 1008 / 4608 of the FOV
    assert float(slot.transform.x(0.0)) == pytest.approx(1008 / 4608, abs=1e-3)
    assert float(slot.transform.x(1.0)) == pytest.approx(3600 / 4608, abs=1e-3)
