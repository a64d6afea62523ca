"""to_canonical: user column names, type normalisation, missing columns."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from coptwin.config import TableConfig
from coptwin.model.columns import DTYPES, SchemaError, to_canonical

UTC = dt.timezone.utc
READINGS = TableConfig(
    path="r", columns={"sensor_id": "device", "ts": "time", "value": "reading", "unit": "uom"}
)


def test_user_columns_renamed_and_typed_from_a_real_delta_table(tmp_path):
    src = pl.DataFrame(
        {
            "device": ["a", "b"],
            "time": [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 11)],  # tz-naive
            "reading": [1, 2],  # integers
            "uom": ["C", "C"],
            "firmware": ["1.2", "1.3"],  # not canonical: dropped
        }
    )
    write_deltalake(str(tmp_path / "t"), src.to_arrow())
    df = pl.from_arrow(DeltaTable(str(tmp_path / "t")).to_pyarrow_table())

    out = to_canonical(df, READINGS, "readings")

    assert out.columns == list(DTYPES["readings"])
    assert dict(out.schema) == DTYPES["readings"]
    out = out.sort("sensor_id")
    assert out["sensor_id"].to_list() == ["a", "b"]
    assert out["ts"].to_list() == [
        dt.datetime(2024, 1, 1, 10, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 11, tzinfo=UTC),
    ]
    assert out["value"].to_list() == [1.0, 2.0]
    assert out["unit"].to_list() == ["C", "C"]
    assert out["quantity"].null_count() == 2  # missing optional -> typed nulls
    assert out["lon"].dtype == pl.Float64 and out["lon"].null_count() == 2


def test_missing_required_column_names_table_canonical_and_user_column():
    df = pl.DataFrame({"device": ["a"], "reading": [1.0]})
    with pytest.raises(SchemaError) as err:
        to_canonical(df, READINGS, "readings")
    msg = str(err.value)
    assert "'readings'" in msg and "'ts'" in msg and "'time'" in msg
    assert "tables.readings.columns" in msg


def test_sensors_missing_lat_is_a_schema_error():
    df = pl.DataFrame({"sensor_id": ["a"], "kind": ["temperature"], "lon": [1.0]})
    with pytest.raises(SchemaError, match="'lat'"):
        to_canonical(df, TableConfig(path="s"), "sensors")


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (
            pl.Series([dt.datetime(2024, 1, 1, 12)]).cast(pl.Datetime("ns")),
            dt.datetime(2024, 1, 1, 12, tzinfo=UTC),
        ),
        (
            pl.Series([dt.datetime(2024, 1, 1, 14)]).dt.replace_time_zone("Europe/Berlin"),
            dt.datetime(2024, 1, 1, 13, tzinfo=UTC),
        ),
        (pl.Series(["2024-01-01T12:00:00Z"]), dt.datetime(2024, 1, 1, 12, tzinfo=UTC)),
        (pl.Series(["2024-01-01T14:00:00+02:00"]), dt.datetime(2024, 1, 1, 12, tzinfo=UTC)),
        (pl.Series(["2024-01-01 12:00:00.5"]), dt.datetime(2024, 1, 1, 12, 0, 0, 500000, UTC)),
        (pl.Series([1_704_110_400]), dt.datetime(2024, 1, 1, 12, tzinfo=UTC)),  # epoch s
        (pl.Series([1_704_110_400_000]), dt.datetime(2024, 1, 1, 12, tzinfo=UTC)),  # epoch ms
        (pl.Series([dt.date(2024, 1, 1)]), dt.datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc_microseconds(series, expected):
    df = pl.DataFrame({"sensor_id": ["a"], "ts": series})
    out = to_canonical(df, TableConfig(path="r"), "readings")
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert out["ts"].to_list() == [expected]


def test_unparseable_values_are_marked_not_dropped():
    df = pl.DataFrame(
        {"sensor_id": ["a", "b", "c"], "ts": ["2024-01-01T00:00:00", "garbage", None]}
    ).with_columns(value=pl.Series(["1.5", "n/a", None]))
    out = to_canonical(df, TableConfig(path="r"), "readings")
    assert out.height == 3
    value = out["value"].to_list()
    assert value[0] == 1.5 and math.isnan(value[1]) and value[2] is None
    assert out["ts"].null_count() == 2  # later counted as null_ts


def test_sensor_ids_and_object_ids_become_text():
    df = pl.DataFrame(
        {
            "sensor_id": [7, 8],
            "kind": ["camera", "camera"],
            "lon": ["13.4", "13.5"],
            "lat": [52.5, 52.6],
            "object_id": [12.0, 13.5],
        }
    )
    out = to_canonical(df, TableConfig(path="s"), "sensors")
    assert out["sensor_id"].to_list() == ["7", "8"]
    assert out["object_id"].to_list() == ["12", "13.5"]
    assert out["lon"].to_list() == [13.4, 13.5]


def test_mapped_name_wins_over_a_same_named_other_column():
    df = pl.DataFrame({"device": ["a"], "sensor_id": ["other"], "time": [dt.datetime(2024, 1, 1)]})
    out = to_canonical(df, READINGS, "readings")
    assert out["sensor_id"].to_list() == ["a"]


def test_frame_without_columns_is_an_empty_batch():
    out = to_canonical(pl.DataFrame(), READINGS, "readings")
    assert out.height == 0 and dict(out.schema) == DTYPES["readings"]


def test_unknown_table_is_an_error():
    with pytest.raises(SchemaError, match="unknown table"):
        to_canonical(pl.DataFrame({"a": [1]}), READINGS, "nope")
