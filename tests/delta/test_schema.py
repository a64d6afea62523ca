"""Delta schemaString -> polars schema agrees with deltalake's own conversion."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest
from deltalake import write_deltalake

from coptwin.delta.schema import UnsupportedSchemaError, schema_from_json


def test_schema_matches_deltalake_for_many_types(tmp_path):
    frame = pl.DataFrame(
        {
            "s": ["a"],
            "i64": pl.Series([1], dtype=pl.Int64),
            "i32": pl.Series([1], dtype=pl.Int32),
            "i16": pl.Series([1], dtype=pl.Int16),
            "i8": pl.Series([1], dtype=pl.Int8),
            "f32": pl.Series([1.0], dtype=pl.Float32),
            "f64": [1.0],
            "b": [True],
            "bin": [b"x"],
            "d": [dt.date(2024, 1, 1)],
            "ts": pl.Series([dt.datetime(2024, 1, 1)]).dt.replace_time_zone("UTC"),
            "ntz": pl.Series([dt.datetime(2024, 1, 1)]).dt.cast_time_unit("us"),
            "dec": pl.Series([Decimal("1.25")], dtype=pl.Decimal(10, 2)),
            "lst": [[1, 2]],
            "st": [{"x": 1, "y": "z"}],
        }
    )
    uri = str(tmp_path / "t")
    write_deltalake(uri, frame)
    log_line = (tmp_path / "t" / "_delta_log" / f"{0:020d}.json").read_text().splitlines()
    meta = next(json.loads(x)["metaData"] for x in log_line if "metaData" in x)
    from deltalake import DeltaTable

    assert schema_from_json(meta["schemaString"]) == pl.Schema(DeltaTable(uri).schema())


def test_map_and_errors():
    spec = {
        "type": "struct",
        "fields": [
            {
                "name": "m",
                "type": {
                    "type": "map",
                    "keyType": "string",
                    "valueType": "long",
                    "valueContainsNull": True,
                },
                "nullable": True,
                "metadata": {},
            },
        ],
    }
    got = schema_from_json(json.dumps(spec))
    assert got["m"] == pl.List(pl.Struct({"key": pl.String, "value": pl.Int64}))
    variant = {"type": "struct", "fields": [{"name": "v", "type": "variant"}]}
    with pytest.raises(UnsupportedSchemaError):
        schema_from_json(json.dumps(variant))
    with pytest.raises(ValueError):
        schema_from_json("{")
    with pytest.raises(ValueError):
        schema_from_json('{"type": "struct", "fields": [{"type": "long"}]}')
