from __future__ import annotations

from datetime import datetime, timedelta, timezone

from coptwin.engine.snapshot import EngineStatus
from coptwin.ui.status import banner_text, format_status, idle_status_line

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_connected_shows_age_sources_versions_and_tick():
    status = EngineStatus(
        connection="connected",
        event_sources=("webhook", "polling"),
        last_update=NOW - timedelta(seconds=12),
        versions={"sensors": 3, "readings": 12},
        last_tick_ms=4.25,
        rows_read=500,
    )
    line = format_status(status, NOW)
    assert (line.state, line.level, line.live) == ("Connected", "ok", True)
    assert line.text == "Connected · last update 12 s ago"
    assert line.details == (
        "events: webhook, polling · versions: readings v12, sensors v3 · "
        "last tick 4.2 ms · 500 rows read"
    )
    assert line.banner == ""


def test_disconnected_names_the_reason():
    status = EngineStatus(
        connection="disconnected",
        reason="OSError: connection refused (http://127.0.0.1:9000)",
        last_update=NOW - timedelta(minutes=5),
    )
    line = format_status(status, NOW)
    assert line.level == "error"
    assert line.state == "Disconnected"
    assert line.text == (
        "Disconnected: OSError: connection refused (http://127.0.0.1:9000) · last update 5 min ago"
    )
    no_reason = format_status(EngineStatus(connection="disconnected"), NOW)
    assert no_reason.text == "Disconnected: no reason given · no update yet"


def test_connected_without_new_data_for_too_long_is_stale():
    status = EngineStatus(connection="connected", last_update=NOW - timedelta(minutes=10))
    line = format_status(status, NOW, stale_after_s=300)
    assert (line.state, line.level) == ("Stale", "warn")
    assert line.text == "Stale: no new data for 10 min"
    fresh = format_status(status, NOW, stale_after_s=3600)
    assert fresh.state == "Connected"


def test_as_of_wins_and_raises_a_banner():
    by_version = format_status(EngineStatus(connection="disconnected", as_of=7), NOW)
    assert (by_version.state, by_version.level) == ("As of version 7", "info")
    assert not by_version.live
    assert by_version.banner.startswith("NOT LIVE — showing the COP as of version 7.")
    when = datetime(2025, 5, 31, 8, 30, tzinfo=timezone.utc)
    by_time = format_status(EngineStatus(connection="connected", as_of=when), NOW)
    assert by_time.state == "As of 2025-05-31 08:30:00 UTC"
    assert "2025-05-31 08:30:00 UTC" in by_time.banner
    assert banner_text(None) == ""


def test_connecting_and_skipped_rows_are_visible():
    status = EngineStatus(connection="connecting", rows_skipped={"unknown_sensor": 2, "bad_ts": 1})
    line = format_status(status, NOW)
    assert (line.state, line.level) == ("Connecting", "warn")
    assert line.details.endswith("3 rows skipped (bad_ts 1, unknown_sensor 2)")
    assert "events: none" in line.details


def test_idle_line_says_why_nothing_runs():
    line = idle_status_line("no stage is open")
    assert (line.state, line.text, line.level) == ("Stopped", "Stopped: no stage is open", "error")


def test_failing_event_source_is_a_warning_that_says_what_covers():
    """Issue 12.1: the status line says which source failed and that polling covers."""
    problem = (
        "webhook: events.webhook: cannot listen on 127.0.0.1:8765: in use; polling every 1 s covers"
    )
    status = EngineStatus(
        connection="connected",
        event_sources=("webhook",),
        last_update=NOW - timedelta(seconds=2),
        event_problems=(problem,),
    )
    line = format_status(status, NOW)
    assert (line.state, line.level) == ("Connected", "warn")
    assert line.text == f"Connected · last update 2 s ago · {problem}"
    down = format_status(EngineStatus(connection="disconnected", event_problems=(problem,)), NOW)
    assert down.level == "error" and problem in down.text


def test_skipped_event_counters_are_in_the_details():
    """Issue 12.9: foreign, malformed and ignored events are shown, per source."""
    counts = {
        "webhook": {"received": 9, "hints": 5, "malformed": 2, "foreign": 1, "ignored": 0},
        "polling": {"received": 0, "hints": 40, "malformed": 0, "foreign": 0, "ignored": 0},
        "mqtt": {"received": 3, "hints": 0, "malformed": 0, "foreign": 0, "ignored": 3},
    }
    status = EngineStatus(
        connection="connected", event_sources=("webhook", "mqtt"), event_counts=counts
    )
    details = format_status(status, NOW).details
    assert "events: webhook, mqtt" in details
    assert "webhook 9 events (2 malformed, 1 foreign)" in details
    assert "mqtt 3 events (3 ignored)" in details
    assert "polling" not in details.split("events: webhook, mqtt")[1]


def test_event_problems_quarantine_and_the_alarm_badge_all_show():
    """The merged line: a failing event source (12.1), what reads left out (12.2) and the
    operators' alarms (15) are said together, none hiding another."""
    from coptwin.engine.alarms import AlarmRow, AlarmsView, NotifyHealth

    status = EngineStatus(
        connection="connected",
        event_sources=("webhook", "polling"),
        last_update=NOW - timedelta(seconds=3),
        event_problems=("webhook: port 9000 in use; polling every 5 s covers",),
        event_counts={"webhook": {"received": 3, "malformed": 1, "foreign": 0, "ignored": 0}},
        quarantined_files=1,
        quarantined_rows=4,
        uncast={"value": 2},
        last_reload="table was deleted and recreated",
    )
    alarm = AlarmRow("a1", "s1", "env", "unacknowledged-active", "alarm", 40.0, "hot", NOW)
    alarms = AlarmsView(rows=(alarm,), notify=NotifyHealth(True, False, "notify: 0/1 ok", ("ops",)))
    line = format_status(status, NOW, alarms=alarms)
    assert line.level == "warn"
    assert line.text == (
        "Connected · last update 3 s ago · readings: 1 file quarantined (4 rows), see the log"
        " · webhook: port 9000 in use; polling every 5 s covers · notifications failing: ops"
    )
    assert line.details == (
        "events: webhook, polling · webhook 3 events (1 malformed) · readings: 2 values of the "
        "wrong type (value 2) · readings reloaded in full: table was deleted and recreated"
        " · notify: 0/1 ok"
    )
    assert (line.badge, line.badge_level) == ("1 unacknowledged of 1 alarm", "error")
