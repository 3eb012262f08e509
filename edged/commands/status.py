"""``edged status``: ask the running daemon for its status (it answers a new status
subscriber at once). Exit 0 running, 1 degraded or not yet running, 2 no answer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.client import DEFAULT_ENDPOINT, STATUS_TOPIC, Subscriber
from edged.commands.listen import curve_option
from edged.config import load_config
from edged.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", help=f"default: from --config, else {DEFAULT_ENDPOINT}")
    p.add_argument("--config", type=Path, help="read publish.endpoint and status_topic from it")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    p.add_argument("--json", action="store_true")
    p.add_argument("--curve-server-key", type=Path, help="the daemon's public key file (.key)")
    p.add_argument("--curve-key", type=Path, help="this client's secret key file (.key_secret)")


def run(args: argparse.Namespace) -> int:
    endpoint, topic = args.endpoint or DEFAULT_ENDPOINT, STATUS_TOPIC
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return exc.exit_code
        endpoint = args.endpoint or config.publish.endpoint
        topic = config.publish.status_topic
    with Subscriber(endpoint, (topic,), curve=curve_option(args)) as sub:
        r = sub.receive(timeout=args.timeout)
    if r is None:
        print(f"edged is not running (no status on {endpoint} within {args.timeout:g}s)",
              file=sys.stderr)
        return 2
    s = r.raw
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        model = s.get("model") or {}
        print(f"state:       {s['state']}" + (f" ({s['reason']})" if s.get("reason") else ""))
        print(f"run_id:      {s['run_id']}   uptime {s['uptime_s']:.0f} s")
        print(f"source:      {s['source']}")
        print(f"model:       {model.get('file')} on {model.get('runtime')} "
              f"({model.get('delegate')}, {model.get('threads')} threads)")
        print(f"rate:        in {s['fps_in']} fps, out {s['fps_out']} fps; "
              f"inference p50 {s['inference_ms']['p50']} ms, p99 {s['inference_ms']['p99']} ms")
        print(f"frames:      {s['frames']}")
        print(f"dropped:     {s['dropped']}")
        print(f"subscribers: {s['subscribers']}")
    return 0 if s["state"] == "running" else 1
