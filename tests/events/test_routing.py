"""Object keys map to tables by prefix at a '/' boundary; other buckets are foreign."""

from __future__ import annotations

import pytest

from coptwin.config import ConfigError, config_from_dict
from coptwin.events.routing import TableRouter, event_bucket, table_prefixes

from .conftest import make_config


def test_keys_route_by_longest_prefix_at_a_slash_boundary():
    r = TableRouter({"readings": "city/readings", "nested": "city/readings/sub"}, "cop")
    assert r.route("cop", "city/readings/_delta_log/00000000000000000001.json") == ("readings", "")
    assert r.route("cop", "/city/readings/date=2024-01-01/part-0.parquet")[0] == "readings"
    assert r.route("cop", "city/readings/sub/_delta_log/0.json")[0] == "nested"
    assert r.route("cop", "city/readings_archive/_delta_log/0.json") == (None, "ignored")
    assert r.route("other", "city/readings/_delta_log/0.json") == (None, "foreign")


def test_empty_prefix_is_refused():
    with pytest.raises(ConfigError):
        TableRouter({"readings": "/"}, "cop")


def test_prefixes_and_bucket_come_from_the_config():
    cfg = make_config("cop")
    assert table_prefixes(cfg) == {"readings": "city/readings", "sensors": "city/sensors"}
    assert event_bucket(cfg) == "cop"
    tables = {"readings": {"path": "r"}, "sensors": {"path": "s"}}
    local = config_from_dict({"storage": {"uri": "tables"}, "tables": tables})
    assert table_prefixes(local) == {} and event_bucket(local) is None
