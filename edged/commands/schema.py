from __future__ import annotations

import argparse
import json

from edged.events.schema import event_schemas
from edged.messages import json_schema


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def full_schema() -> dict:
    """Predictions and status (edged.predictions, edged.status) and events (edged.events)."""
    schema = json_schema()
    events = event_schemas()
    schema["oneOf"] += [{"$ref": f"#/$defs/{name}"} for name in events]
    schema["$defs"].update(events)
    return schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(full_schema(), indent=2))
    return 0
