"""``coptwin alarms`` end to end: a real config file and alarms table, the real CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from coptwin.alarms.model import utc_now
from coptwin.alarms.store import AlarmStore
from coptwin.cli import main
from coptwin.commands.alarms import parse_duration
from coptwin.config import load_config

from .conftest import system


@pytest.fixture()
def cfg_path(tmp_path):
    path = tmp_path / "coptwin.toml"
    path.write_text(
        """
[storage]
uri = "tables"
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[tables.alarms]
path = "alarms"
columns = { ts = "event_time" }
[alarms]
max_shelve_s = 86400
""",
        encoding="utf-8",
    )
    return str(path)


def _store(cfg_path) -> AlarmStore:
    return AlarmStore.from_config(load_config(cfg_path))


def _raise(cfg_path, sensor: str, seconds_ago: float, *, reason="=HYPERLINK(evil)") -> str:
    event = system("raised", sensor, -seconds_ago, value=4.2, reason=reason, base=utc_now())
    _store(cfg_path).append([event])
    return event.alarm_id


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["alarms", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_ack_shelve_unshelve_history(cfg_path, capsys):
    old = _raise(cfg_path, "W-1", 600)
    new = _raise(cfg_path, "W-2", 60)
    c = ["-c", cfg_path]
    code, out, err = _run(capsys, "list", *c, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["alarm_id"] for r in rows] == [old, new]
    assert {r["state"] for r in rows} == {"unacknowledged-active"}

    code, out, _ = _run(capsys, "ack", *c, "--sensor", "W-1", "--author", "ann", "--note", "on it")
    assert (code, out.strip()) == (0, old)
    code, _, err = _run(capsys, "ack", *c, old, "--author", "bob")
    assert code == 2 and "already acknowledged by ann" in err

    code, out, _ = _run(
        capsys, "shelve", *c, new, "--for", "8h", "--reason", "pump swap", "--author", "ann"
    )
    assert (code, out.strip()) == (0, new)
    code, out, err = _run(capsys, "list", *c)
    assert code == 0
    assert out.splitlines()[0].startswith(f"[acknowledged-active] {old}")
    assert "[shelved]" in out and "pump swap" in out
    assert "open: 1 acknowledged-active, 1 shelved" in err

    code, _, err = _run(capsys, "shelve", *c, new, "--for", "9h", "--reason", "x", "--author", "a")
    assert code == 2 and "already shelved" in err
    code, _, _ = _run(capsys, "unshelve", *c, new, "--author", "bob")
    assert code == 0
    code, _, err = _run(capsys, "unshelve", *c, new, "--author", "bob")
    assert code == 2 and "is not shelved" in err

    code, out, _ = _run(capsys, "history", *c, new, "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["event"], e["author"]) for e in events] == [
        ("raised", "coptwin"),
        ("shelved", "ann"),
        ("unshelved", "bob"),
    ]
    assert events[1]["reason"] == "pump swap" and events[1]["until"].endswith("Z")


def test_refusals_are_one_line_errors_and_write_nothing(cfg_path, capsys):
    alarm = _raise(cfg_path, "W-1", 60)
    version = _store(cfg_path).version()
    c = ["-c", cfg_path, "--author", "ann"]
    cases = [
        (["ack", *c], "name the alarms"),
        (["ack", *c, "nope@2025"], "unknown alarm"),
        (["ack", *c, "--sensor", "W-9"], "has no open alarm"),
        (["ack", "-c", cfg_path, "--author", "", alarm], "missing author"),
        (
            ["shelve", *c, alarm, "--until", "2020-01-01T00:00Z", "--reason", "r"],
            "not in the future",
        ),
        (["shelve", *c, alarm, "--for", "3d", "--reason", "r"], "at most 24 h"),
        (["shelve", *c, alarm, "--for", "8h", "--reason", " "], "needs a reason"),
        (["in-service", *c, "--layer", "water"], "not out of service"),
        (["history", "-c", cfg_path, "nope"], "unknown alarm"),
    ]
    for argv, match in cases:
        code, _, err = _run(capsys, *argv)
        assert code == 2 and match in err, (argv, err)
        assert err.count("\n") == 1
    assert _store(cfg_path).version() == version


def test_out_of_service_and_back(cfg_path, capsys):
    alarm = _raise(cfg_path, "W-1", 60)
    c = ["-c", cfg_path, "--author", "tech"]
    code, _, err = _run(capsys, "out-of-service", *c, "--layer", "water", "--reason", "works")
    assert code == 0 and "layer water out of service" in err
    code, out, err = _run(capsys, "list", "-c", cfg_path)
    assert f"[out-of-service] {alarm}" in out and "out of service: layer water" in err
    code, _, _ = _run(capsys, "in-service", *c, "--layer", "water")
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--state", "unacknowledged-active")
    assert alarm in out


def test_list_as_of_a_version(cfg_path, capsys):
    alarm = _raise(cfg_path, "W-1", 60)
    version = _store(cfg_path).version()
    _run(capsys, "ack", "-c", cfg_path, alarm, "--author", "ann")
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--json", "--as-of", str(version))
    assert json.loads(out)["state"] == "unacknowledged-active"
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--json")
    assert json.loads(out)["state"] == "acknowledged-active"


def test_list_as_of_a_time_folds_the_events_up_to_then(cfg_path, capsys):
    """As the engine and the page time-travel: an alarm raised a minute ago and
    acknowledged now was unacknowledged 30 s ago, and did not exist 2 minutes ago."""
    alarm = _raise(cfg_path, "W-1", 60)
    _run(capsys, "ack", "-c", cfg_path, alarm, "--author", "ann")
    half = (utc_now() - timedelta(seconds=30)).isoformat()
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--json", "--as-of", half)
    assert json.loads(out)["state"] == "unacknowledged-active"
    before = (utc_now() - timedelta(seconds=120)).isoformat()
    code, out, _ = _run(capsys, "list", "-c", cfg_path, "--json", "--as-of", before)
    assert out == ""


def test_export_alarms_and_events_spreadsheet_safe(cfg_path, capsys, tmp_path):
    alarm = _raise(cfg_path, "W-1", 60)
    _run(capsys, "ack", "-c", cfg_path, alarm, "--author", "@ann")
    out_file = tmp_path / "export" / "alarms.csv"
    code, _, err = _run(capsys, "export", "-c", cfg_path, "--format", "csv", "-o", str(out_file))
    assert code == 0 and "wrote 1 alarms" in err
    [row] = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert row["alarm_id"] == alarm and row["state"] == "acknowledged-active"
    assert row["reason"] == "'=HYPERLINK(evil)" and row["acked_by"] == "'@ann"
    code, out, _ = _run(capsys, "export", "-c", cfg_path, "--format", "json", "--what", "events")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["raised", "acknowledged"]
    assert events[0]["reason"] == "=HYPERLINK(evil)"  # JSON is not a spreadsheet


def test_column_mapping_is_honoured(cfg_path):
    import polars as pl

    _raise(cfg_path, "W-1", 60)
    raw = pl.read_delta(str(load_config(cfg_path).table_uri("alarms")))
    assert "event_time" in raw.columns and "ts" not in raw.columns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8h", 28800), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("90s", 90)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "8", "h", "8x", "-1h", "0s", "1h 3"])
def test_bad_durations(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_shelve_until_a_time_ahead(cfg_path, capsys):
    """``--until`` names a time ahead (as-of parsing refuses those: not for shelvings)."""
    alarm = _raise(cfg_path, "W-1", 60)
    until = (utc_now() + timedelta(hours=2)).replace(microsecond=0)
    stamp = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    c = ["-c", cfg_path, "--author", "ann"]
    code, out, err = _run(capsys, "shelve", *c, alarm, "--until", stamp, "--reason", "pump swap")
    assert (code, out.strip()) == (0, alarm), err
    [shelved] = [e for e in _store(cfg_path).book().history(alarm) if e.event == "shelved"]
    assert shelved.until == until
    with pytest.raises(SystemExit) as exc:  # argparse's own exit
        _run(capsys, "shelve", *c, alarm, "--until", "tomorrow", "--reason", "x")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --until: 'tomorrow' is not an ISO-8601 time" in err
