"""Tracker + zones + lines -> events. Pure computation: no sockets, no clock.

``EventEngine.process`` takes one frame's detections (arrays) and returns the rows of its
tracks and the events it raised, as dicts of the ``edged.event/1`` schema. Counts live here
and survive ``reconfigure`` for zones and lines whose definition did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edged.events.batch import LineSet, ZoneSet, anchors
from edged.events.config import LineConfig, TrackConfig, ZoneConfig
from edged.events.lines import Line
from edged.events.schema import EVENT_SCHEMA
from edged.events.tracker import FrameTracks, Tracker, TrackerParams
from edged.events.zones import Zone

Labels = Sequence[str | None] | None  # class index -> label name, where known


def track_params(cfg: TrackConfig) -> TrackerParams:
    return TrackerParams(max_age_s=cfg.max_age_s, high_score=cfg.high_score,
                         new_track_score=cfg.new_track_score, min_hits=cfg.min_hits)


class EventEngine:
    def __init__(self, run_id: str, track: TrackConfig, zones: list[ZoneConfig],
                 lines: list[LineConfig], labels: Labels = None) -> None:
        self.run_id = run_id
        self.track_config = track
        self.tracker = Tracker(track_params(track))
        self.labels: Labels = labels
        self.seq = 0
        self.zones: list[Zone] = []
        self.lines: list[Line] = []
        self.reconfigure(track, zones, lines, labels)

    # --- configuration ---------------------------------------------------------------------

    def reconfigure(self, track: TrackConfig, zones: list[ZoneConfig], lines: list[LineConfig],
                    labels: Labels) -> None:
        """Apply a new config. Zones and lines whose definition is unchanged keep their
        counts and who is inside; a changed tracker config starts tracking afresh."""
        self.labels = labels
        t = self.tracker
        if track != self.track_config:
            self.tracker = t = Tracker(track_params(track))
            self.track_config = track
            for z in self.zones:
                z.reset_current()
        old_z = {z.name: (i, z) for i, z in enumerate(self.zones)}
        old_l = {ln.name: (i, ln) for i, ln in enumerate(self.lines)}
        cols = t.cols.extra
        zone_cols = {k: cols.get(k) for k in ("zone_in", "zone_t", "loitered", "loiter_at")}
        line_cols = {k: cols.get(k) for k in ("line_side", "line_pt")}
        new_zones, new_lines = [], []
        zmap, lmap = [], []
        for cfg in zones:
            prev = old_z.get(cfg.name)
            keep = prev is not None and prev[1].config == cfg
            new_zones.append(prev[1] if keep and prev else Zone(cfg))
            zmap.append(prev[0] if keep and prev else -1)
        for lcfg in lines:
            prevl = old_l.get(lcfg.name)
            keepl = prevl is not None and prevl[1].config == lcfg
            new_lines.append(prevl[1] if keepl and prevl else Line(lcfg))
            lmap.append(prevl[0] if keepl and prevl else -1)
        self.zones, self.lines = new_zones, new_lines
        for name, dtype in (("zone_in", bool), ("zone_t", float), ("loitered", bool),
                            ("loiter_at", float)):
            self._remap(name, (len(zones),), dtype, zone_cols[name], zmap)
        self._remap("line_side", (len(lines),), np.int8, line_cols["line_side"], lmap)
        self._remap("line_pt", (len(lines), 2), float, line_cols["line_pt"], lmap)
        self._zoneset = ZoneSet(self.zones, [self._resolve(z.config.labels) for z in self.zones])
        self._lineset = LineSet(self.lines, [self._resolve(ln.config.labels)
                                             for ln in self.lines])
        self._kinds = tuple(sorted(set(self._zoneset.kind.tolist())
                                   | set(self._lineset.kind.tolist())))
        self._due = 0.0  # at most the earliest loiter_at > 0 of any track: 0, check now

    def _remap(self, name: str, shape: tuple[int, ...], dtype: type, old: np.ndarray | None,
               mapping: list[int]) -> None:
        col = self.tracker.add_column(name, shape, dtype)
        if old is None or len(old) != len(col):
            return
        for new_i, old_i in enumerate(mapping):
            if old_i >= 0:
                col[:, new_i] = old[:, old_i]

    def _resolve(self, labels: list[str] | None) -> np.ndarray | None:
        """A lookup table: class index -> admitted by the label filter (names through the
        model's labels); indices past its end are not admitted."""
        if labels is None:
            return None
        wanted = set(labels)
        out = {int(x) for x in wanted if x.isdigit()}
        out |= {i for i, name in enumerate(self.labels or ()) if name in wanted}
        table = np.zeros(max(out, default=0) + 2, bool)
        table[sorted(out)] = True
        return table

    # --- per frame -------------------------------------------------------------------------

    def process(self, frame_seq: int, capture_ns: int, boxes: np.ndarray, scores: np.ndarray,
                classes: np.ndarray) -> tuple[FrameTracks, list[dict[str, Any]]]:
        t = capture_ns / 1e9
        ft = self.tracker.update(t, boxes, scores, classes)
        ctx = (frame_seq, capture_ns, t)
        events = [self._event(ctx, "object.appeared", r) for r in ft.appeared.tolist()]
        if self.zones or self.lines:
            pts = anchors(self.tracker.cols.state, self._kinds)
            if len(ft.active) and self.zones:
                events += self._zones(ctx, ft.active, pts.take(ft.active, axis=1))
            if self.lines:  # tentative tracks too: a crossing right after appearing counts
                seen = ft.seen if ft.seen is not None else ft.det_rows[ft.det_rows >= 0]
                events += self._lines(ctx, seen, pts.take(seen, axis=1))
        for r in ft.gone.tolist():
            events += self._leave_all(ctx, r)
            events.append(self._event(ctx, "object.gone", r))
        return ft, events

    def label_name(self, index: int) -> str | None:
        names = self.labels
        return names[index] if names is not None and 0 <= index < len(names) else None

    def _label(self, row: int) -> str:
        index = int(self.tracker.cols.label[row])
        return self.label_name(index) or str(index)

    def _event(self, ctx: tuple[int, int, float], kind: str, row: int,
               **extra: Any) -> dict[str, Any]:
        c = self.tracker.cols
        index = int(c.label[row])
        seq, self.seq = self.seq, self.seq + 1
        return {"schema": EVENT_SCHEMA, "type": kind, "run_id": self.run_id, "seq": seq,
                "frame_seq": ctx[0], "capture_ns": ctx[1], "track_id": int(c.ids[row]),
                "label": self.label_name(index), "index": index,
                "score": round(float(c.score[row]), 5),
                "box": [round(v, 5) for v in c.box[row].tolist()],
                "age_s": round(ctx[2] - float(c.t_first[row]), 3), **extra}

    def _zones(self, ctx: tuple[int, int, float], rows: np.ndarray,
               pts: np.ndarray) -> list[dict[str, Any]]:
        c, zs = self.tracker.cols, self._zoneset
        ok = zs.eligible(c.label, c.best, rows)
        target = zs.inside(pts)
        target &= ok
        flip = target != c.extra["zone_in"].take(rows, axis=0)
        events = self._crossings(ctx, rows, pts, target, ok, flip) if np.count_nonzero(flip) else []
        if ctx[2] + 1e-3 < self._due:  # no track's loitering is due yet
            return events
        at = c.extra["loiter_at"]
        wait = at.take(rows, axis=0)  # 0, or about when loitering is due
        soon = wait > 0
        soon &= wait <= ctx[2] + 1e-3
        if np.count_nonzero(soon):
            events += self._loitering(ctx, rows)
        self._due = float(np.minimum.reduce(at[at > 0], axis=None, initial=np.inf))
        return events

    def _crossings(self, ctx: tuple[int, int, float], rows: np.ndarray, pts: np.ndarray,
                   target: np.ndarray, ok: np.ndarray, flip: np.ndarray) -> list[dict[str, Any]]:
        """Entries and exits: the changes of ``target`` (inside and eligible) that are past
        the margin, or of a track no longer eligible."""
        ri, zi = np.nonzero(flip)  # a few: plain Python from here
        far = self._zoneset.far(pts, ri, zi).tolist()
        changes = [(z, not into, k) for k, z, f, eligible, into in zip(
            ri.tolist(), zi.tolist(), far, ok[ri, zi].tolist(), target[ri, zi].tolist(),
            strict=True) if f or not eligible]
        changes.sort(key=lambda x: x[:2])  # by zone: entries, then exits (stable)
        return [self._leave(ctx, int(rows[k]), z) if out else self._enter(ctx, int(rows[k]), z)
                for z, out, k in changes]

    def _loitering(self, ctx: tuple[int, int, float], rows: np.ndarray) -> list[dict[str, Any]]:
        c, t = self.tracker.cols, ctx[2]
        member, since, loitered = (c.extra["zone_in"], c.extra["zone_t"], c.extra["loitered"])
        due = member[rows] & ~loitered[rows] & (t - since[rows] >= self._zoneset.loiter)
        events = []
        for k, z in zip(*(x.tolist() for x in np.nonzero(due)), strict=True):
            r = int(rows[k])
            loitered[r, z] = True
            c.extra["loiter_at"][r, z] = 0.0
            events.append(self._event(ctx, "zone.loitering", r, zone=self.zones[z].name,
                                      dwell_s=round(t - since[r, z], 3)))
        return events

    def _enter(self, ctx: tuple[int, int, float], r: int, zi: int) -> dict[str, Any]:
        c, zone = self.tracker.cols, self.zones[zi]
        c.extra["zone_in"][r, zi], c.extra["zone_t"][r, zi] = True, ctx[2]
        c.extra["loitered"][r, zi] = False
        due = ctx[2] + zone.config.loiter_s if zone.config.loiter_s else 0.0
        c.extra["loiter_at"][r, zi] = due
        if due:
            self._due = min(self._due, due)
        label = self._label(r)
        zone.current[label] += 1
        zone.entered[label] += 1
        return self._event(ctx, "zone.entered", r, zone=zone.name, counts=zone.counts())

    def _leave(self, ctx: tuple[int, int, float], r: int, zi: int) -> dict[str, Any]:
        c, zone = self.tracker.cols, self.zones[zi]
        c.extra["zone_in"][r, zi] = False
        c.extra["loiter_at"][r, zi] = 0.0
        label = self._label(r)
        if zone.current[label] > 0:
            zone.current[label] -= 1
        zone.left[label] += 1
        dwell = ctx[2] - float(c.extra["zone_t"][r, zi])
        return self._event(ctx, "zone.left", r, zone=zone.name, dwell_s=round(dwell, 3),
                           counts=zone.counts())

    def _leave_all(self, ctx: tuple[int, int, float], r: int) -> list[dict[str, Any]]:
        inside = np.flatnonzero(self.tracker.cols.extra["zone_in"][r])
        return [self._leave(ctx, r, int(zi)) for zi in inside.tolist()]

    def _lines(self, ctx: tuple[int, int, float], rows: np.ndarray,
               pts: np.ndarray) -> list[dict[str, Any]]:
        c, ls = self.tracker.cols, self._lineset
        side, last = c.extra["line_side"], c.extra["line_pt"]
        p = ls.points(pts)
        now = ls.sides(p)
        prev = side.take(rows, axis=0)
        flip = now * prev < 0  # sides -1, 0, 1: both settled, and changed
        events: list[dict[str, Any]] = []
        if np.count_nonzero(flip):
            flip &= c.confirmed[rows][:, None] & ls.eligible(c.label, c.best, rows)
            ri, li = np.nonzero(flip)
            crossed = ls.within(last[rows[ri], li], p[ri, li], li)
            for k, j in zip(ri[crossed].tolist(), li[crossed].tolist(), strict=True):
                r, line = int(rows[k]), self.lines[j]
                direction = "in" if now[k, j] > 0 else "out"
                line.crossed[direction][self._label(r)] += 1
                events.append(self._event(ctx, "line.crossed", r, line=line.name,
                                          direction=direction, counts=line.counts()))
        settled = now != 0  # keep the last clear side, and where it was seen
        np.copyto(prev, now, where=settled)
        side[rows] = prev
        seen = last.take(rows, axis=0)
        np.copyto(seen, p, where=settled[:, :, None])
        last[rows] = seen
        return events

    # --- counts ----------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        return {"tracks": self.tracker.live(),
                "zones": {z.name: z.counts() for z in self.zones},
                "lines": {ln.name: ln.counts() for ln in self.lines}}

    def counts_message(self, capture_ns: int) -> dict[str, Any]:
        seq, self.seq = self.seq, self.seq + 1
        return {"schema": EVENT_SCHEMA, "type": "counts", "run_id": self.run_id, "seq": seq,
                "capture_ns": capture_ns, **self.counts()}
