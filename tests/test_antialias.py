"""The default resize (``area``) gives the answers of an antialiased reference pipeline.

For every model and image in ../shared/testdata, what the DAEMON publishes is compared with a
reference written here, independent of edged's code: Pillow decodes the image, the whole image
is resized to the model input with OpenCV's INTER_AREA (bilinear where it is enlarged: what
``area`` means there), and LiteRT's interpreter is run directly. Classification is also held
against the envelope of antialiased filters (Pillow BILINEAR, BOX, LANCZOS, OpenCV INTER_AREA).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import subscribe
from PIL import Image

pytestmark = pytest.mark.testdata

CLASSIFIERS = ("mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v1_0.25_128_quant.tflite")
PHOTOS = ("bird.bmp", "bird_segmentation.bmp", "cat.bmp", "cat_720p.jpg", "grace_hopper.bmp",
          "parrot.jpg", "squat.bmp")  # every image but the segmentation ground-truth mask
SCORE_TOL = 0.05


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def resize(image: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    h, w = image.shape[:2]
    if how == "area":
        flag = cv2.INTER_AREA if size[0] <= w and size[1] <= h else cv2.INTER_LINEAR
        return cv2.resize(image, size, interpolation=flag)
    pil = {"pil-bilinear": Image.Resampling.BILINEAR, "pil-box": Image.Resampling.BOX,
           "pil-lanczos": Image.Resampling.LANCZOS}[how]
    return np.asarray(Image.fromarray(image).resize(size, pil))


def interpreter(model: Path) -> Any:
    """The same runtime the daemon under test uses (LiteRT, or tflite-runtime in its pass)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ModuleNotFoundError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
    interp = Interpreter(model_path=str(model), num_threads=1)
    interp.allocate_tensors()
    return interp


def invoke(interp: Any, image: np.ndarray) -> np.ndarray:
    """Run on a model-sized RGB image; these test models take raw uint8 pixels."""
    inp = interp.get_input_details()[0]
    assert inp["dtype"] == np.uint8
    interp.set_tensor(inp["index"], image[None])
    interp.invoke()
    out = interp.get_output_details()[0]
    raw = interp.get_tensor(out["index"])
    scale, zp = out["quantization"]
    return (raw.astype(np.float64) - zp) * scale if scale else raw


def input_size(interp: Any) -> tuple[int, int]:
    _, h, w, _ = interp.get_input_details()[0]["shape"]
    return int(w), int(h)


