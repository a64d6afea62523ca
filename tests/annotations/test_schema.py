"""Column mapping and canonical types of the annotations table."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from coptwin.annotations.schema import SCHEMA, to_canonical, to_user
from coptwin.config import TableConfig
from coptwin.model.columns import SchemaError


def test_user_names_round_trip_and_missing_columns_become_nulls():
    table = TableConfig(path="notes", columns={"text": "body", "annotation_id": "id"})
    frame = pl.DataFrame({"annotation_id": ["a"], "text": ["hello"]})
    user = to_user(frame, table)
    assert user.columns == ["id", "body"]
    back = to_canonical(user.with_columns(extra=pl.lit(1)), table)
    assert back.columns == list(SCHEMA) and dict(back.schema) == SCHEMA
    assert back.row(0, named=True)["text"] == "hello" and back["author"][0] is None


def test_naive_and_foreign_zone_times_become_utc():
    naive = pl.DataFrame({"annotation_id": ["a"], "created_at": [datetime(2025, 3, 1, 12, 0)]})
    zoned = naive.with_columns(
        pl.col("created_at").dt.replace_time_zone("Europe/Paris").dt.cast_time_unit("ns")
    )
    expected = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert to_canonical(naive, None)["created_at"][0] == expected
    assert to_canonical(zoned, None)["created_at"][0] == datetime(
        2025, 3, 1, 11, 0, tzinfo=timezone.utc
    )


def test_a_table_without_note_ids_is_a_clear_error():
    with pytest.raises(SchemaError, match="annotation_id"):
        to_canonical(pl.DataFrame({"text": ["orphan"]}), None)
