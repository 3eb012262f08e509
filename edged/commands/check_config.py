from __future__ import annotations

import argparse
import json
import sys

from edged.config import load_config
from edged.errors import ConfigError
from edged.events.check import check_config_file
from edged.plan import plan_for_config
from edged.preflight import PreflightError, preflight


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="path to the YAML config")
    p.add_argument("--no-model", action="store_true",
                   help="only the file itself: skip loading the model, labels and keys")


def run(args: argparse.Namespace) -> int:
    """Exit 0 only for a config ``edged run`` accepts: the same loader, then the same model,
    labels and key checks run does before its pipeline starts."""
    try:
        config = load_config(args.config)
        if errors := check_config_file(config, args.config):
            raise ConfigError(errors, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    if not args.no_model:
        try:
            preflight(config)
        except PreflightError as exc:
            print(f"{args.config}: refused by the checks edged run makes at start:",
                  file=sys.stderr)
            for line in exc.errors:
                print("  " + line.replace("\n", "\n    "), file=sys.stderr)
            return exc.exit_code
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    for line in plan_for_config(config):  # stderr: stdout stays the config as JSON
        print(f"plan: {line}", file=sys.stderr)
    return 0