def publish_one_per_image(daemon_factory: Any, tmp_path: Path, testdata: Path, model: str,
                          images: tuple[str, ...], extra: dict | None = None,
                          topics: tuple[bytes, ...] = (b"edged.predictions",),
                          ) -> dict[str, dict[bytes, Any]]:
    """Run the daemon on a looping folder of the images; collect, per image, the first
    message of each topic (frame_seq modulo the image count gives the file, in name order)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in images:
        (folder / name).symlink_to(testdata / "images" / name)
    names = sorted(images)
    config = {"source": {"type": "images", "path": str(folder), "fps": 20},
              "model": {"path": str(testdata / "models" / model), "threads": 1, "top_k": 5},
              **(extra or {})}
    d = daemon_factory(config, subdir="d")
    sub = subscribe(d.endpoint, topics)
    got: dict[str, dict[bytes, Any]] = {}
    seq_to_name: dict[int, str] = {}
    deadline = time.monotonic() + 90
    want = {t for t in topics}
    while any(set(got.get(n, {})) != want for n in names):
        assert time.monotonic() < deadline, f"got {sorted(got)} of {names}"
        if not sub.poll(1000):
            continue
        frames = sub.recv_multipart()
        if frames[0] == b"edged.predictions":
            msg = json.loads(frames[1])
            name = names[msg["frame_seq"] % len(names)]
            seq_to_name[msg["seq"]] = name
            got.setdefault(name, {}).setdefault(frames[0], msg)
        elif frames[0] == b"edged.predictions.mask":
            name = seq_to_name.get(json.loads(frames[1])["seq"], "")
            if name:
                got.setdefault(name, {}).setdefault(frames[0], frames[2])
    assert d.stop() == 0
    for name in names:  # the frame-to-file mapping held
        h, w = load_rgb(testdata / "images" / name).shape[:2]
        assert got[name][b"edged.predictions"]["frame"] == [w, h], name
    return got


@pytest.mark.parametrize("model", CLASSIFIERS)
def test_classification_area_reference_and_envelope(
        model: str, testdata: Path, tmp_path: Path, daemon_factory: Any) -> None:
    published = publish_one_per_image(daemon_factory, tmp_path, testdata, model, PHOTOS)
    interp = interpreter(testdata / "models" / model)
    size = input_size(interp)
    for name in PHOTOS:
        image = load_rgb(testdata / "images" / name)
        classes = published[name][b"edged.predictions"]["classes"]
        top = classes[0]
        scores = {f: invoke(interp, resize(image, size, f)).reshape(-1)
                  for f in ("area", "pil-bilinear", "pil-box", "pil-lanczos")}
        ref = scores["area"]
        assert top["index"] == int(np.argmax(ref)), (name, top, int(np.argmax(ref)))
        for c in classes:  # every published score, not only the top one
            assert c["score"] == pytest.approx(ref[c["index"]], abs=SCORE_TOL), (name, c)
        tops = {int(np.argmax(s)) for s in scores.values()}
        assert top["index"] in tops, (name, top, tops)
        envelope = [float(s[top["index"]]) for s in scores.values()]
        assert min(envelope) - SCORE_TOL <= top["score"] <= max(envelope) + SCORE_TOL, \
            (name, top, envelope)


def test_pose_matches_an_area_reference(testdata: Path, tmp_path: Path,
                                        daemon_factory: Any) -> None:
    model = "movenet_single_pose_lightning_ptq.tflite"
    published = publish_one_per_image(daemon_factory, tmp_path, testdata, model, ("squat.bmp",))
    interp = interpreter(testdata / "models" / model)
    image = load_rgb(testdata / "images" / "squat.bmp")
    ref = invoke(interp, resize(image, input_size(interp), "area")).reshape(-1, 3)
    points = published["squat.bmp"][b"edged.predictions"]["keypoints"]
    assert len(points) == 17
    for i, p in enumerate(points):  # (y, x, score), normalized: stretch maps 1:1
        assert (p["y"], p["x"]) == (pytest.approx(ref[i, 0], abs=SCORE_TOL),
                                    pytest.approx(ref[i, 1], abs=SCORE_TOL)), p["name"]
        assert p["score"] == pytest.approx(ref[i, 2], abs=SCORE_TOL), p["name"]


def test_segmentation_matches_an_area_reference(testdata: Path, tmp_path: Path,
                                                daemon_factory: Any) -> None:
    model = "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    topics = (b"edged.predictions", b"edged.predictions.mask")
    published = publish_one_per_image(daemon_factory, tmp_path, testdata, model,
                                      ("bird_segmentation.bmp",), {"publish": {"masks": True}},
                                      topics)
    mask = np.asarray(Image.open(io.BytesIO(published["bird_segmentation.bmp"][topics[1]])))
    interp = interpreter(testdata / "models" / model)
    image = load_rgb(testdata / "images" / "bird_segmentation.bmp")
    ref = invoke(interp, resize(image, input_size(interp), "area"))[0]
    assert mask.shape == ref.shape
    fg, ref_fg = mask > 0, ref > 0
    iou = (fg & ref_fg).sum() / (fg | ref_fg).sum()
    assert iou > 0.9 and (mask[fg & ref_fg] == ref[fg & ref_fg]).mean() > 0.99
    truth = np.asarray(Image.open(testdata / "images" / "bird_segmentation_mask.bmp"))
    if truth.shape == mask.shape:  # the known answer, as an extra check
        common = int(np.sum(mask == truth))
        assert common / (mask.size + truth.size - common) > 0.90
