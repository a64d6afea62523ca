"""maintain_config: every configured table, with the config's storage (local and S3)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import polars as pl
import pytest
from deltalake import write_deltalake

from coptwin.config import ConfigError, config_from_dict
from coptwin.maintenance import MaintenanceOptions, maintain_config
from coptwin.storage import delta_storage_options


def _config(uri: str, **storage) -> object:
    return config_from_dict(
        {
            "storage": {"uri": uri, **storage},
            "tables": {
                "readings": {"path": "readings", "columns": {"date": "day"}},
                "sensors": {"path": "sensors"},
            },
        }
    )


def _fill(cfg, options: dict[str, str]) -> None:
    old = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)).isoformat()
    for i in range(4):
        write_deltalake(
            cfg.table_uri("readings"),
            pl.DataFrame({"rid": [i], "day": [old]}),
            mode="append",
            partition_by=["day"],
            storage_options=options or None,
        )
    write_deltalake(
        cfg.table_uri("sensors"),
        pl.DataFrame({"sensor_id": ["a"]}),
        mode="overwrite",
        storage_options=options or None,
    )


def test_every_configured_table_with_the_mapped_date_column(tmp_path):
    cfg = _config(str(tmp_path / "tables"))
    _fill(cfg, {})
    reports = maintain_config(cfg, MaintenanceOptions())
    assert [r.table for r in reports] == ["readings", "sensors"]
    readings, sensors = reports
    assert readings.ok and readings.partition_column == "day"
    assert [r.files_removed for r in readings.compacted] == [4]
    assert sensors.ok and "not partitioned by 'day'" not in sensors.compaction_disabled
    assert "not partitioned by 'date'" in sensors.compaction_disabled
    assert sorted(pl.read_delta(cfg.table_uri("readings"))["rid"].to_list()) == [0, 1, 2, 3]


def test_named_tables_only_and_unknown_tables_refused(tmp_path):
    cfg = _config(str(tmp_path / "tables"))
    _fill(cfg, {})
    reports = maintain_config(cfg, MaintenanceOptions(dry_run=True), ["sensors"])
    assert [r.table for r in reports] == ["sensors"]
    with pytest.raises(ConfigError, match="annotations"):
        maintain_config(cfg, MaintenanceOptions(), ["annotations"])


@pytest.mark.s3
def test_s3_tables_on_seaweedfs(s3_server, monkeypatch):
    bucket = s3_server.new_bucket("maintain")
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    cfg = _config(f"s3://{bucket}/cop", endpoint=s3_server.endpoint, allow_http=True)
    options = delta_storage_options(cfg.storage)
    _fill(cfg, options)
    before = pl.read_delta(cfg.table_uri("readings"), storage_options=options).height
    dry = maintain_config(cfg, MaintenanceOptions(dry_run=True), ["readings"])[0]
    assert dry.ok and dry.version_after == dry.version_before
    assert [p["small_files"] for p in dry.to_compact] == [4]
    report = maintain_config(cfg, MaintenanceOptions(), ["readings"])[0]
    assert report.ok, report.errors
    assert [r.files_removed for r in report.compacted] == [4]
    after = pl.read_delta(cfg.table_uri("readings"), storage_options=options)
    assert after.height == before and Counter(after["rid"].to_list()) == Counter(range(4))
    # the lease is gone again, and no secret reached the report
    assert maintain_config(cfg, MaintenanceOptions(), ["readings"])[0].ok
    assert s3_server.secret_key not in repr(report.to_dict())
