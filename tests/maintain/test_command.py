"""``coptwin maintain``: plan printing, JSON, exit codes and refused options."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
from deltalake import DeltaTable, write_deltalake

from coptwin.cli import main


def _setup(tmp_path):
    tables = tmp_path / "tables"
    day = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)).isoformat()
    for i in range(3):
        write_deltalake(
            str(tables / "readings"),
            pl.DataFrame({"rid": [i], "date": [day]}),
            mode="append",
            partition_by=["date"],
        )
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[storage]\nuri = "tables"\n[tables.readings]\npath = "readings"\n'
        '[tables.sensors]\npath = "sensors"\n',
        encoding="utf-8",
    )
    return cfg, str(tables / "readings"), day


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, capsys):
    cfg, uri, day = _setup(tmp_path)
    assert main(["maintain", "--config", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would compact 1 partitions, 3 files" in out
    assert f"date={day}: 3 files" in out
    assert "sensors:" in out and "skipped: no Delta table" in out
    assert DeltaTable(uri).version() == 2


def test_run_with_json_output(tmp_path, capsys):
    cfg, uri, day = _setup(tmp_path)
    assert main(["maintain", "-c", str(cfg), "--json", "--table", "readings"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (rep,) = doc["tables"]
    assert rep["compacted"][0]["value"] == day and rep["compacted"][0]["files_removed"] == 3
    assert rep["retention_hours"] == 168 and rep["version_after"] > rep["version_before"]
    assert len(DeltaTable(uri).file_uris()) == 1


def test_unsafe_options_are_refused(tmp_path, capsys):
    cfg, uri, _day = _setup(tmp_path)
    assert main(["maintain", "-c", str(cfg), "--retention-hours", "1"]) == 2
    assert "below 168 h" in capsys.readouterr().err
    assert main(["maintain", "-c", str(cfg), "--older-than-days", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert DeltaTable(uri).version() == 2


def test_bad_config_is_one_line(tmp_path, capsys):
    assert main(["maintain", "-c", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
