"""Exceptions that cross module boundaries, each mapped to an exit code by the CLI."""

from __future__ import annotations

EX_OK = 0
EX_SOFTWARE = 70
EX_UNAVAILABLE = 69
EX_CONFIG = 78  # sysexits EX_CONFIG; the systemd unit has RestartPreventExitStatus=78


class EdgedError(Exception):
    """Base class: a failure with a message meant for the user."""

    exit_code = EX_SOFTWARE


class ConfigError(EdgedError):
    """Invalid configuration. ``errors`` holds one line per problem."""

    exit_code = EX_CONFIG

    def __init__(self, errors: list[str], path: str | None = None) -> None:
        self.errors = errors
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "invalid configuration:\n" + "\n".join(f"  {e}" for e in errors))


class ModelError(EdgedError):
    """A model file that cannot be used (missing, corrupt, wrong task, needs a delegate)."""

    exit_code = EX_CONFIG


class RuntimeUnavailable(EdgedError):
    """No usable TFLite runtime (or a broken one, e.g. tflite-runtime with numpy 2)."""

    exit_code = EX_UNAVAILABLE


class SourceError(EdgedError):
    """A frame source failed. ``transient`` failures are retried with backoff."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class PublishError(EdgedError):
    """The publisher could not bind (endpoint in use, bad permissions, unsafe address)."""

    exit_code = EX_UNAVAILABLE
