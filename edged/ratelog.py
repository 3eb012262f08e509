"""A log line at most every so often, saying how many were held back since the last one."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, level: int, every_s: float, held: str) -> None:
        """``held``: what the count of held-back lines is called ("failures", ...)."""
        self.logger, self.level, self.every_s, self.held = logger, level, every_s, held
        self.last = -every_s
        self.unlogged = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s:
            self.unlogged += 1
            return
        more = f" ({self.unlogged} more {self.held} since the last report)" \
            if self.unlogged else ""
        self.logger.log(self.level, message + "%s", *args, more)
        self.last, self.unlogged = now, 0
