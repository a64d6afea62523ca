"""coptwin.scene.naming: sensor ids -> prim names, stable ids, attribute names, ISO text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pxr import Sdf

from coptwin.scene.naming import attr_name, iso_utc, prim_name, stable_id


def test_valid_ids_kept_and_others_hashed() -> None:
    assert prim_name("temp_01") == "temp_01"
    a, b = prim_name("a-1"), prim_name("a.1")
    assert a != b and a.startswith("a_1_") and b.startswith("a_1_")
    for raw in ("a-1", "Zone A/3", "1st", "", "温度", "x" * 200):
        name = prim_name(raw)
        assert Sdf.Path.IsValidIdentifier(name), name
        assert len(name) <= 80
        assert prim_name(raw) == name  # same in every run


def test_collisions_avoided() -> None:
    first = prim_name("a-1")
    taken = {first, "b"}
    assert prim_name(first, taken) != first  # a literal id equal to another's hashed name
    assert prim_name("b", taken).startswith("b_")


def test_stable_id() -> None:
    assert stable_id("s-1") == stable_id("s-1")
    assert stable_id("s-1") != stable_id("s-2")
    assert 0 <= stable_id("anything") < 2**63


def test_attr_name() -> None:
    assert attr_name("temperature") == "coptwin:temperature"
    assert attr_name("coptwin:status") == "coptwin:status"
    assert attr_name("air quality:pm2.5") == "coptwin:air_quality:pm2_5"
    with pytest.raises(ValueError):
        attr_name("coptwin:")


def test_iso_utc() -> None:
    assert iso_utc(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)) == "2024-05-01T12:00:00Z"
    est = timezone(timedelta(hours=-5))
    assert (
        iso_utc(datetime(2024, 5, 1, 7, 0, 0, 250000, tzinfo=est)) == "2024-05-01T12:00:00.250000Z"
    )
    assert iso_utc(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00Z"  # naive = UTC
    assert iso_utc("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00Z"
    assert iso_utc(None) == ""
