"""Lazy TensorFlow import with the install hint as the failure message."""

from __future__ import annotations

import os
from typing import Any

from edged.errors import EdgedError

INSTALL_HINT = "pip install 'edged[convert]'"


class ConversionError(EdgedError):
    """A model that cannot be converted (bad file, dynamic shape, unsupported op, no TF)."""

    exit_code = 65  # sysexits EX_DATAERR


class TensorFlowMissing(ConversionError):
    exit_code = 69  # EX_UNAVAILABLE, like a missing runtime


def import_tensorflow() -> Any:
    """The ``tensorflow`` module, or TensorFlowMissing saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise TensorFlowMissing(
            f"edged convert needs TensorFlow, which is not installed ({exc}); install it on "
            f"your workstation with: {INSTALL_HINT}  (the Pi itself only needs the runtime)"
        ) from None
    try:  # the converter's deprecation chatter is not for edged users
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass
    return tf
