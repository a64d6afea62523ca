"""OGC API - Features under /ogc, read with OWSLib's client (what QGIS-like tools do)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from owslib.ogcapi.features import Features


@pytest.fixture(scope="module")
def api(server) -> Features:
    return Features(server.url + "ogc")


def test_landing_conformance_and_collections(api):
    assert any(link["rel"] == "service-desc" for link in api.links)
    conf = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == {"sensors", "buildings", "notes", "alarms"}
    sensors = api.collection("sensors")
    west, south, east, north = sensors["extent"]["spatial"]["bbox"][0]
    assert -75.71 < west < east < -75.68 and 45.41 < south < north < 45.43
    assert api.api()["openapi"].startswith("3.0")


def test_sensor_items_carry_status_value_and_time(api, demo):
    items = api.collection_items("sensors", limit=1000)
    assert items["numberMatched"] == demo.sensors.height == items["numberReturned"]
    f = next(f for f in items["features"] if f["properties"]["kind"] == "temperature")
    lon, lat, h = f["geometry"]["coordinates"]
    assert -75.71 < lon < -75.68 and 45.41 < lat < 45.43 and 55 < h < 200
    props = f["properties"]
    assert props["status"] in ("alarm", "warn", "offline", "suspect", "stale", "ok", "unknown")
    assert props["unit"] == "degC" and isinstance(props["value"], float)
    assert datetime.fromisoformat(props["ts"].replace("Z", "+00:00")).tzinfo is not None


def test_alarm_items_are_the_open_alarms_at_their_sensors(api, server):
    page = json.loads(server.get("/api/alarms"))
    items = api.collection_items("alarms", limit=1000)
    assert items["numberMatched"] == len(page["alarms"]) > 0
    f = items["features"][0]
    props = f["properties"]
    assert f["id"] == props["alarm_id"] and props["alarm_id"].startswith(props["sensor_id"] + "@")
    assert props["state"] in ("unacknowledged-active", "acknowledged-active", "shelved")
    assert props["reason"] and f["geometry"]["type"] == "Point"
    sensor = api.collection_items("sensors", limit=10000)["features"]
    where = next(s["geometry"] for s in sensor if s["id"] == props["sensor_id"])
    assert f["geometry"] == where


def test_limit_offset_and_next_link(api):
    first = api.collection_items("sensors", limit=50)
    assert first["numberReturned"] == 50 and first["numberMatched"] > 50
    nxt = next(link for link in first["links"] if link["rel"] == "next")
    with urllib.request.urlopen(nxt["href"]) as resp:
        second = json.loads(resp.read())
    assert second["numberReturned"] == 50
    ids1 = {f["id"] for f in first["features"]}
    assert not ids1 & {f["id"] for f in second["features"]}


def test_bbox_keeps_only_what_is_inside(api):
    everything = api.collection_items("sensors", limit=10000)["features"]
    lons = sorted(f["geometry"]["coordinates"][0] for f in everything if f["geometry"])
    mid = lons[len(lons) // 2]
    west = api.collection_items("sensors", limit=10000, bbox=[-180, -90, mid, 90])
    assert 0 < west["numberMatched"] < len(everything)
    assert all(f["geometry"]["coordinates"][0] <= mid for f in west["features"])
    bld = api.collection_items("buildings", limit=10000, bbox=[-180, -90, mid, 90])
    assert (
        0 < bld["numberMatched"] < api.collection_items("buildings", limit=10000)["numberMatched"]
    )


def test_buildings_have_footprints_heights_and_status(api):
    items = api.collection_items("buildings", limit=10000)
    assert items["numberMatched"] == 120
    f = items["features"][0]
    assert f["geometry"]["type"] == "MultiPolygon"
    p = f["properties"]
    assert p["top_h"] > p["base_h"] >= 59 and p["height_m"] > 3
    bound = [x for x in items["features"] if x["properties"]["sensors"]]
    assert bound and all(x["properties"]["status"] for x in bound)


def test_datetime_is_as_of(api, demo):
    """An instant gives the COP as of then: before the history, nothing has reported."""
    long_ago = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    before = api.collection_items("sensors", limit=10000, datetime_=long_ago)["features"]
    assert {f["properties"]["status"] for f in before} == {"unknown"}
    assert {f["properties"]["ts"] for f in before} == {None}
    # As of the first commit: every reading shown is from then or older.
    from deltalake import DeltaTable

    v0 = min(DeltaTable(demo.config.table_uri("readings")).history(), key=lambda h: h["version"])
    when = datetime.fromtimestamp(v0["timestamp"] / 1000 + 0.0005, timezone.utc)
    past = api.collection_items("sensors", limit=10000, datetime_=when.isoformat())
    stamps = [f["properties"]["ts"] for f in past["features"] if f["properties"]["ts"]]
    assert stamps and max(stamps) <= when.isoformat().replace("+00:00", "Z")
    # An interval keeps the features whose reading time falls inside it.
    recent = (datetime.now(timezone.utc) - timedelta(minutes=15)).isoformat()
    inside = api.collection_items("sensors", limit=10000, datetime_=f"{recent}/..")
    assert all(f["properties"]["ts"] >= recent.replace("+00:00", "Z") for f in inside["features"])
    assert inside["numberMatched"] < past["numberMatched"] + 1


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=abc", "bbox=1,2,3", "datetime=yesterday", "colour=red", "f=html"],
)
def test_bad_parameters_are_400_with_an_exception_document(server, query):
    with pytest.raises(urllib.error.HTTPError) as err:
        server.get(f"/ogc/collections/sensors/items?{query}")
    assert err.value.code == 400
    doc = json.loads(err.value.read())
    assert doc["code"] == "InvalidParameterValue" and doc["description"]


def test_one_feature_and_unknown_ones(server, api):
    sid = api.collection_items("sensors", limit=1)["features"][0]["id"]
    one = json.loads(server.get(f"/ogc/collections/sensors/items/{sid}"))
    assert one["id"] == sid and one["type"] == "Feature"
    with pytest.raises(urllib.error.HTTPError) as err:
        server.get("/ogc/collections/sensors/items/NOPE")
    assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        server.get("/ogc/collections/roads/items")
    assert err.value.code == 404


def test_live_items_follow_new_commits(api, demo):
    sid = demo.sensors.filter(demo.sensors["kind"] == "water_level")["sensor_id"][0]
    demo.append([{"sensor_id": sid, "value": 3.9, "quantity": "water_level", "unit": "m"}])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        feats = api.collection_items("sensors", limit=10000)["features"]
        props = next(f["properties"] for f in feats if f["id"] == sid)
        if props["value"] == 3.9:
            break
        time.sleep(0.2)
    assert props["value"] == 3.9 and props["status"] == "alarm"


def test_values_stay_the_numbers_the_table_holds(api, demo):
    """GIS tools get numbers, not the panel's rounded words: a reading's full precision."""
    sid = demo.sensors.filter(demo.sensors["kind"] == "temperature")["sensor_id"][0]
    raw = 21.349999999
    demo.append([{"sensor_id": sid, "value": raw, "quantity": "temperature", "unit": "degC"}])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        feats = api.collection_items("sensors", limit=10000)["features"]
        props = next(f["properties"] for f in feats if f["id"] == sid)
        if props["value"] == raw:
            break
        time.sleep(0.2)
    assert props["value"] == raw and isinstance(props["value"], float)


def test_as_of_a_version_is_judged_at_its_newest_sane_reading(server, demo):
    """A gateway's far-future row (skipped as bad) must not make the past look offline."""
    from datetime import datetime, timedelta, timezone

    from deltalake import DeltaTable

    temps = demo.sensors.filter(demo.sensors["kind"] == "temperature")["sensor_id"].to_list()
    later = datetime.now(timezone.utc) + timedelta(days=2)
    demo.append(
        [
            {"sensor_id": temps[-1], "value": 20.0, "quantity": "temperature", "unit": "degC"},
            {"sensor_id": temps[-2], "value": 20.0, "quantity": "temperature", "ts": later},
        ]
    )
    version = DeltaTable(demo.config.table_uri("readings")).version()
    doc = json.loads(server.get(f"/api/asof?at={version}"))
    i = doc["sensors"]["id"].index(temps[-1])
    ok = [s["name"] for s in doc["legend"]].index("ok")
    assert doc["sensors"]["status"][i] == ok, "a fresh 20 degC reading is OK as of its version"
    assert "NOT LIVE" in doc["banner"] and f"version {version}" in doc["banner"]
