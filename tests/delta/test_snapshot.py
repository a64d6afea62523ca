"""Full reads: read_table for small tables, open_table errors."""

from __future__ import annotations

import pytest

from coptwin.delta import DeltaStorageError, TableNotFoundError, read_table
from coptwin.delta.snapshot import open_table, read_snapshot


def test_read_table_columns_and_version(table):
    table.write(range(0, 3))
    table.write(range(3, 5))
    assert table.ids(read_table(table.uri)) == [0, 1, 2, 3, 4]
    assert table.ids(read_table(table.uri, version=0)) == [0, 1, 2]
    assert read_table(table.uri, columns=["date", "rid"]).columns == ["rid", "date"]


def test_snapshot_reports_partitions_and_files(table):
    table.write(range(0, 30))
    snap = read_snapshot(open_table(table.uri), table.uri)
    assert snap.version == 0 and snap.partition_columns == ["date"]
    assert snap.files == len(table.data_files()) and snap.files > 1
    assert snap.data.height == 30


def test_errors(tmp_path, table):
    with pytest.raises(TableNotFoundError):
        read_table(str(tmp_path / "none"))
    table.write([1])
    with pytest.raises(DeltaStorageError, match="version 5"):
        read_table(table.uri, version=5)
    with pytest.raises(ValueError):
        open_table(table.uri, version=0, timestamp=__import__("datetime").datetime.now())
