"""Everything ``edged run`` checks before its pipeline starts, without starting it.

``edged check-config`` calls ``preflight`` after ``load_config``; ``edged run`` calls the same
``load_config`` and, in ``Daemon.start``, the same ``build_model_parts`` and key loader, so the
two cannot disagree: a config check-config passes is one run accepts, and the other way round.
"""

from __future__ import annotations

import os

from edged.config import Config
from edged.daemon import build_model_parts
from edged.errors import EX_CONFIG, EdgedError
from edged.safefile import check_regular
from edged.security import credential_path, load_keypair
from edged.sources import build_source


class PreflightError(EdgedError):
    """One or more problems; ``errors`` has one line each, ``exit_code`` the first's."""

    def __init__(self, errors: list[str], exit_code: int) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.exit_code = exit_code


def preflight(config: Config) -> None:
    """Load the model (on tflite-runtime in a child first) with one inference, its labels
    against its outputs, the source's settings and the CURVE keys; PreflightError lists
    what fails."""
    errors: list[tuple[str, EdgedError]] = []
    for key, step in (("model", build_model_parts), ("source", _source),
                      ("", check_curve_keys)):  # the key checks' messages name their key
        try:
            step(config)
        except EdgedError as exc:
            errors.append((key, exc))
        except Exception as exc:  # a bug, but check-config reports it instead of a traceback
            errors.append((key, EdgedError(f"unexpected {type(exc).__name__}: {exc}")))
    if errors:
        raise PreflightError([f"{key}: {exc}" if key else str(exc) for key, exc in errors],
                             errors[0][1].exit_code)


def _source(config: Config) -> None:
    build_source(config.source)  # its settings; nothing is opened


def check_curve_keys(config: Config) -> None:
    curve = config.publish.curve
    if curve is None:
        return
    if curve.secret_key_file.is_absolute() or os.environ.get("CREDENTIALS_DIRECTORY"):
        # (a relative name is a systemd credential, present only inside the service)
        key_file = credential_path(curve.secret_key_file)
        problem = check_regular(key_file)  # zmq would block on a FIFO
        if problem is not None:
            raise _ConfigProblem(f"publish.curve.secret_key_file {key_file}: {problem}")
        try:
            load_keypair(curve.secret_key_file)
        except EdgedError as exc:  # a PublishError at bind time; here, a config problem
            raise _ConfigProblem(str(exc)) from None
    folder = curve.authorized_keys_dir
    if not folder.is_dir() or not any(p.is_file() for p in folder.glob("*.key")):
        raise _ConfigProblem(f"publish.curve.authorized_keys_dir {folder}: no client public "
                             "keys (*.key) there; nobody could subscribe")


class _ConfigProblem(EdgedError):
    exit_code = EX_CONFIG
