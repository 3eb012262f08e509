from __future__ import annotations

import numpy as np
import pytest

from edged.errors import ModelError
from edged.labels import align_labels, parse_labels
from edged.preprocess import Transform
from edged.runtime.model import TensorInfo
from edged.tasks.classify import ClassificationDecoder, top_k


def info(n: int, dtype=np.uint8, scale=1 / 256, zp=0) -> TensorInfo:
    return TensorInfo(0, "out", (1, n), np.dtype(dtype), scale, zp)


def test_top_k_sorted_with_ties_by_index() -> None:
    scores = np.array([3, 9, 9, 1, 0, 9], np.uint8)
    assert [i for i, _ in top_k(scores, 2)] == [1, 2]
    assert [i for i, _ in top_k(scores, 10)] == [1, 2, 5, 0, 3, 4]


def test_top_k_threshold_and_uint8_without_overflow() -> None:
    scores = np.array([0, 255, 128, 1], np.uint8)
    assert top_k(scores, 4, 2) == [(1, 255), (2, 128)]


def test_decoder_dequantizes_only_winners_and_applies_threshold() -> None:
    dec = ClassificationDecoder(info(4), None, k=3, threshold=0.25)
    out = dec.decode([np.array([[10, 200, 64, 63]], np.uint8)], Transform())
    assert out == {"classes": [{"index": 1, "label": None, "score": 0.78125},
                               {"index": 2, "label": None, "score": 0.25}]}


def test_decoder_int8_scores() -> None:
    dec = ClassificationDecoder(info(3, np.int8, 1 / 256, -128), None, k=1, threshold=0.0)
    out = dec.decode([np.array([[-128, 127, 0]], np.int8)], Transform())
    expected = {"index": 1, "label": None, "score": pytest.approx(255 / 256, abs=1e-4)}
    assert out["classes"] == [expected]


def test_decoder_float_scores_and_labels() -> None:
    labels = align_labels({0: "a", 1: "b"}, 2, "test")
    dec = ClassificationDecoder(info(2, np.float32, 0.0, 0), labels, k=5, threshold=0.5)
    out = dec.decode([np.array([[0.3, 0.7]], np.float32)], Transform())
    assert out["classes"] == [{"index": 1, "label": "b", "score": pytest.approx(0.7)}]


def test_label_formats() -> None:
    assert parse_labels("cat\ndog\n\n") == {0: "cat", 1: "dog"}
    assert parse_labels("0 background\n1: cat\n5  big dog\n") == {0: "background", 1: "cat",
                                                                 5: "big dog"}


def test_label_alignment_background_rules() -> None:
    assert align_labels({0: "background", 1: "cat"}, 1, "f").names == ("cat",)
    assert align_labels({0: "cat"}, 2, "f").names == ("background", "cat")
    with pytest.raises(ModelError, match="3 labels but the model outputs 1001 classes"):
        align_labels({0: "a", 1: "b", 2: "c"}, 1001, "labels file x")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16])
def test_top_k_integer_fast_path_matches_the_general_one(dtype) -> None:
    """The radix-sort path for quantized scores gives the partition + lexsort path's answer
    (order, ties by index, threshold), including when most scores tie."""
    rng = np.random.default_rng(1)
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    for n, spread in [(1001, None), (1001, 3), (7, 2), (1, None)]:
        high = hi if spread is None else lo + spread
        scores = rng.integers(lo, high, n, endpoint=True, dtype=dtype)
        for k in (1, 5, 10, 2000):
            for min_score in (lo, lo + 1, 0):
                got = top_k(scores, k, min_score)
                ref = top_k(scores.astype(np.float64), k, min_score)
                assert [(i, int(v)) for i, v in got] == [(i, int(v)) for i, v in ref]
