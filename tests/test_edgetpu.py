"""The Edge TPU plumbing without an Edge TPU: a real external delegate library built from
tests/native/fake_delegate.c with gcc, loaded by the real runtime, plus the real
Edge-TPU-compiled test model."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edged.config import parse_config
from edged.errors import ModelError
from edged.runtime.edgetpu import EdgeTpuUnavailable, probe
from edged.runtime.loader import load_model

pytestmark = pytest.mark.testdata
NATIVE = Path(__file__).parent / "native"


@pytest.fixture(scope="session")
def fake_libedgetpu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test delegate")
    out = tmp_path_factory.mktemp("native") / "libfake_edgetpu.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-o", str(out),
                    str(NATIVE / "fake_delegate.c")], check=True)
    return out


def tpu_config(testdata: Path, lib: Path | str, delegate: str, **options: str) -> str:
    opts = "".join(f"\n    {k}: '{v}'" for k, v in options.items())
    return (f"model:\n  path: {testdata}/models/mobilenet_v1_0.25_128_quant.tflite\n"
            f"  edgetpu_path: {testdata}/models/mobilenet_v1_0.25_128_quant.tflite\n"
            f"  delegate: {delegate}\n  edgetpu_library: {lib}\n  edgetpu_device: usb:0\n"
            f"  edgetpu_options:{opts or ' {}'}\n")


def test_options_pass_through_and_the_delegate_is_applied(testdata: Path, tmp_path: Path,
                                                          fake_libedgetpu: Path) -> None:
    record = tmp_path / "record.txt"
    runner = load_model(parse_config(tpu_config(testdata, fake_libedgetpu, "edgetpu",
                                                record=str(record))))
    assert runner.delegate_name == "edgetpu" and runner.describe()["device"] == "usb:0"
    lines = record.read_text().splitlines()
    assert "device=usb:0" in lines and f"record={record}" in lines
    assert "prepare" in lines  # the interpreter really handed the graph to the delegate
    runner.invoke()  # the delegate claimed no nodes: the CPU runs the model


def test_missing_library_says_how_to_install(testdata: Path) -> None:
    with pytest.raises(ModelError, match="libedgetpu1-std") as info:
        load_model(parse_config(tpu_config(testdata, "/nonexistent/libedgetpu.so.1",
                                           "edgetpu")))
    assert "cannot be loaded" in str(info.value)


def test_library_without_a_device_explains_usb_groups_and_udev(testdata: Path,
                                                              fake_libedgetpu: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_model(parse_config(tpu_config(testdata, fake_libedgetpu, "edgetpu",
                                           mode="refuse")))
    message = str(info.value)
    for hint in ("found no device at 'usb:0'", "USB 3", "plugdev", "udev",
                 "1a6e:089a", "18d1:9302"):
        assert hint in message


def test_a_crashing_library_is_reported_by_the_probe(testdata: Path,
                                                     fake_libedgetpu: Path) -> None:
    with pytest.raises(EdgeTpuUnavailable) as info:
        probe("auto", str(fake_libedgetpu), "", str(testdata / "models/"
              "mobilenet_v1_0.25_128_quant.tflite"), {"mode": "crash"})
    assert info.value.reason == "crash"
    assert "SIGABRT" in str(info.value) and "do not match" in str(info.value)


@pytest.mark.parametrize("mode", ["crash", "refuse"])
def test_auto_falls_back_to_the_cpu_model(testdata: Path, fake_libedgetpu: Path, mode: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    runner = load_model(parse_config(tpu_config(testdata, fake_libedgetpu, "auto", mode=mode)))
    assert runner.delegate_name == "cpu"
    assert "running mobilenet_v1_0.25_128_quant.tflite on the CPU, because" in caplog.text


def test_auto_uses_the_tpu_when_it_loads(testdata: Path, fake_libedgetpu: Path) -> None:
    runner = load_model(parse_config(tpu_config(testdata, fake_libedgetpu, "auto")))
    assert runner.delegate_name == "edgetpu"


def test_real_edgetpu_model_with_a_delegate_that_cannot_run_it(testdata: Path,
                                                               fake_libedgetpu: Path) -> None:
    """The fake delegate does not implement edgetpu-custom-op, like a mismatched runtime: the
    probe's first inference fails, and auto falls back to the CPU twin."""
    text = tpu_config(testdata, fake_libedgetpu, "auto").replace(
        "edgetpu_path: " + str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
        "edgetpu_path: " + str(testdata / "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite"))
    runner = load_model(parse_config(text))
    assert runner.delegate_name == "cpu"
    assert runner.file.path.name == "mobilenet_v1_0.25_128_quant.tflite"


def test_required_edgetpu_fails_the_daemon_at_start(testdata: Path, daemon_factory) -> None:
    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/parrot.jpg")},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
                  "edgetpu_path": str(testdata /
                                      "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite"),
                  "delegate": "edgetpu", "edgetpu_library": "/nonexistent/libedgetpu.so.1"}})
    assert d.proc.wait(60) == 78  # RestartPreventExitStatus: no crash loop without a TPU
    log = d.log()
    assert "model.delegate is edgetpu, but Edge TPU library" in log
    assert "libedgetpu1-std" in log and "Traceback" not in log


def test_auto_daemon_publishes_on_the_cpu_with_the_delegate_named(testdata: Path,
                                                                 fake_libedgetpu: Path,
                                                                 daemon_factory) -> None:
    from conftest import receive_json, subscribe

    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/parrot.jpg")},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
                  "edgetpu_path": str(testdata /
                                      "models/mobilenet_v1_0.25_128_quant_edgetpu.tflite"),
                  "delegate": "auto", "edgetpu_library": str(fake_libedgetpu)}})
    [m] = receive_json(subscribe(d.endpoint), 1)
    assert m["model"]["delegate"] == "cpu"
    assert m["classes"][0]["label"] == "macaw"
    assert "on the CPU, because" in d.log()
    assert d.stop() == 0


