from __future__ import annotations

import logging

import pytest

from edged.ratelog import RateLimitedLog


def test_one_line_per_period_with_the_count_held_back(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("edged.test.ratelog")
    say = RateLimitedLog(logger, logging.ERROR, every_s=3600, held="failures")
    with caplog.at_level(logging.ERROR, logger="edged.test.ratelog"):
        for i in range(5):
            say("inference failed: %s", f"boom {i}")
        assert [r.getMessage() for r in caplog.records] == ["inference failed: boom 0"]
        say.last -= 3600  # the period has passed
        say("inference failed: %s", "boom 5")
    assert caplog.records[-1].getMessage() == \
        "inference failed: boom 5 (4 more failures since the last report)"
    assert caplog.records[-1].levelno == logging.ERROR
