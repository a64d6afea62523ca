"""Tick benchmark: apply one new Delta version touching N sensors on a large table.

Variants, each in its own process (so peak memory is its own):

* ``engine``   — coptwin: read only the files the new version added, merge into
  the latest-state frame, evaluate rules for the changed sensors, write the
  overlay with the Sdf API in one ``Sdf.ChangeBlock``;
* ``baseline`` — what a first prototype does: scan the whole table with pandas,
  take the latest row per sensor, and write every sensor's prim attributes with
  the ``Usd`` API;
* ``polars``   — the simplest sound alternative a user could write: polars reads
  the whole table, takes the latest row per sensor and writes each sensor prim's
  attributes with the Sdf API in one ``Sdf.ChangeBlock``.

``python -m coptwin.bench.tick --variant engine --workdir W`` runs one variant and
prints one JSON line; :func:`bench_tick` builds the fixture once and runs all.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from coptwin.bench.common import peak_rss_mb, ratio, run_child, summarise, timed_ticks

FIXTURE_VERSION = 2
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def config_text(tables: Path, scene: Path, offset: list[float]) -> str:
    """The benchmark COP's config: one temperature layer over the given tables and scene."""
    return f"""
[storage]
uri = {json.dumps(tables.as_posix())}
[tables.readings]
path = "readings"
[tables.sensors]
path = "sensors"
[scene]
path = {json.dumps(scene.as_posix())}
crs = "EPSG:32618"
global_offset = {json.dumps(offset)}
[engine]
max_future_skew_s = 1e9
[[layers]]
name = "environment"
kinds = ["temperature"]
[rules.temperature]
warn_high = 28.0
alarm_high = 35.0
"""


def sensor_ids(n: int) -> list[str]:
    """The benchmarks' sensor ids (S000000, S000001, ...)."""
    return [f"S{i:06d}" for i in range(n)]


def write_ground_sensors(uri: Path, info: Any, n: int, rng: np.random.Generator) -> list[str]:
    """Register ``n`` ground temperature sensors spread uniformly over a generated city."""
    from pyproj import Transformer

    from coptwin.sim.writer import append_batch

    e0, n0, e1, n1 = info.bounds_en
    lon, lat = Transformer.from_crs(info.crs, "EPSG:4326", always_xy=True).transform(
        rng.uniform(e0, e1, n), rng.uniform(n0, n1, n)
    )
    ids = sensor_ids(n)
    sensors = pl.DataFrame(
        {
            "sensor_id": ids,
            "name": ids,
            "kind": ["temperature"] * n,
            "layer": ["environment"] * n,
            "lon": lon,
            "lat": lat,
            "mount": ["ground"] * n,
            "unit": ["degC"] * n,
        }
    )
    append_batch(str(uri), sensors, mode="overwrite")
    return ids


def build_fixture(workdir: Path, n_sensors: int, n_rows: int, commits: int) -> Path:
    """Sample city, N ground sensors and a readings table of n_rows; returns the config path.

    Reused when a fixture with the same parameters exists in ``workdir``.
    """

    from coptwin.scene.citygen import ensure_city
    from coptwin.sim.writer import append_batch

    workdir = Path(workdir).resolve()
    stamp = workdir / "fixture.json"
    want = {"v": FIXTURE_VERSION, "sensors": n_sensors, "rows": n_rows, "commits": commits}
    cfg_path = workdir / "bench.toml"
    if stamp.exists() and json.loads(stamp.read_text()) == want and cfg_path.exists():
        return cfg_path
    import shutil

    shutil.rmtree(workdir / "tables", ignore_errors=True)
    info = ensure_city(workdir / "data")
    rng = np.random.default_rng(5)
    tables = workdir / "tables"
    ids = write_ground_sensors(tables / "sensors", info, n_sensors, rng)
    per_commit = math.ceil(n_rows / commits)
    ids_arr = np.array(ids)
    for c in range(commits):
        k = min(per_commit, n_rows - c * per_commit)
        if k <= 0:
            break
        ts0 = T0 + timedelta(minutes=c)
        sid = ids_arr[rng.integers(0, n_sensors, k)]
        jitter = pl.Series(rng.integers(0, 59_000_000, k), dtype=pl.Duration("us"))
        frame = _temperatures(sid, ts0, rng.normal(20, 5, k), jitter)
        append_batch(str(tables / "readings"), frame, partition_by=["date"])
    cfg_path.write_text(
        config_text(tables, info.root_layer, list(info.global_offset)), encoding="utf-8"
    )
    stamp.write_text(json.dumps(want))
    return cfg_path


