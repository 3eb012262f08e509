"""Association of detections with tracks: a similarity, and ByteTrack's three greedy stages.

``similarity`` scores every track against every detection (the reference, [tracks, dets]).
The tracker uses ``associate``: a cheap gate first keeps only the pairs that can pass the
first stage's minimum, the same similarity is computed for those pairs only (per pair, the
same floating-point operations in the same order, so the same values), and the three greedy
stages run as one pass over the pairs sorted by stage, then by decreasing similarity. At 50
x 50 the count of numpy calls and their kind, not their size, is the cost: a broadcast over
the whole matrix takes 2-4 us, a call on the 200-odd gated pairs well under 1 us, and the
three ``greedy_match`` calls it replaces took some 45 calls of their own.
"""

from __future__ import annotations

import numpy as np

STAGE1_MIN = -0.25  # DIoU: equal boxes side by side score -0.2
STAGE2_MIN = 0.3  # low-score detections must overlap the prediction well
CLASS_PENALTY = 0.5  # class-aware, softly: a detector's class flicker can still match
SHAPE_PENALTY = 0.5  # per unit of |log| width and height ratio
_EMPTY = np.zeros(0, np.int64)
# per stage (confirmed/high, confirmed/low, tentative/high, tentative/low): the minimum
_STAGE_MIN = np.array([STAGE1_MIN, STAGE2_MIN, STAGE1_MIN, np.inf])
_GATE_SLACK = 1e-9  # absolute, on doubled coordinates squared: rounding never drops a pair
_GATE_ROWS = np.array([4, 5, 7, 6])  # a detection's terms in ``gate`` (an array, not a list)


def similarity(tracks: np.ndarray, track_cls: np.ndarray, dets: np.ndarray,
               det_cls: np.ndarray) -> np.ndarray:
    """[tracks, dets]: DIoU (IoU minus the squared centre distance over the squared diagonal
    of the enclosing box), less a penalty for a different class and for a different box
    shape: a spurious box of another size next to a track whose object was missed does not
    capture it."""
    ax0, ay0, ax1, ay1 = (tracks[:, i:i + 1] for i in range(4))
    bx0, by0, bx1, by1 = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3]
    inter = np.maximum(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0)
    inter *= np.maximum(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0)
    wa, ha = ax1 - ax0, ay1 - ay0
    wb, hb = bx1 - bx0, by1 - by0
    union = (wa * ha + 1e-12) + (wb * hb) - inter
    cw = np.maximum(ax1, bx1) - np.minimum(ax0, bx0)
    ch = np.maximum(ay1, by1) - np.minimum(ay0, by0)
    dx = (ax0 + ax1) - (bx0 + bx1)
    dy = (ay0 + ay1) - (by0 + by1)
    sim = inter / union - (dx * dx + dy * dy) / (4 * (cw * cw + ch * ch) + 1e-12)
    sim -= np.where(track_cls[:, None] != det_cls[None, :], CLASS_PENALTY, 0.0)
    lwa, lha = np.log(np.maximum(wa, 1e-6)), np.log(np.maximum(ha, 1e-6))
    lwb, lhb = np.log(np.maximum(wb, 1e-6)), np.log(np.maximum(hb, 1e-6))
    sim -= SHAPE_PENALTY * (np.abs(lwa - lwb) + np.abs(lha - lhb))
    return sim


