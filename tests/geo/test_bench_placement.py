"""The placement benchmark runs on a small generated city and reports what the lead needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from pxr import Usd

from coptwin.bench.placement import bench_detailed_scene, bench_placement
from coptwin.config import SceneConfig
from coptwin.geo import Placer, SceneFrame, SceneIndex


def test_bench_placement_small(tmp_path: Path) -> None:
    r = bench_placement(n_sensors=300, n_buildings=40, workdir=tmp_path, detailed_scene=None)
    assert r["n_sensors"] == r["rows_out"] == 300
    assert r["n_buildings"] >= 40
    assert r["exact"] + r["fallback"] == 300
    assert r["exact"] == 300, r["fallback_reasons"]
    assert r["by_mount"] == {"roof": 120, "facade": 60, "ground": 120}
    for key in ("index_build_s", "place_s", "place_points_1000_s", "scene_generate_s"):
        assert r[key] >= 0
    assert r["baseline"]["place_s_estimate"] > 0
    assert isinstance(r["meets_target"], bool)


def test_generated_city_roofs_match_its_buildings_csv(tmp_path: Path) -> None:
    """Cross-check with coptwin.scene.citygen: inside points land on the stated roof."""
    from coptwin.scene.citygen import ensure_city

    info = ensure_city(tmp_path, blocks_x=3, blocks_y=2)
    b = pl.read_csv(info.buildings_csv, schema_overrides={"object_id": pl.Utf8})
    cfg = SceneConfig(crs=info.crs, global_offset=list(info.global_offset))
    stage = Usd.Stage.Open(str(info.root_layer))
    placer = Placer(SceneFrame.from_stage(stage, cfg), SceneIndex.build(stage, cfg), cfg)
    sensors = pl.DataFrame(
        {
            "sensor_id": b["shape_name"],
            "lon": b["inside_lon"],
            "lat": b["inside_lat"],
            "mount": ["roof"] * b.height,
        }
    )
    placed = placer.place(sensors)
    assert placed["prim_path"].to_list() == b["prim_path"].to_list()
    want = info.to_usd(
        b["inside_e"].to_numpy(), b["inside_n"].to_numpy(), b["roof_elevation_m"].to_numpy()
    )
    got = placed.select("x", "y", "z").to_numpy()
    assert np.abs(got - want).max() < 0.02  # CSV rounding (cm heights, mm positions)


def test_bench_detailed_scene_reports_accuracy_and_rate(ottawa_c) -> None:
    r = bench_detailed_scene(ottawa_c.dir)
    assert r["triangles"] == 1_432_189 and r["meshes"] == 17_348 and r["distinct_meshes"] < 400
    assert (r["within_0.25m"], r["sensors"]) == (120, 120)
    assert (r["bound_right"], r["bound"]) == (80, 80)
    assert (r["hard_cases_within_tolerance"], r["hard_cases"]) == (18, 18)
    assert r["exact"] == 120
    assert (
        r["index_build_s"] > 0
        and r["plain_read"]["s"] > 0
        and r["baseline"]["place_s_estimate"] > 0
        and r["triangles_per_s"] > 0
    )
    assert isinstance(r["meets_aim"], bool)


def test_bench_detailed_scene_says_when_the_scene_is_missing(tmp_path: Path) -> None:
    assert "skipped" in bench_detailed_scene(tmp_path / "nowhere")
