"""The ``edged`` command. Each verb lives in ``edged/commands/<verb>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this module only dispatches."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from edged import __version__
from edged.errors import EdgedError

# verb -> (module, one-line help). A verb whose module is absent is simply not offered.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("edged.commands.run", "run the daemon"),
    "check-config": ("edged.commands.check_config", "validate a config file and print it"),
    "schema": ("edged.commands.schema", "print the JSON Schema of published messages"),
    "listen": ("edged.commands.listen", "subscribe and print predictions"),
    "demo": ("edged.commands.demo", "run the daemon on its embedded demo and show predictions"),
    "status": ("edged.commands.status", "print the daemon's status (non-zero if not healthy)"),
    "bench": ("edged.commands.bench", "measure bare interpreter vs. the full daemon path"),
    "doctor": ("edged.commands.doctor", "check this device: runtime, model, camera, Edge TPU"),
    "keygen": ("edged.commands.keygen", "make a CURVE key pair for tcp publishing"),
    "mqtt": ("edged.commands.mqtt", "bridge status, events and predictions to an MQTT broker"),
    "web": ("edged.commands.web", "serve a live preview page and Prometheus metrics"),
    "convert": ("edged.commands.convert", "convert a Keras model to a quantized .tflite"),
    "models": ("edged.commands.models", "list the curated models; fetch and verify one"),
}

DESCRIPTION = ("edged: an edge inference daemon (camera frames -> quantized TFLite -> ZeroMQ). "
               "'edged VERB --help' tells more about each verb.")


def chosen_verb(argv: list[str]) -> str | None:
    """The verb on the command line (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, object]]:
    """Every verb is listed, but only ``only``'s module is imported: the others pull in numpy,
    OpenCV, the interpreter, pydantic models, and ``edged --help`` took ~1.5 s (seconds on a
    Pi). A verb whose module is absent is not offered."""
    parser = argparse.ArgumentParser(prog="edged", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"edged {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    modules: dict[str, object] = {}
    for verb, (module_name, help_text) in VERBS.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        p = sub.add_parser(verb, help=help_text, description=help_text)
        if verb == only:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            modules[verb] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, modules = build_parser(chosen_verb(argv))
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    try:
        return int(modules[args.verb].run(args))  # type: ignore[attr-defined]
    except EdgedError as exc:
        print(f"edged: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
