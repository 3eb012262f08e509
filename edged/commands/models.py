"""``edged models list [--json]`` and ``edged models fetch [NAME] [--dir DIR] [--mirror URL]``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edged.models import catalog
from edged.models.fetch import FetchError, Options, fetch_entry, is_installed

DEFAULT_DIR = Path("/var/lib/edged/models")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the curated models", description="the curated models")
    ls.add_argument("--json", action="store_true", help="a JSON list of entries")
    f = sub.add_parser("fetch", help="download and verify a model and its labels",
                       description="download a model and its labels, verify them, and print "
                       "the config lines that use them")
    f.add_argument("name", nargs="?", default=catalog.DEFAULT_MODEL,
                   help=f"a name from 'edged models list' (default {catalog.DEFAULT_MODEL})")
    f.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    f.add_argument("--mirror", metavar="BASE_URL",
                   help="fetch the same file names from BASE_URL/FILE (http(s):// or file://)")
    f.add_argument("--check", action="store_true",
                   help="download nothing: exit 0 if the files are in DIR and verify, else 1")
    f.add_argument("--retries", type=int, default=4, help="retries per file (default 4)")
    f.add_argument("--timeout", type=float, default=30.0,
                   help="seconds without data before an attempt fails (default 30)")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.json)
    try:
        entry = catalog.find(args.name)
    except KeyError:
        print(f"edged: unknown model {args.name!r}; one of: {', '.join(catalog.names())}",
              file=sys.stderr)
        return 2
    if args.check:
        return 0 if is_installed(entry, args.dir) else 1
    opts = Options(mirror=args.mirror, retries=max(0, args.retries), timeout=args.timeout,
                   progress=None if args.quiet else ProgressPrinter(), log=_err)
    try:
        fetch_entry(entry, args.dir, opts)
    except FetchError as exc:
        print(f"edged: {exc}", file=sys.stderr)
        return exc.exit_code
    print(config_snippet(entry, args.dir))
    return 0


def _list(as_json: bool) -> int:
    if as_json:
        print(json.dumps(catalog.as_json(), indent=2))
        return 0
    print(f"{'NAME':31} {'TASK':15} {'INPUT':18} {'SIZE':>8}  VERIFIED BY")
    for e in catalog.ENTRIES:
        shape, dtype = e.expect.input
        size = f"{e.model.size / 1e6:.1f} MB" if e.model.size else "?"
        mark = " (default)" if e.name == catalog.DEFAULT_MODEL else ""
        print(f"{e.name:31} {e.task:15} {'x'.join(map(str, shape)) + ' ' + dtype:18} "
              f"{size:>8}  {e.verify}{mark}")
    print(f"\nfiles from {catalog.UPSTREAM_BASE}/ (Apache-2.0); details: edged models list --json")
    return 0


def config_snippet(entry: catalog.Entry, dest: Path) -> str:
    lines = ["# config.yaml lines for this model:", "model:",
             f"  path: {dest.resolve() / entry.model.file}"]
    if entry.labels:
        lines.append(f"  labels: {dest.resolve() / entry.labels.file}")
    if entry.edgetpu:
        lines.append("  delegate: edgetpu   # compiled for the Coral Edge TPU")
    return "\n".join(lines)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ProgressPrinter:
    """Progress on stderr: a rewritten line on a terminal, a line every 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last: tuple[str, int] = ("", -1)
        self.last_t = 0.0

    def __call__(self, name: str, done: int, total: int | None) -> None:
        step = int(done * 10 / total) if total else done // (1 << 20)
        now = time.monotonic()
        finished = total is not None and done >= total
        if (name, step) == self.last and not (self.tty and now - self.last_t > 0.2):
            return
        self.last, self.last_t = (name, step), now
        pct = f" {done * 100 // total:3d}%" if total else ""
        of = f"/{total / 1e6:.1f}" if total else ""
        line = f"{name}: {done / 1e6:.1f}{of} MB{pct}"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if finished else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
