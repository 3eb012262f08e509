from __future__ import annotations

import argparse
import json
import sys

from edged.config import load_config
from edged.errors import ConfigError
from edged.events.check import check_config_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="path to the YAML config")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if errors := check_config_file(config, args.config):
            raise ConfigError(errors, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    return 0
