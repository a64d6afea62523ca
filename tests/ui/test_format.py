from __future__ import annotations

from datetime import datetime, timezone

from coptwin.ui.format import (
    MISSING,
    age_seconds,
    format_age,
    format_time,
    format_value,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_ages_read_naturally():
    assert format_age(None) == MISSING
    assert format_age(0.5) == "just now"
    assert format_age(12) == "12 s ago"
    assert format_age(300) == "5 min ago"
    assert format_age(3 * 3600 + 5) == "3 h ago"
    assert format_age(2 * 86400) == "2 d ago"
    assert "clock skew" in format_age(-120)


def test_naive_timestamps_are_utc():
    naive = datetime(2025, 6, 1, 11, 59, 0)
    assert age_seconds(naive, NOW) == 60.0
    assert format_time(naive) == "2025-06-01 11:59:00 UTC"
    aware = datetime(2025, 6, 1, 14, 0, tzinfo=timezone.utc).astimezone()
    assert format_time(aware) == "2025-06-01 14:00:00 UTC"


def test_values_keep_units_and_show_bad_numbers():
    assert format_value(21.5, "°C") == "21.5 °C"
    assert format_value(None, "°C") == MISSING
    assert format_value(float("nan"), "m") == "nan m"
    assert format_value(1234567.0) == "1.23457e+06"
