"""Placement benchmark: 10,000 sensors on a 5,000-building city (issue 3: under 10 s),
and the detailed CityEngine export ``ce_ottawa_c`` (issue 10: index >= 1M triangles/s).

Measures, on one generated city with the structure of a CityEngine export:

* ``index_build_s`` -- open the stage, frame + :class:`SceneIndex` (uncached);
* ``place_s``       -- :meth:`Placer.place` for all sensors (roof, facade, ground mix);
* ``place_points_s``-- one tick of moving sensors (:meth:`Placer.place_points`);
* a baseline from the same run: brute-force vertical ray casts (every triangle per
  sensor, numpy, no spatial index) on a sample, extrapolated to all sensors.

and on ``ce_ottawa_c`` (Esri's encoder, 1.43M triangles, 17k instanced leaves, 120
sensors with truth): index build time and triangles/s, placement time, how many sensors
land within 0.25 m of the truth and are bound to the right building, and a same-run
baseline for placement (the brute-force ray casts above) and, for the index, the time
of only reading every mesh the straightforward way (through instance proxies, world
transforms, float64 points), which is the floor of an index built that way.

Scene generation time is reported too but is not part of the target: a real scene is
exported once and indexed many times.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TARGET_S = 10.0
_BASELINE_SAMPLE = 100
#: Aim for the index build on the detailed scene (issue 10).
AIM_TRIANGLES_PER_S = 1_000_000
TOLERANCE_M = 0.25
#: The detailed export in the shared test data (<repo>/../shared), when it is there.
DETAILED_SCENE = Path(__file__).resolve().parents[4].parent / "shared" / "scenes" / "ce_ottawa_c"


def _sensors(buildings_csv: Path, crs: str, n: int, seed: int) -> Any:
    """A realistic mix: 40 % roof (inside point), 20 % facade (on a wall), 40 % street level."""
    import polars as pl
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    b = pl.read_csv(buildings_csv, schema_overrides={"object_id": pl.Utf8})
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    n_roof, n_facade = int(n * 0.4), int(n * 0.2)
    n_ground = n - n_roof - n_facade
    pick = rng.integers(0, b.height, n_roof + n_facade)
    oid = b["object_id"].to_numpy()[pick]
    e = b["inside_e"].to_numpy()[pick].astype(float)
    nn = b["inside_n"].to_numpy()[pick].astype(float)
    # facade sensors: a random point on the footprint's first edge
    rings = b["footprint_en"].to_list()
    for k in range(n_roof, n_roof + n_facade):
        pts = [tuple(map(float, p.split())) for p in rings[pick[k]].split(";")]
        (e0, n0), (e1, n1) = pts[0], pts[1]
        t = rng.uniform(0.1, 0.9)
        e[k], nn[k] = e0 + t * (e1 - e0), n0 + t * (n1 - n0)
    lo_e, hi_e = float(b["center_e"].min()), float(b["center_e"].max())
    lo_n, hi_n = float(b["center_n"].min()), float(b["center_n"].max())
    ge, gn = rng.uniform(lo_e, hi_e, n_ground), rng.uniform(lo_n, hi_n, n_ground)
    lon, lat = to_wgs.transform(np.concatenate([e, ge]), np.concatenate([nn, gn]))
    mount = ["roof"] * n_roof + ["facade"] * n_facade + ["ground"] * n_ground
    return pl.DataFrame(
        {
            "sensor_id": [f"B-{k:06d}" for k in range(n)],
            "lon": lon,
            "lat": lat,
            "mount": mount,
            "object_id": [*oid.tolist(), *([None] * n_ground)],
            "mount_height_m": [None] * n_roof
            + rng.uniform(2.5, 8.0, n_facade).tolist()
            + [None] * n_ground,
        },
        schema_overrides={"object_id": pl.Utf8, "mount_height_m": pl.Float64},
    )


def _brute_force_s(index: Any, uv: np.ndarray) -> float:
    """Seconds per sensor for a vertical ray cast against every triangle (no index)."""
    t = index.tris
    a, e1, e2 = t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        t0 = time.perf_counter()
        for u, v in uv:
            dx, dy = u - a[:, 0], v - a[:, 1]
            l1 = (dx * e2[:, 1] - dy * e2[:, 0]) * inv
            l2 = (e1[:, 0] * dy - e1[:, 1] * dx) * inv
            hit = (l1 >= 0) & (l2 >= 0) & (l1 + l2 <= 1)
            w = a[hit, 2] + l1[hit] * e1[hit, 2] + l2[hit] * e2[hit, 2]
            _ = w.max() if w.size else np.nan
    return (time.perf_counter() - t0) / max(len(uv), 1)


def bench_placement(
    n_sensors: int = 10_000,
    n_buildings: int = 5_000,
    workdir: Path | None = None,
    seed: int = 11,
    detailed_scene: Path | None = DETAILED_SCENE,
) -> dict[str, Any]:
    """Time index build and placement; returns JSON-ready figures (seconds, counts).

    ``detailed_scene`` is a ce_ottawa_c-style folder (``global_offset.json``,
    ``sensors.csv``, ``truth.json``); None leaves that part out.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="coptwin-bench-placement-") as tmp:
            result = _run(n_sensors, n_buildings, Path(tmp), seed)
    else:
        result = _run(n_sensors, n_buildings, Path(workdir), seed)
    if detailed_scene is not None:
        result["ce_ottawa_c"] = bench_detailed_scene(Path(detailed_scene))
    return result