def _temperatures(
    ids: Sequence[str] | np.ndarray, ts: datetime, values: np.ndarray, jitter: pl.Series | None
) -> pl.DataFrame:
    """Temperature readings of ``ids`` at ``ts`` (plus ``jitter``, a Duration series)."""
    from coptwin.sim.writer import READINGS_SCHEMA

    n = len(values)
    stamps = pl.Series([ts] * n, dtype=pl.Datetime("us", "UTC"))
    return pl.DataFrame(
        {
            "sensor_id": ids,
            "ts": stamps if jitter is None else stamps + jitter,
            "value": values,
            "quantity": ["temperature"] * n,
            "unit": ["degC"] * n,
            "lon": [None] * n,
            "lat": [None] * n,
            "alt": [None] * n,
            "date": [ts.strftime("%Y-%m-%d")] * n,
        },
        schema=READINGS_SCHEMA,
    )


def _new_version(cfg_path: Path, n_sensors: int, tick: int) -> None:
    """One new Delta version with one fresh reading for every sensor."""
    from coptwin.config import load_config
    from coptwin.sim.writer import append_batch

    cfg = load_config(cfg_path)
    rng = np.random.default_rng(1000 + tick)
    # Newer than anything already in the (reused) fixture, so every row changes a sensor.
    ts = datetime.now(timezone.utc)
    frame = _temperatures(sensor_ids(n_sensors), ts, rng.normal(25, 6, n_sensors), None)
    append_batch(cfg.table_uri("readings"), frame, partition_by=["date"])


def _variant_engine(cfg_path: Path, n_sensors: int, ticks: int) -> dict[str, Any]:
    from coptwin.config import load_config
    from coptwin.engine.engine import Engine

    cfg = load_config(cfg_path)
    engine = Engine(cfg)
    t = time.perf_counter()
    engine.open()
    engine.commit(engine.prepare())
    cold_ms = (time.perf_counter() - t) * 1000
    timed = timed_ticks(engine, lambda i: _new_version(cfg_path, n_sensors, i), ticks)
    return {
        **timed,
        "main_thread_budget_ms": cfg.engine.main_thread_budget_ms,
        # per-sensor detail attributes still queued (markers/colours are always current)
        "details_pending_after": engine.overlay.details_pending,
        "cold_start_ms": round(cold_ms, 1),
    }


def _latest_pandas(uri: str):  # noqa: ANN202 - pandas types only in the bench extra
    from deltalake import DeltaTable

    df = DeltaTable(uri).to_pandas()
    idx = df.groupby("sensor_id")["ts"].idxmax()
    return df.loc[idx]


def _variant_baseline(cfg_path: Path, n_sensors: int, ticks: int) -> dict[str, Any]:
    """The prototype: full pandas scan, then Usd API writes per sensor prim."""
    from pxr import Sdf, Usd, UsdGeom, Vt

    from coptwin.config import load_config

    cfg = load_config(cfg_path)
    uri = cfg.table_uri("readings")
    stage = Usd.Stage.Open(str(cfg.resolve_path(cfg.scene.path or "")))
    overlay = Sdf.Layer.CreateAnonymous("baseline")
    stage.GetSessionLayer().subLayerPaths.append(overlay.identifier)
    stage.SetEditTarget(Usd.EditTarget(overlay))
    prims = {}
    for i in range(n_sensors):
        sid = f"S{i:06d}"
        sphere = UsdGeom.Sphere.Define(stage, f"/COP/Sensors/{sid}")
        prims[sid] = sphere
    total = []
    for i in range(ticks):
        _new_version(cfg_path, n_sensors, i)
        t = time.perf_counter()
        latest = _latest_pandas(uri)
        for row in latest.itertuples(index=False):
            prim = prims.get(row.sensor_id)
            if prim is None:
                continue
            p = prim.GetPrim()
            value = float(row.value)
            status = "alarm" if value > 35 else "warn" if value > 28 else "ok"
            p.CreateAttribute("coptwin:value", Sdf.ValueTypeNames.Double).Set(value)
            p.CreateAttribute("coptwin:status", Sdf.ValueTypeNames.String).Set(status)
            p.CreateAttribute("coptwin:ts", Sdf.ValueTypeNames.String).Set(str(row.ts))
            prim.CreateDisplayColorAttr().Set(
                Vt.Vec3fArray([(0.9, 0.2, 0.1) if status != "ok" else (0.1, 0.6, 0.4)])
            )
        total.append((time.perf_counter() - t) * 1000)
    return {"tick": summarise(total), "rows_scanned": int(len(latest))}


