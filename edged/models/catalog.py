"""A small curated set of well-known quantized models (Apache-2.0, google-coral/test_data).

Every file is pinned to one upstream commit, so its bytes never change. Where this project
could read the upstream bytes (the copies in ../shared/testdata and the upstream repository's
objects), the entry carries the sha256 and size. For the others only the upstream git blob id
(a SHA-1 of the bytes, read from the repository's tree listing) is known here: those files are
checked against that id and against their TFLite structure (input tensor, output count,
operators), and the entry says so in ``verify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UPSTREAM_COMMIT = "104342d2d3480b3e66203073dac24f4e2dbb4c41"
UPSTREAM_BASE = f"https://github.com/google-coral/test_data/raw/{UPSTREAM_COMMIT}"
DEFAULT_MODEL = "ssd_mobilenet_v2_coco"
DETECTION_POSTPROCESS = "TFLite_Detection_PostProcess"
EDGETPU_OP = "edgetpu-custom-op"


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its name upstream (and on a mirror) and how to check it."""

    file: str
    sha256: str | None = None
    size: int | None = None
    git_blob_sha1: str | None = None  # upstream `git ls-tree` id when sha256 is not known here

    @property
    def url(self) -> str:
        return f"{UPSTREAM_BASE}/{self.file}"


@dataclass(frozen=True)
class Expect:
    """What the TFLite structure must show, checked on every fetched model."""

    input: tuple[tuple[int, ...], str]  # shape, dtype
    outputs: int
    custom_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    description: str
    model: RemoteFile
    expect: Expect
    labels: RemoteFile | None = None
    edgetpu: bool = False
    edgetpu_twin: str | None = None  # the entry compiled for the Coral Edge TPU
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verify(self) -> str:
        how = "sha256+size" if self.model.sha256 else "git-blob-sha1"
        return how + "+structure"

    def as_json(self) -> dict[str, Any]:
        shape, dtype = self.expect.input
        out: dict[str, Any] = {
            "name": self.name, "default": self.name == DEFAULT_MODEL, "task": self.task,
            "description": self.description, "file": self.model.file, "url": self.model.url,
            "size": self.model.size, "sha256": self.model.sha256,
            "git_blob_sha1": self.model.git_blob_sha1, "verify": self.verify,
            "input": {"shape": list(shape), "dtype": dtype}, "outputs": self.expect.outputs,
            "custom_ops": list(self.expect.custom_ops),
            "labels": self.labels.file if self.labels else None,
            "labels_url": self.labels.url if self.labels else None,
            "labels_sha256": self.labels.sha256 if self.labels else None,
            "edgetpu": self.edgetpu, "edgetpu_twin": self.edgetpu_twin,
            "license": "Apache-2.0", "notes": list(self.notes),
        }
        return out

    def files(self) -> list[RemoteFile]:
        return [self.model] + ([self.labels] if self.labels else [])


COCO = RemoteFile("coco_labels.txt",
                  "dc183f003fc753c4c43fae6fdf7f387559449573f13fa32e517fb7453fd380f1", 661)
IMAGENET = RemoteFile("imagenet_labels.txt",
                      "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1", 21686)
PASCAL = RemoteFile("pascal_voc_segmentation_labels.txt",
                    "7337a2b06728385fb3e1106416c67bfddf69628598b1f2f0db6a63cd63fb6b1e", 263)

_NO_SHA256 = ("sha256 and size not known to this project (the bytes were not readable here); "
              "checked against the upstream git blob id and the TFLite structure instead",)
_SSD_INPUT = ((1, 300, 300, 3), "uint8")
_MNV2_INPUT = ((1, 224, 224, 3), "uint8")
_MOVENET_INPUT = ((1, 192, 192, 3), "uint8")
_DEEPLAB_INPUT = ((1, 513, 513, 3), "uint8")

ENTRIES: tuple[Entry, ...] = (
    Entry("ssd_mobilenet_v2_coco", "detection",
          "SSD MobileNet v2, COCO (90 classes), TFLite_Detection_PostProcess; the camera default",
          RemoteFile("ssd_mobilenet_v2_coco_quant_postprocess.tflite",
                     git_blob_sha1="28b6bdee3548170bb999ffcc7248b40d76f6b6b8"),
          Expect(_SSD_INPUT, 4, (DETECTION_POSTPROCESS,)), COCO,
          edgetpu_twin="ssd_mobilenet_v2_coco_edgetpu", notes=_NO_SHA256),
    Entry("ssd_mobilenet_v2_coco_edgetpu", "detection",
          "the same detector compiled for the Coral Edge TPU",
          RemoteFile("ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite",
                     git_blob_sha1="67037e5ef832559e9b49beac96b11f2a0788ee63"),
          Expect(_SSD_INPUT, 4, (EDGETPU_OP, DETECTION_POSTPROCESS)), COCO, edgetpu=True,
          notes=_NO_SHA256),
    Entry("mobilenet_v2", "classification", "MobileNet v2 1.0 224, ImageNet (1001 classes)",
          RemoteFile("mobilenet_v2_1.0_224_quant.tflite",
                     "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776", 3610798),
          Expect(_MNV2_INPUT, 1), IMAGENET, edgetpu_twin="mobilenet_v2_edgetpu"),
    Entry("mobilenet_v2_edgetpu", "classification",
          "the same classifier compiled for the Coral Edge TPU",
          RemoteFile("mobilenet_v2_1.0_224_quant_edgetpu.tflite",
                     git_blob_sha1="06db28d38a42505b1ef4f19b5273173e9a43504c"),
          Expect(_MNV2_INPUT, 1, (EDGETPU_OP,)), IMAGENET, edgetpu=True, notes=_NO_SHA256),
    Entry("movenet_lightning", "pose", "MoveNet single-pose Lightning (17 keypoints)",
          RemoteFile("movenet_single_pose_lightning_ptq.tflite",
                     "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105", 2894840),
          Expect(_MOVENET_INPUT, 1), edgetpu_twin="movenet_lightning_edgetpu"),
    Entry("movenet_lightning_edgetpu", "pose",
          "the same pose model compiled for the Coral Edge TPU",
          RemoteFile("movenet_single_pose_lightning_ptq_edgetpu.tflite",
                     "25c88b77586f65c5c80d868c0555fb194f2b38c0b55aa491f4a93b7d7da58e78", 3087168),
          Expect(_MOVENET_INPUT, 1, (EDGETPU_OP,)), edgetpu=True),
    Entry("deeplabv3", "segmentation",
          "DeepLab v3 MobileNet v2 (depth 0.5), PASCAL VOC (21 classes)",
          RemoteFile("deeplabv3_mnv2_dm05_pascal_quant.tflite",
                     "0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b", 760904),
          Expect(_DEEPLAB_INPUT, 1), PASCAL, edgetpu_twin="deeplabv3_edgetpu"),
    Entry("deeplabv3_edgetpu", "segmentation",
          "the same segmentation model compiled for the Coral Edge TPU",
          RemoteFile("deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite",
                     "4ccdb19b91c9b0f5917095f5163408326711f06eb0599e3d0fde9b9791f62895", 1107584),
          Expect(_DEEPLAB_INPUT, 1, (EDGETPU_OP,)), PASCAL, edgetpu=True),
)


def find(name: str) -> Entry:
    for e in ENTRIES:
        if e.name == name:
            return e
    raise KeyError(name)


def names() -> list[str]:
    return [e.name for e in ENTRIES]


def as_json() -> list[dict[str, Any]]:
    return [e.as_json() for e in ENTRIES]

