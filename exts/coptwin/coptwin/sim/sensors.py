"""A sensors table for a generated city: what a real deployment would register.

Roof loggers (temperature, PM2.5) on buildings, facade cameras and power meters,
motion detectors and water-level gauges along streets, and GPS trackers that
drive the street grid.  Positions are WGS84 lon/lat (as gateways report them);
placement into the scene is coptwin.geo's job, exactly as for real sensors.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pyproj import Transformer

from coptwin.scene.citylayout import CityLayout
from coptwin.sim.readings import KIND_QUANTITY, Route

#: Layer of each demo kind (mirrors config/demo.toml).
DEMO_LAYERS: dict[str, str] = {
    "temperature": "environment",
    "air_quality": "environment",
    "camera": "security",
    "motion": "security",
    "gps_tracker": "mobility",
    "power_meter": "utilities",
    "water_level": "utilities",
}

SENSOR_SCHEMA: dict[str, pl.DataType] = {
    "sensor_id": pl.String(),
    "name": pl.String(),
    "kind": pl.String(),
    "layer": pl.String(),
    "lon": pl.Float64(),
    "lat": pl.Float64(),
    "alt": pl.Float64(),
    "mount": pl.String(),
    "object_id": pl.Int64(),
    "prim_path": pl.String(),
    "unit": pl.String(),
    "mount_height_m": pl.Float64(),
}


def _wall_point(ring: np.ndarray, edge: int, inset: float = 0.0) -> tuple[float, float]:
    """Midpoint of one footprint edge, pushed ``inset`` metres outwards."""
    a, b = ring[edge % len(ring)], ring[(edge + 1) % len(ring)]
    mid = (a + b) / 2.0
    d = b - a
    normal = np.array([d[1], -d[0]]) / max(float(np.hypot(*d)), 1e-9)  # CCW ring: right = out
    return float(mid[0] + normal[0] * inset), float(mid[1] + normal[1] * inset)


def demo_sensors(layout: CityLayout, *, trackers: int = 12, seed: int = 11) -> pl.DataFrame:
    """One sensors table for ``layout`` (several hundred sensors in four layers)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []

    def add(kind: str, e: float, n: float, mount: str, oid: int | None, h: float | None) -> None:
        i = sum(1 for r in rows if r["kind"] == kind) + 1
        rows.append(
            {
                "sensor_id": f"{kind[:3].upper()}-{i:04d}",
                "name": f"{kind.replace('_', ' ')} {i}",
                "kind": kind,
                "layer": DEMO_LAYERS[kind],
                "e": e,
                "n": n,
                "mount": mount,
                "object_id": oid,
                "unit": KIND_QUANTITY[kind][1],
                "mount_height_m": h,
            }
        )

    for k, b in enumerate(layout.buildings):
        e, n = b.inside_en
        add("temperature", e, n, "roof", b.oid, None)
        if k % 3 == 0:
            add("air_quality", e + 0.5, n + 0.5, "roof", b.oid, None)
        if k % 2 == 0:
            we, wn = _wall_point(b.ring_en, 0)
            add("camera", we, wn, "facade", b.oid, 6.0)
        if k % 2 == 1:
            we, wn = _wall_point(b.ring_en, 1)
            add("power_meter", we, wn, "facade", b.oid, 1.2)
    for s, (e0, n0, e1, n1) in enumerate(layout.streets):
        for f in (0.2, 0.45, 0.7):
            # Offset from the centre line so gauges sit at the kerb.
            e, n = e0 + f * (e1 - e0), n0 + f * (n1 - n0)
            kind = "water_level" if (s + int(f * 10)) % 4 == 0 else "motion"
            off = 4.0 if e0 == e1 else 0.0
            add(kind, e + off, n + (0.0 if off else 4.0), "ground", None, None)
    for _ in range(trackers):
        e0, n0, e1, n1 = layout.streets[int(rng.integers(0, len(layout.streets)))]
        f = float(rng.uniform(0.1, 0.9))
        add("gps_tracker", e0 + f * (e1 - e0), n0 + f * (n1 - n0), "ground", None, None)

    to_wgs84 = Transformer.from_crs(layout.params.crs, "EPSG:4326", always_xy=True)
    e = np.array([r.pop("e") for r in rows])
    n = np.array([r.pop("n") for r in rows])
    lon, lat = to_wgs84.transform(e, n)
    frame = pl.DataFrame(rows).with_columns(
        pl.Series("lon", lon),
        pl.Series("lat", lat),
        pl.lit(None, pl.Float64()).alias("alt"),
        pl.lit(None, pl.String()).alias("prim_path"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in SENSOR_SCHEMA.items()])


def street_routes(layout: CityLayout, *, loops: int = 3) -> list[Route]:
    """Closed loops around groups of blocks along street centre lines (lon/lat)."""
    to_wgs84 = Transformer.from_crs(layout.params.crs, "EPSG:4326", always_xy=True)
    verticals = sorted({s[0] for s in layout.streets if s[0] == s[2]})
    horizontals = sorted({s[1] for s in layout.streets if s[1] == s[3]})
    routes = []
    for k in range(loops):
        i0 = k % max(len(verticals) - 1, 1)
        j0 = k % max(len(horizontals) - 1, 1)
        i1 = min(i0 + 2 + k, len(verticals) - 1)
        j1 = min(j0 + 2, len(horizontals) - 1)
        e = np.array([verticals[i0], verticals[i1], verticals[i1], verticals[i0]])
        n = np.array([horizontals[j0], horizontals[j0], horizontals[j1], horizontals[j1]])
        lon, lat = to_wgs84.transform(e, n)
        routes.append(Route(np.asarray(lon), np.asarray(lat)))
    return routes
