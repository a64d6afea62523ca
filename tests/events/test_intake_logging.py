"""What the intake logs from a body is escaped: a hostile body cannot forge log lines."""

from __future__ import annotations

import json
import logging

from coptwin.events.hint import SourceStats
from coptwin.events.intake import EventIntake
from coptwin.events.routing import TableRouter


def test_sns_subscribe_url_is_logged_escaped(caplog):
    """Issue 12, item 9: a SubscribeURL with newlines must not start a new log line."""
    url = "https://sns.example/confirm?x=1\n2026-01-01 ERROR forged line\r\x1b[31mred\u202e"
    doc = {"Type": "SubscriptionConfirmation", "SubscribeURL": url, "Token": "t"}
    intake = EventIntake(TableRouter({"readings": "city/readings"}, "cop"), SourceStats(), print)
    with caplog.at_level(logging.WARNING, logger="coptwin.events.intake"):
        assert intake.handle("webhook", json.dumps(doc).encode())
    [record] = [r for r in caplog.records if "SNS" in r.getMessage()]
    text = record.getMessage()
    assert "https://sns.example/confirm?x=1" in text
    for raw in ("\n", "\r", "\x1b", "\u202e"):
        assert raw not in text
    assert "\\n2026-01-01 ERROR forged line" in text
