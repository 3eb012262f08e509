from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edged.client import DEFAULT_ENDPOINT, DEFAULT_TOPIC, EVENTS_TOPIC, Received, Subscriber


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    p.add_argument("--topic", action="append", help=f"repeatable (default {DEFAULT_TOPIC})")
    p.add_argument("--count", type=int, default=0, help="stop after N messages (0 = never)")
    p.add_argument("--timeout", type=float, default=0,
                   help="give up after this many seconds without a message (0 = wait forever)")
    p.add_argument("--json", action="store_true", help="print each message as one JSON line")
    p.add_argument("--events", action="store_true",
                   help=f"print tracking events and counts ({EVENTS_TOPIC}) instead of "
                        "predictions (with --topic: as well as those topics)")
    p.add_argument("--curve-server-key", type=Path, help="the daemon's public key file (.key)")
    p.add_argument("--curve-key", type=Path, help="this client's secret key file (.key_secret)")


def curve_option(args: argparse.Namespace) -> dict[str, bytes] | None:
    if not (args.curve_server_key or args.curve_key):
        return None
    if not (args.curve_server_key and args.curve_key):
        raise SystemExit("edged: --curve-server-key and --curve-key go together")
    from edged.security import client_keys

    return client_keys(args.curve_server_key, args.curve_key)


def _describe_classes(raw: dict[str, Any]) -> str:
    return ", ".join(f"{c['label'] or c['index']} {c['score']:.2f}" for c in raw["classes"])


def _describe_task(raw: dict[str, Any]) -> str:
    if raw.get("detections") is not None:
        return ", ".join(f"{d['label'] or d['index']} {d['score']:.2f} "
                         f"[{', '.join(f'{v:.2f}' for v in d['box'])}]"
                         for d in raw["detections"]) or "(no detections)"
    if raw.get("keypoints") is not None:
        best = sorted(raw["keypoints"], key=lambda k: -k["score"])[:4]
        return f"pose {raw.get('pose_score', 0):.2f}: " + ", ".join(
            f"{k['name']} ({k['x']:.2f}, {k['y']:.2f})" for k in best)
    if raw.get("segmentation") is not None:
        seg = sorted(raw["segmentation"]["classes"], key=lambda c: -c["fraction"])
        return ", ".join(f"{c['label'] or c['index']} {100 * c['fraction']:.1f}%" for c in seg)
    return raw.get("task", "?")


def _sum(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "0"


def format_counts(raw: dict[str, Any]) -> str:
    zones = "; ".join(f"{name}: {_sum(z['count'])} inside (entered {_sum(z['entered'])}, "
                      f"left {_sum(z['left'])})" for name, z in raw["zones"].items())
    lines = "; ".join(f"{name}: in {_sum(ln['in'])}, out {_sum(ln['out'])}"
                      for name, ln in raw["lines"].items())
    return (f"[counts] {raw['tracks']} tracks" + (f"  zones {zones}" if zones else "")
            + (f"  lines {lines}" if lines else ""))


def format_event(raw: dict[str, Any]) -> str:
    if raw.get("type") == "counts":
        return format_counts(raw)
    where = raw.get("zone") or raw.get("line") or ""
    what = f"{raw['type']:<15} {where + ' ' + raw['direction'] if raw.get('direction') else where}"
    extra = f"  after {raw['dwell_s']:.1f}s" if raw.get("dwell_s") is not None else ""
    box = ", ".join(f"{v:.2f}" for v in raw["box"])
    return (f"[event] seq {raw['seq']:>5}  frame {raw['frame_seq']:>6}  {what:<28} track "
            f"{raw['track_id']:>4} {raw['label'] or raw['index']} {raw['score']:.2f} "
            f"[{box}]{extra}")


def format_message(r: Received) -> str:
    raw = r.raw
    if raw.get("schema", "").startswith("edged.event/"):
        return format_event(raw) + (f"  [gap: {r.gap} lost]" if r.gap else "")
    if raw.get("schema", "").startswith("edged.status/"):
        return (f"[status] {raw['state']}  in {raw['fps_in']} fps, out {raw['fps_out']} fps, "
                f"{raw['subscribers']} subscribers, dropped {raw['dropped']}")
    lat = raw["latency_ms"]
    head = (f"seq {raw['seq']:>6}  frame {raw['frame_seq']:>6}  "
            f"infer {lat['inference']:6.2f} ms  total {lat['total']:6.2f} ms  ")
    notes = (f"  [gap: {r.gap} lost]" if r.gap else "") + ("  [daemon restarted]"
                                                           if r.restarted else "")
    if raw.get("classes") is not None:
        return head + (_describe_classes(raw) or "(nothing over threshold)") + notes
    return head + _describe_task(raw) + notes


def run(args: argparse.Namespace) -> int:
    topics = tuple(args.topic or ([] if args.events else [DEFAULT_TOPIC]))
    topics += (EVENTS_TOPIC,) if args.events else ()
    received = 0
    with Subscriber(args.endpoint, topics, curve=curve_option(args)) as sub:
        while not args.count or received < args.count:
            r = sub.receive(timeout=args.timeout or None)
            if r is None:
                print(f"edged listen: no message within {args.timeout}s on {args.endpoint}",
                      file=sys.stderr)
                return 1
            received += 1
            print(json.dumps(r.raw) if args.json else format_message(r), flush=True)
    return 0
