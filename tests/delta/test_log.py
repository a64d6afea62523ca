"""_delta_log listing and commit parsing, on real tables and on hand-made commit lines."""

from __future__ import annotations

import json

import pytest
from obstore.store import LocalStore

from coptwin.delta.errors import DeltaLogError
from coptwin.delta.log import list_log, parse_commit, read_commit, read_commits

URI = "/data/readings"


def _line(action: dict) -> bytes:
    return json.dumps(action).encode() + b"\n"


def test_listing_starts_at_version_and_ignores_other_files(table):
    for i in range(4):
        table.write([i])
    table.dt().create_checkpoint()
    log_dir = table.path / "_delta_log"
    (log_dir / "_commit_123.json.tmp").write_text("{}")  # an in-flight temp file
    (log_dir / "00000000000000000003.crc").write_text("{}")
    store = LocalStore(table.uri)
    full = list_log(store, None)
    # no start: begins at the last checkpoint (version 3)
    assert full.commits == (3,) and full.checkpoints == (3,) and full.latest == 3
    assert list_log(store, 1).commits == (1, 2, 3)
    assert list_log(store, 4).empty


def test_listing_without_checkpoint_and_with_stale_hint(table):
    for i in range(3):
        table.write([i])
    store = LocalStore(table.uri)
    assert list_log(store, None).commits == (0, 1, 2)
    (table.path / "_delta_log" / "_last_checkpoint").write_text('{"version": 50, "size": 1}')
    assert list_log(store, None).latest == 2  # a hint beyond the log falls back to a full list
    (table.path / "_delta_log" / "_last_checkpoint").write_text("not json")
    assert list_log(store, None).latest == 2


def test_parse_commit_actions():
    raw = b"".join(
        [
            _line({"commitInfo": {"operation": "WRITE", "operationParameters": {"mode": "App"}}}),
            _line(
                {
                    "add": {
                        "path": "date=2024-01-01/a.parquet",
                        "dataChange": True,
                        "partitionValues": {"date": "2024-01-01", "n": None},
                        "size": 10,
                    }
                }
            ),
            _line({"add": {"path": "b.parquet", "dataChange": False, "partitionValues": {}}}),
            _line(
                {
                    "add": {
                        "path": "c.parquet",
                        "dataChange": True,
                        "partitionValues": {},
                        "deletionVector": {"storageType": "u", "pathOrInlineDv": "x"},
                    }
                }
            ),
            _line({"remove": {"path": "old.parquet", "dataChange": False}}),
            _line({"remove": {"path": "old2.parquet", "dataChange": True}}),
            _line({"txn": {"appId": "x", "version": 1}}),
            b"\n",
        ]
    )
    commit = parse_commit(URI, 7, raw)
    assert commit.version == 7 and commit.operation == "WRITE (App)"
    assert [a.path for a in commit.adds] == ["date=2024-01-01/a.parquet", "b.parquet", "c.parquet"]
    assert [a.data_change for a in commit.adds] == [True, False, True]
    assert [a.has_deletion_vector for a in commit.adds] == [False, False, True]
    assert commit.adds[0].partition_values == {"date": "2024-01-01", "n": None}
    assert (commit.data_removes, commit.rearranging_removes) == (1, 1)
    assert commit.metadata is None and commit.protocol is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "empty"),
        (b'{"add": {"path": "a.parquet"', "line 1: malformed JSON"),
        (b'{"commitInfo": {}}\n[1, 2]\n', "line 2: action is not a JSON object"),
        (b'{"add": {"size": 3}}', "add action without a path"),
        (b'{"add": {"path": "a", "partitionValues": [1]}}', "partitionValues"),
    ],
)
def test_malformed_commits_name_table_and_version(raw, match):
    with pytest.raises(DeltaLogError, match=match) as err:
        parse_commit(URI, 12, raw)
    assert str(err.value).startswith(f"{URI}: commit 12:")


def test_read_commits_keeps_order_and_reports_missing(table):
    for i in range(6):
        table.write([i])
    (table.path / "_delta_log" / f"{2:020d}.json").unlink()
    store = LocalStore(table.uri)
    assert read_commit(store, table.uri, 2) is None
    commits = read_commits(store, table.uri, [1, 2, 3, 4, 5])
    assert [c.version if c else None for c in commits] == [1, None, 3, 4, 5]
    assert all(len(c.adds) == 1 for c in commits if c)
