"""A tiny city, local Delta tables and a coptwin config for the Kit tests.

Pure pxr + polars (no omni), so pytest's wiring test uses the same data.
The city is Z-up, metres, with a ground quad and one building carrying a
CityEngine OBJECTID, around an ENU origin the sensors sit next to.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

ORIGIN_LAT, ORIGIN_LON = 40.7128, -74.0060
CITY_FILE = "city.usda"


def _box(stage, path: str, x0: float, y0: float, x1: float, y1: float, height: float) -> None:
    from pxr import Gf, UsdGeom, Vt

    mesh = UsdGeom.Mesh.Define(stage, path)
    pts = [(x0, y0, 0), (x1, y0, 0), (x1, y1, 0), (x0, y1, 0)]
    pts += [(x, y, height) for x, y, _ in pts]
    mesh.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(*p) for p in pts]))
    faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray([4] * len(faces)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray([i for f in faces for i in f]))


def write_city(path: Path) -> Path:
    """Ground plane and one building at the origin, saved as USDA."""
    from pxr import Gf, Sdf, Usd, UsdGeom, Vt

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    ground = UsdGeom.Mesh.Define(stage, "/World/Terrain/Ground")
    corners = ((-500, -500), (500, -500), (500, 500), (-500, 500))
    ground.CreatePointsAttr(Vt.Vec3fArray([Gf.Vec3f(x, y, 0) for x, y in corners]))
    ground.CreateFaceVertexCountsAttr(Vt.IntArray([4]))
    ground.CreateFaceVertexIndicesAttr(Vt.IntArray([0, 1, 2, 3]))
    building = UsdGeom.Xform.Define(stage, "/World/Buildings/B1").GetPrim()
    building.CreateAttribute("CityEngine:Rule:User:OBJECTID", Sdf.ValueTypeNames.Int).Set(1)
    _box(stage, "/World/Buildings/B1/Mesh", -10, -10, 10, 10, 30)
    stage.GetRootLayer().Save()
    return path


def write_cop(folder: Path) -> Path:
    """City, three sensors in two layers with one reading each; returns the config path.

    The annotations table is configured but not created: the first note
    written (from the panel) creates it, as in a fresh deployment.
    """
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    write_city(folder / CITY_FILE)
    tables = folder / "tables"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pl.DataFrame(
        {
            "sensor_id": ["t1", "t2", "m1"],
            "name": ["Tower roof", "Harbour", "Gate motion"],
            "kind": ["temperature", "temperature", "motion"],
            "layer": ["environment", "environment", "security"],
            "lon": [ORIGIN_LON + 0.0002, ORIGIN_LON + 0.0010, ORIGIN_LON + 0.0005],
            "lat": [ORIGIN_LAT + 0.0002, ORIGIN_LAT + 0.0002, ORIGIN_LAT - 0.0003],
            "mount": ["ground", "ground", "ground"],
            "unit": ["°C", "°C", ""],
        }
    ).write_delta(str(tables / "sensors"))
    pl.DataFrame(
        {
            "sensor_id": ["t1", "t2", "m1"],
            "ts": [now - timedelta(seconds=s) for s in (5, 10, 3)],
            "value": [21.5, 41.0, 1.0],
            "quantity": ["temperature", "temperature", "motion"],
            "unit": ["°C", "°C", ""],
            "date": [now.date().isoformat()] * 3,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us")).write_delta(
        str(tables / "readings"), delta_write_options={"partition_by": ["date"]}
    )
    config = folder / "cop.toml"
    config.write_text(
        f"""
[storage]
uri = "{tables.as_posix()}"

[tables.readings]
path = "readings"

[tables.sensors]
path = "sensors"

# Reviewers' notes; the table is created by the first note written.
[tables.annotations]
path = "annotations"

[[layers]]
name = "environment"
title = "Environment"
kinds = ["temperature"]

[[layers]]
name = "security"
title = "Security"
kinds = ["motion"]

[scene]
path = "{CITY_FILE}"
enu_origin = {{ lat = {ORIGIN_LAT}, lon = {ORIGIN_LON} }}

[events.polling]
interval_s = 0.2
""",
        encoding="utf-8",
    )
    return config


def append_reading(
    folder: Path, sensor_id: str, value: float, quantity: str = "temperature"
) -> None:
    """Append one reading (now) to the readings table of :func:`write_cop`'s folder."""
    import polars as pl

    now = datetime.now(timezone.utc).replace(microsecond=0)
    pl.DataFrame(
        {
            "sensor_id": [sensor_id],
            "ts": [now],
            "value": [value],
            "quantity": [quantity],
            "unit": ["°C" if quantity == "temperature" else ""],
            "date": [now.date().isoformat()],
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us")).write_delta(
        str(folder / "tables" / "readings"), mode="append"
    )