def greedy_match(sim: np.ndarray, minimum: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (row, col) by decreasing similarity, each row and column used once.

    Mutually best pairs (best of their row and of their column) are always among greedy's
    picks, so they are taken at once, vectorized; only the contested rest is looped over."""
    ok = sim > minimum
    if not ok.any():
        return _EMPTY, _EMPTY
    s = np.where(ok, sim, -np.inf)
    best_c = s.argmax(axis=1)
    best_r = s.argmax(axis=0)
    rows = np.arange(len(s))
    mutual = (best_r[best_c] == rows) & ok[rows, best_c]
    r1, c1 = rows[mutual], best_c[mutual]
    s[r1, :] = -np.inf
    s[:, c1] = -np.inf
    rr, cc = np.nonzero(s > minimum)
    if not len(rr):
        return r1, c1
    order = np.argsort(-s[rr, cc], kind="stable")
    out_r, out_c = _greedy(rr[order].tolist(), cc[order].tolist())
    return (np.concatenate([r1, out_r]).astype(np.int64),
            np.concatenate([c1, out_c]).astype(np.int64))


def _greedy(rows: list[int], cols: list[int]) -> tuple[list[int], list[int]]:
    """Pairs already in order of preference: take each whose row and column are free."""
    taken = _greedy_mask(rows, cols)
    return ([r for r, k in zip(rows, taken, strict=True) if k],
            [c for c, k in zip(cols, taken, strict=True) if k])


def _greedy_mask(rows: list[int], cols: list[int]) -> bytearray:
    """``_greedy`` as a mask over the pairs (1: taken): numpy reads it without a copy, where
    a list of indices costs a conversion of its own."""
    used_r: set[int] = set()
    used_c: set[int] = set()
    add_r, add_c = used_r.add, used_c.add  # the loop is the cost: bound once
    taken = bytearray(len(rows))
    k = 0
    for r, c in zip(rows, cols, strict=True):
        if r not in used_r and c not in used_c:
            add_r(r)
            add_c(c)
            taken[k] = 1
        k += 1
    return taken


# rows of the features matrix: one column per box, tracks first, then detections
X0, CLS, STAGE = 0, 11, 12  # x0, y0, x1, y1 at X0..X0+3; the stage code of a box
ROWS = 13


def new_features(n: int) -> np.ndarray:
    """[ROWS, n]: the caller fills rows X0..X0+3 (x0, y0, x1, y1), CLS (class index) and
    STAGE (tracks: 0 confirmed, 2 tentative; detections: 0 high score, 1 low), then calls
    ``features``."""
    return np.empty((ROWS, n))


def features(f: np.ndarray, tracks: int) -> bool:
    """Fill rows 4-10 of ``f`` (``new_features``; its first ``tracks`` columns are tracks):
    x0 + x1, y0 + y1 (doubled centre), the gate's term h and 0.5 (``gate``), w * h (+ 1e-12
    for tracks, as in ``similarity``), log w, log h: what the similarity needs of one box
    only, a row per term so the pair arithmetic runs along contiguous rows. False for an
    inverted box (no gate then)."""
    np.add(f[0:2], f[2:4], out=f[4:6])
    wh = f[2:4] - f[0:2]
    np.multiply(wh[0], wh[1], out=f[8])
    f[8, :tracks] += 1e-12
    np.log(np.maximum(wh, 1e-6), out=f[9:11])
    ok = bool(wh.min(initial=0.0) >= 0)
    wh *= wh
    wh *= 4
    wh -= f[4:6] * f[4:6]
    np.add(wh[0], wh[1], out=f[6])
    f[7] = 0.5
    return ok


def gate(f: np.ndarray, tracks: int, ok: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(track, det) pairs, row-major, that may score above STAGE1_MIN: a superset of them.

    With IoU 0 a pair needs d^2 / c^2 < 0.25 (d: centre distance, c: diagonal of the
    enclosing box); c^2 <= (|dx| + max w)^2 + (|dy| + max h)^2 <= 2 d^2 + 2 (wa^2 + wb^2 +
    ha^2 + hb^2), so d^2 < diag_a^2 + diag_b^2; overlapping pairs satisfy it too. In doubled
    centres s = (x0 + x1, y0 + y1): sa.sb + (h_a + h_b) / 2 > 0 with h = 4 diag^2 - |s|^2,
    one [tracks, 4] x [4, dets] matrix product. Not ``ok``: every pair."""
    m = f.shape[1] - tracks
    if ok:
        g = np.matmul(f[4:8, :tracks].T, f[_GATE_ROWS, tracks:])
        k = (g > -_GATE_SLACK).ravel().nonzero()[0]
    else:
        k = np.arange(tracks * m)
    r, c = np.divmod(k, m)
    return r, c


def pair_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``similarity`` of column i of ``a`` with column i of ``b`` (``features``, tracks with
    eps 1e-12, detections without): the same operations in the same order."""
    lo = np.minimum(a[0:4], b[0:4])  # min x0, min y0, min x1, min y1
    hi = np.maximum(a[0:4], b[0:4])
    iw = lo[2:4] - hi[0:2]
    np.maximum(iw, 0.0, out=iw)
    inter = iw[0] * iw[1]
    union = a[8] + b[8]
    union -= inter
    c = hi[2:4] - lo[0:2]
    c *= c
    c2 = c[0] + c[1]
    c2 *= 4
    c2 += 1e-12
    d = a[4:6] - b[4:6]
    d *= d
    d2 = d[0] + d[1]
    d2 /= c2
    sim = np.divide(inter, union, out=inter)
    sim -= d2
    np.subtract(sim, CLASS_PENALTY, out=sim, where=a[CLS] != b[CLS])
    lg = a[9:11] - b[9:11]
    np.abs(lg, out=lg)
    shape = lg[0] + lg[1]
    shape *= SHAPE_PENALTY
    sim -= shape
    return sim


def associate(f: np.ndarray, tracks: int, ok: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """ByteTrack's stages, each greedy on the similarity: confirmed tracks with high-score
    detections (minimum STAGE1_MIN), the confirmed left with low-score ones (STAGE2_MIN),
    tentative tracks with the high-score detections left (STAGE1_MIN). ``f``: ``features``
    of the tracks, then the detections; ``ok``: what it returned. Returns the matched
    (track rows, detection indices), as arrays."""
    r, c = gate(f, tracks, ok)
    if not len(r):
        return _EMPTY, _EMPTY
    a, b = f.take(r, axis=1), f[:, tracks:].take(c, axis=1)
    s = pair_similarity(a, b)
    stage = a[STAGE]
    stage += b[STAGE]
    ok_pairs = (s > _STAGE_MIN.take(stage.astype(np.intp))).nonzero()[0]
    if not len(ok_pairs):
        return _EMPTY, _EMPTY
    order = ok_pairs[np.lexsort((-s.take(ok_pairs), stage.take(ok_pairs)))]
    r, c = r.take(order), c.take(order)
    taken = np.frombuffer(_greedy_mask(r.tolist(), c.tolist()), bool)
    return r[taken], c[taken]