def _variant_polars(cfg_path: Path, n_sensors: int, ticks: int) -> dict[str, Any]:
    """The simplest sound alternative: polars reads the table and takes the latest row
    per sensor, then one ``Sdf.ChangeBlock`` writes each sensor prim's attributes."""
    from pxr import Sdf, Usd, Vt

    from coptwin.config import load_config

    cfg = load_config(cfg_path)
    uri = cfg.table_uri("readings")
    stage = Usd.Stage.Open(str(cfg.resolve_path(cfg.scene.path or "")))
    overlay = Sdf.Layer.CreateAnonymous("polars")
    stage.GetSessionLayer().subLayerPaths.insert(0, overlay.identifier)
    specs: dict[str, tuple[Sdf.AttributeSpec, ...]] = {}
    with Sdf.ChangeBlock():
        for path in ("/COP", "/COP/Sensors"):
            Sdf.CreatePrimInLayer(overlay, path).specifier = Sdf.SpecifierDef
        for sid in sensor_ids(n_sensors):
            spec = Sdf.CreatePrimInLayer(overlay, f"/COP/Sensors/{sid}")
            spec.specifier, spec.typeName = Sdf.SpecifierDef, "Sphere"
            specs[sid] = tuple(
                Sdf.AttributeSpec(spec, name, typ)
                for name, typ in (
                    ("coptwin:value", Sdf.ValueTypeNames.Double),
                    ("coptwin:status", Sdf.ValueTypeNames.String),
                    ("coptwin:ts", Sdf.ValueTypeNames.String),
                    ("primvars:displayColor", Sdf.ValueTypeNames.Color3fArray),
                )
            )
    colours = {
        "alarm": Vt.Vec3fArray([(0.9, 0.2, 0.1)]),
        "warn": Vt.Vec3fArray([(0.9, 0.6, 0.1)]),
        "ok": Vt.Vec3fArray([(0.1, 0.6, 0.4)]),
    }
    total = []
    for i in range(ticks):
        _new_version(cfg_path, n_sensors, i)
        t = time.perf_counter()
        latest = (
            pl.scan_delta(uri)
            .select("sensor_id", "ts", "value")
            .sort("ts")
            .group_by("sensor_id")
            .last()
            .with_columns(
                pl.when(pl.col("value") > 35)
                .then(pl.lit("alarm"))
                .when(pl.col("value") > 28)
                .then(pl.lit("warn"))
                .otherwise(pl.lit("ok"))
                .alias("status"),
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"),
            )
            .collect()
        )
        with Sdf.ChangeBlock():
            for sid, ts, value, status in latest.iter_rows():
                attrs = specs.get(sid)
                if attrs is None:
                    continue
                attrs[0].default = value
                attrs[1].default = status
                attrs[2].default = ts
                attrs[3].default = colours[status]
        total.append((time.perf_counter() - t) * 1000)
    return {"tick": summarise(total), "rows_scanned": latest.height}


VARIANTS = {"engine": _variant_engine, "baseline": _variant_baseline, "polars": _variant_polars}


#: Ticks of the two slow alternatives (seconds each at full size).
BASELINE_TICKS = 2


#: (sensors, table rows, commits, engine ticks): the full run, and ``--quick``'s.
SIZES = {"full": (10_000, 5_000_000, 50, 5), "quick": (500, 50_000, 5, 3)}


def bench_tick(workdir: Path, size: str = "full") -> dict[str, Any]:
    """Build the fixture, run every variant in its own process, report with ratios."""
    sensors, rows, commits, ticks = SIZES[size]
    t = time.perf_counter()
    cfg_path = build_fixture(workdir, sensors, rows, commits)
    setup_s = time.perf_counter() - t
    out: dict[str, Any] = {
        "what": "apply one new Delta version touching every sensor",
        "sensors": sensors,
        "table_rows": rows,
        "fixture_build_s": round(setup_s, 1),
    }
    for name in VARIANTS:
        n = ticks if name == "engine" else BASELINE_TICKS
        args = ["--variant", name, "--config", str(cfg_path), "--sensors", str(sensors)]
        out[name] = run_child("coptwin.bench.tick", [*args, "--ticks", str(n)])
    eng = out.get("engine", {})
    for name in ("baseline", "polars"):
        if name in out and eng:
            out[f"speedup_vs_{name}"] = ratio(
                out[name]["tick"].get("median_ms"), eng["tick"].get("median_ms")
            )
            out[f"memory_ratio_vs_{name}"] = ratio(
                out[name].get("peak_rss_mb"), eng.get("peak_rss_mb")
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m coptwin.bench.tick")
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--sensors", type=int, required=True)
    p.add_argument("--ticks", type=int, default=5)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = VARIANTS[args.variant](args.config, args.sensors, args.ticks)
    result["peak_rss_mb"] = round(peak_rss_mb() or 0.0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