def bench_detailed_scene(folder: Path) -> dict[str, Any]:
    """Index and place a CityEngine export with truth; figures for issue 10."""
    import json

    import polars as pl
    from pxr import Usd

    from coptwin.config import SceneConfig
    from coptwin.geo import Placer, SceneFrame, SceneIndex

    meta_path = folder / "global_offset.json"
    if not meta_path.is_file():
        return {"skipped": f"no detailed scene at {folder}"}
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    sensors = pl.read_csv(folder / "sensors.csv", schema_overrides={"object_id": pl.Utf8})
    cfg = SceneConfig(crs=meta["crs"], global_offset=list(meta["global_offset"]))

    t0 = time.perf_counter()
    stage = Usd.Stage.Open(str(folder / meta["usd_root"]))
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = SceneIndex.build(stage, cfg, use_cache=False)
    index_s = time.perf_counter() - t0
    read_s = _plain_read_s(stage)

    frame = SceneFrame.from_stage(stage, cfg)
    placer = Placer(frame, index, cfg)
    t0 = time.perf_counter()
    placed = placer.place(sensors)
    place_s = time.perf_counter() - t0
    sample = frame.lonlat_to_local(sensors["lon"].to_numpy(), sensors["lat"].to_numpy())[:, :2]
    brute_per_sensor = _brute_force_s(index, sample[:_BASELINE_SAMPLE])

    got = dict(zip(placed["sensor_id"], placed.select("x", "y", "z").to_numpy(), strict=True))
    want = sensors.select("expected_x", "expected_y", "expected_z").to_numpy()
    err = np.array(
        [np.linalg.norm(got[s] - w) for s, w in zip(sensors["sensor_id"], want, strict=True)]
    )
    prim_of = {str(int(b["OBJECTID"])): b["usd_prim_path"] for b in truth["buildings"]}
    bound_to = dict(zip(placed["sensor_id"], placed["prim_path"], strict=True))
    keyed = [(s, o) for s, o in zip(sensors["sensor_id"], sensors["object_id"], strict=True) if o]
    right = sum(1 for s, o in keyed if bound_to[s] == prim_of.get(str(int(float(o)))))
    ok = dict(zip(sensors["sensor_id"], (err <= TOLERANCE_M).tolist(), strict=True))
    hard = [h["sensor_id"] for h in truth["sensors"]["hard_cases"]]
    st = index.stats
    rate = st.triangles / index_s if index_s > 0 else None
    result = {
        "triangles": st.triangles,
        "meshes": st.meshes,
        "distinct_meshes": st.distinct_meshes,
        "buildings": len(index.buildings),
        "stage_open_s": round(open_s, 3),
        "index_build_s": round(index_s, 3),
        "index_phases_s": st.phases,
        "triangles_per_s": round(rate) if rate else None,
        "aim_triangles_per_s": AIM_TRIANGLES_PER_S,
        "meets_aim": bool(rate and rate >= AIM_TRIANGLES_PER_S),
        "place_s": round(place_s, 3),
        "sensors": sensors.height,
        f"within_{TOLERANCE_M}m": int((err <= TOLERANCE_M).sum()),
        "max_error_m": round(float(err.max()), 6),
        "bound": len(keyed),
        "bound_right": right,
        "hard_cases": len(hard),
        "hard_cases_within_tolerance": sum(1 for h in hard if ok.get(h)),
        "exact": placer.last_summary.exact,
        "baseline": {
            "what": "vertical ray cast against every triangle per sensor (numpy, no spatial "
            f"index), measured on {sample.shape[0]} sensors and extrapolated",
            "place_s_estimate": round(brute_per_sensor * sensors.height, 3),
        },
        "speedup_vs_baseline": round(brute_per_sensor * sensors.height / place_s, 1)
        if place_s > 0
        else None,
        "plain_read": {
            "what": "only reading every mesh through instance proxies with world transforms "
            "(float64 points; no triangulation, no index), the floor of a proxy-based index",
            "s": round(read_s, 3),
        },
        "index_over_plain_read": round(index_s / read_s, 2) if read_s > 0 else None,
    }
    log.info("placement bench, detailed scene: %s", result)
    return result