def test_auto_falls_back_mid_run_when_tpu_inference_fails_and_retries(
        testdata: Path, tmp_path: Path, fake_libedgetpu: Path, daemon_factory) -> None:
    """The "TPU" model (fake delegate + a real model whose invoke fails on bright frames)
    loads and probes fine, then fails while running: edged switches to the CPU model without
    restarting, keeps publishing, and tries the TPU again after edgetpu_retry_s."""
    import numpy as np
    from conftest import receive_json, subscribe
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 250, np.uint8)).save(tmp_path / "bright.png")
    failing = Path(__file__).parent / "models/fails_on_bright.tflite"
    d = daemon_factory({
        "source": {"type": "images", "path": str(tmp_path / "bright.png"), "fps": 30},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
                  "edgetpu_path": str(failing), "delegate": "auto",
                  "edgetpu_library": str(fake_libedgetpu), "edgetpu_retry_s": 1.0}},
        subdir="d")
    sub = subscribe(d.endpoint)
    msgs = receive_json(sub, 5, timeout=30)
    assert {m["model"]["delegate"] for m in msgs} == {"cpu"}
    assert {m["model"]["file"] for m in msgs} == {"mobilenet_v1_0.25_128_quant.tflite"}
    assert len({m["run_id"] for m in msgs}) == 1
    deadline = time.monotonic() + 20
    while "trying the Edge TPU again" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = d.log()
    assert "the Edge TPU failed while running" in log
    assert "trying the Edge TPU again" in log
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_auto_treats_a_too_slow_tpu_inference_as_hung(testdata: Path, tmp_path: Path,
                                                      fake_libedgetpu: Path,
                                                      daemon_factory) -> None:
    """deeplab (~100 ms per frame here) as the "TPU" model with a 5 ms limit: counted as a hung
    TPU, and the CPU model takes over."""
    from conftest import receive_json, subscribe

    d = daemon_factory({
        "source": {"type": "images", "path": str(testdata / "images/parrot.jpg"), "fps": 10},
        "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
                  "edgetpu_path": str(testdata / "models/deeplabv3_mnv2_dm05_pascal_quant.tflite"),
                  "delegate": "auto", "edgetpu_library": str(fake_libedgetpu),
                  "edgetpu_timeout_ms": 5, "edgetpu_retry_s": 600}}, subdir="h")
    sub = subscribe(d.endpoint)
    deadline = time.monotonic() + 30
    while True:
        [m] = receive_json(sub, 1, timeout=30)
        if m["model"]["delegate"] == "cpu" or time.monotonic() > deadline:
            break
    assert m["model"]["delegate"] == "cpu" and m["classes"][0]["label"] == "macaw"
    assert "did not answer within 5 ms" in d.log()
    assert d.stop() == 0


def test_retry_policy_backs_off_and_forgets_after_a_healthy_stretch() -> None:
    from edged.runtime.fallback import EdgeTpuRetry

    r = EdgeTpuRetry(initial_s=10, max_s=40)
    assert r.should_fall_back("edgetpu", "inference: boom")
    assert not r.should_fall_back("cpu", "inference: boom")
    assert not r.should_fall_back("edgetpu", "source: unplugged")
    r.on_cpu(0)
    assert not r.should_try(9) and r.should_try(10)
    r.on_cpu(10)  # the retry failed: wait twice as long
    assert r.next_try == 30
    r.on_cpu(30)
    r.on_cpu(70)
    assert r.next_try == 110  # capped at max_s
    r.on_tpu(110)
    r.tick(149)
    assert r.delay == 40
    r.tick(150)
    assert r.delay == 10


def test_required_edgetpu_failing_mid_run_is_degraded_and_retried(
        testdata: Path, tmp_path: Path, fake_libedgetpu: Path, daemon_factory) -> None:
    import numpy as np
    from conftest import subscribe
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 250, np.uint8)).save(tmp_path / "bright.png")
    d = daemon_factory({
        "source": {"type": "images", "path": str(tmp_path / "bright.png"), "fps": 30},
        "model": {"path": str(Path(__file__).parent / "models/fails_on_bright.tflite"),
                  "delegate": "edgetpu",
                  "edgetpu_path": str(Path(__file__).parent / "models/fails_on_bright.tflite"),
                  "edgetpu_library": str(fake_libedgetpu), "edgetpu_retry_s": 0.5}},
        subdir="r")
    # wait for the condition (the first status may still be "starting"), then watch the
    # retries: every frame fails, so the state never flaps to running in between
    sub = subscribe(d.endpoint, (b"edged.status",))
    seen: list[dict] = []
    deadline = time.monotonic() + 60
    while d.log().count("trying the Edge TPU again") < 3 or \
            not any(s["state"] == "degraded" for s in seen):
        assert time.monotonic() < deadline, (seen[-3:], d.log())
        if sub.poll(200):
            topic, body = sub.recv_multipart()
            seen.append(json.loads(body))
    states = [s["state"] for s in seen]
    assert "running" not in states, states
    degraded = next(s for s in seen if s["state"] == "degraded")
    assert degraded["model"]["delegate"] == "edgetpu"
    assert degraded["frames"]["inferred"] == 0
    log = d.log()
    assert "there is no CPU fallback" in log and "trying the Edge TPU again" in log
    assert d.proc.poll() is None
    assert d.stop() == 0
