"""GeoJSON / CSV export: valid documents, WGS84 points that round-trip to the scene within 1 cm."""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pytest

from coptwin.annotations.export import Locator, csv_text, geojson_text
from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.schema import events_frame
from coptwin.geo.frame import Georeference, SceneFrame
from coptwin.scene.pins import TargetResolver

from .conftest import ev

POINTS = [(0.0, 0.0, 0.0), (1234.567, 45.25, -876.5), (-2500.125, 3.0, 3100.75)]


def _frame(up_axis: str = "Y", mpu: float = 1.0, kind: str = "projected") -> SceneFrame:
    if kind == "projected":  # Manhattan, UTM 18N, CityEngine-style offset
        georef = Georeference("projected", "test", crs="EPSG:32618", offset=(-583960, 0, 4507523))
    else:
        georef = Georeference("enu", "test", origin=(40.7128, -74.0060, 10.0))
    return SceneFrame(up_axis, mpu, georef)


def _book() -> AnnotationBook:
    events = [
        ev("created", f"p{i}", f"e{i}", i, target=f"point:{x!r},{y!r},{z!r}")
        for i, (x, y, z) in enumerate(POINTS)
    ]
    events += [
        ev("created", "b1", "eb", 10, target="/World/B1", text='=HYPERLINK("x")'),
        ev("created", "s1", "es", 11, target="sensor:s1", text='multi\nline, "quoted"'),
        ev("replied", "r1", "er", 12, target="sensor:s1", parent_id="s1", author="bob"),
        ev("resolved", "p0", "ez", 13, status="resolved"),
        ev("created", "gone", "eg", 14, target="/World/NotThere"),
    ]
    book = AnnotationBook()
    book.apply(events_frame(events))
    return book


@pytest.mark.parametrize(("up_axis", "mpu", "kind"), [("Y", 1.0, "projected"), ("Z", 0.01, "enu")])
def test_geojson_parses_and_points_round_trip_within_1cm(stage, up_axis, mpu, kind):
    frame = _frame(up_axis, mpu, kind)
    locate = Locator(frame, TargetResolver(stage), {"s1": (-74.0, 40.71, 12.0)})
    doc = json.loads(geojson_text(_book(), locate))
    assert doc["type"] == "FeatureCollection"
    feats = {f["id"]: f for f in doc["features"]}
    assert set(feats) == {"p0", "p1", "p2", "b1", "s1", "r1", "gone"}
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        if f["geometry"] is not None:
            lon, lat, h = f["geometry"]["coordinates"]
            assert f["geometry"]["type"] == "Point"
            assert -180 <= lon <= 180 and -90 <= lat <= 90
    assert feats["gone"]["geometry"] is None  # kept, not silently dropped
    for i, xyz in enumerate(POINTS):
        f = feats[f"p{i}"]
        lon, lat, h = f["geometry"]["coordinates"]
        back = frame.lonlat_to_stage(lon, lat, h)[0] * mpu  # metres
        assert np.abs(back - np.array(xyz) * mpu).max() < 0.01
        props = f["properties"]
        assert (props["scene_x"], props["scene_y"], props["scene_z"]) == xyz
        assert props["target_kind"] == "point" and props["scene_crs"]
    assert feats["p0"]["properties"]["status"] == "resolved"
    # The prim sits at its bbox top-centre; its scene coordinates are exported too.
    b1 = feats["b1"]["properties"]
    assert (b1["scene_x"], b1["scene_y"], b1["scene_z"]) == pytest.approx((10, 30, 20))
    assert b1["text"] == '=HYPERLINK("x")'  # GeoJSON keeps the text verbatim
    # The reply belongs to its thread and shares the sensor's location.
    assert feats["r1"]["properties"]["thread_id"] == "s1"
    assert feats["r1"]["geometry"] == feats["s1"]["geometry"]


def test_sensor_location_comes_from_sensors_table_without_a_scene():
    locate = Locator(sensor_lonlat={"s1": (-74.0, 40.71, None)})
    doc = json.loads(geojson_text(_book(), locate, status="open"))
    feats = {f["id"]: f for f in doc["features"]}
    assert feats["s1"]["geometry"]["coordinates"] == [-74.0, 40.71, 0.0]
    assert "p0" not in feats  # resolved threads filtered out
    assert feats["p1"]["geometry"] is None  # a point needs a scene frame


def test_csv_has_one_row_per_note_and_defuses_formulas(stage):
    locate = Locator(_frame(), TargetResolver(stage), {"s1": (-74.0, 40.71, 12.0)})
    text = csv_text(_book(), locate)
    frame = pl.read_csv(io.StringIO(text))
    assert frame.height == 7
    by_id = {r["annotation_id"]: r for r in frame.iter_rows(named=True)}
    assert by_id["s1"]["text"] == 'multi\nline, "quoted"'
    assert by_id["b1"]["text"] == '\'=HYPERLINK("x")'
    assert by_id["r1"]["parent_id"] == "s1"
    raw = pl.read_csv(io.StringIO(csv_text(_book(), locate, spreadsheet_safe=False)))
    assert raw.filter(pl.col("annotation_id") == "b1")["text"][0] == '=HYPERLINK("x")'
    p1 = by_id["p1"]
    back = _frame().lonlat_to_stage(p1["lon"], p1["lat"], p1["h"])[0]
    assert np.abs(back - np.array(POINTS[1])).max() < 0.01


FORMULAS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    ' =HYPERLINK("x")',  # a leading space does not stop a spreadsheet
    "\u00a0=1",  # no-break space
    "\u3000=1",  # ideographic space
    "\n=1",
    "\uff1d1+1",  # full-width ＝
    "\uff0b1",  # ＋
    "\uff0d1",  # －
    "\uff20SUM(A1)",  # ＠
    "  \uff1d1",
    "\ufe661",  # small ﹦
]


@pytest.mark.parametrize("text", FORMULAS)
def test_csv_formula_guard_catches_leading_whitespace_and_full_width(text):
    """Issue 12, item 9: no cell of a text column may start a formula in a spreadsheet."""
    book = AnnotationBook()
    book.apply(events_frame([ev("created", "f1", "ef", 1, target="/World/B1", text=text)]))
    out = pl.read_csv(io.StringIO(csv_text(book, Locator())))
    assert out["text"][0] == "'" + text


@pytest.mark.parametrize("text", ["plain", "a = b", "e-mail", "1-2", "x@y"])
def test_csv_formula_guard_leaves_ordinary_text_alone(text):
    book = AnnotationBook()
    book.apply(events_frame([ev("created", "f1", "ef", 1, target="/World/B1", text=text)]))
    out = pl.read_csv(io.StringIO(csv_text(book, Locator())))
    assert out["text"][0] == text
