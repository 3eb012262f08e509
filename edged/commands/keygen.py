"""``edged keygen DIR [--name NAME]``: a CURVE key pair for tcp publishing."""

from __future__ import annotations

import argparse
from pathlib import Path

from edged.security import make_keypair


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, help="where to write NAME.key and NAME.key_secret")
    p.add_argument("--name", default="edged", help="file name stem (default: edged)")


def run(args: argparse.Namespace) -> int:
    public, secret = make_keypair(args.folder, args.name)
    print(f"public key (give to the other side): {public}")
    print(f"secret key (keep private, mode 0600): {secret}")
    print("server: publish.curve.secret_key_file = the server's .key_secret; clients' .key "
          "files go in publish.curve.authorized_keys_dir")
    print("client: edged listen --curve-server-key SERVER.key --curve-key CLIENT.key_secret")
    return 0