def _plain_read_s(stage: Any) -> float:
    """Seconds to only read all meshes the straightforward way (through proxies)."""
    from pxr import Usd, UsdGeom

    t0 = time.perf_counter()
    xf = UsdGeom.XformCache(Usd.TimeCode.Default())
    n = 0
    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.TraverseInstanceProxies()):
        if not prim.IsA(UsdGeom.Mesh):
            continue
        mesh = UsdGeom.Mesh(prim)
        pts = np.asarray(mesh.GetPointsAttr().Get(), dtype=np.float64)
        np.asarray(mesh.GetFaceVertexCountsAttr().Get())
        np.asarray(mesh.GetFaceVertexIndicesAttr().Get())
        m = np.array(xf.GetLocalToWorldTransform(prim))
        n += (pts @ m[:3, :3] + m[3, :3]).shape[0]
    return time.perf_counter() - t0


def _run(n_sensors: int, n_buildings: int, work: Path, seed: int) -> dict[str, Any]:
    from pxr import Usd

    from coptwin.config import SceneConfig
    from coptwin.geo import Placer, SceneFrame, SceneIndex
    from coptwin.scene.citygen import ensure_city
    from coptwin.scene.citylayout import blocks_for

    bx, by = blocks_for(n_buildings)
    t0 = time.perf_counter()
    info = ensure_city(work, blocks_x=bx, blocks_y=by)
    gen_s = time.perf_counter() - t0
    cfg = SceneConfig(crs=info.crs, global_offset=list(info.global_offset))
    sensors = _sensors(info.buildings_csv, info.crs, n_sensors, seed)

    t0 = time.perf_counter()
    stage = Usd.Stage.Open(str(info.root_layer))
    frame = SceneFrame.from_stage(stage, cfg)
    index = SceneIndex.build(stage, cfg, use_cache=False)
    index_s = time.perf_counter() - t0

    placer = Placer(frame, index, cfg)
    t0 = time.perf_counter()
    placed = placer.place(sensors)
    place_s = time.perf_counter() - t0

    moving = sensors.filter(sensors["mount"] == "ground").head(1000)
    t0 = time.perf_counter()
    placer.place_points(moving["lon"].to_numpy(), moving["lat"].to_numpy())
    points_s = time.perf_counter() - t0

    sample = frame.lonlat_to_local(
        sensors["lon"].to_numpy()[:_BASELINE_SAMPLE], sensors["lat"].to_numpy()[:_BASELINE_SAMPLE]
    )[:, :2]
    brute_per_sensor = _brute_force_s(index, sample)
    s = placer.last_summary
    total = index_s + place_s
    result = {
        "n_sensors": n_sensors,
        "n_buildings": info.n_buildings,
        "triangles": index.stats.triangles,
        "scene_generate_s": round(gen_s, 3),
        "index_build_s": round(index_s, 3),
        "place_s": round(place_s, 3),
        "index_plus_place_s": round(total, 3),
        "sensors_per_s": round(n_sensors / place_s, 1) if place_s > 0 else None,
        "place_points_1000_s": round(points_s, 4),
        "exact": s.exact,
        "fallback": s.fallback,
        "fallback_reasons": s.reasons,
        "by_mount": s.by_mount,
        "baseline": {
            "what": "vertical ray cast against every triangle per sensor (numpy, no spatial "
            f"index), measured on {len(sample)} sensors and extrapolated",
            "place_s_estimate": round(brute_per_sensor * n_sensors, 3),
        },
        "speedup_vs_baseline": round(brute_per_sensor * n_sensors / place_s, 1)
        if place_s > 0
        else None,
        "target_s": TARGET_S,
        "meets_target": total < TARGET_S,
        "rows_out": placed.height,
    }
    log.info("placement bench: %s", result)
    return result
