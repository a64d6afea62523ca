"""``coptwin place``: put sensors into a CityEngine USD scene and write their positions.

The same code path the engine uses (:class:`coptwin.geo.Placer`): every sensor gets a
row ``sensor_id,x,y,z,prim_path,placement`` in the stage's frame and units, with
``placement = fallback`` (and a counted reason in the summary) where something was
missing. Georeference from ``--config`` (its ``[scene]`` table) and/or the flags,
which win over the config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from coptwin.cli import CommandError
from coptwin.commands._common import add_config_arg
from coptwin.config import CANONICAL_COLUMNS, Config, EnuOrigin, SceneConfig, load_config

HELP = "place sensors (CSV) in a USD scene: roof/ground/facade positions + bindings"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scene", type=Path, help="root USD layer (default: scene.path of --config)")
    p.add_argument("--sensors", type=Path, required=True, help="sensors CSV (canonical columns)")
    p.add_argument("--out", type=Path, required=True, help="output CSV")
    add_config_arg(p, required=False, help_="coptwin TOML config ([scene], column names)")
    p.add_argument("--crs", help="projected CRS of the scene, e.g. EPSG:32618")
    p.add_argument(
        "--offset",
        help="CityEngine global offset 'X,Y,Z' (write --offset=-1,2,3 when X is negative), "
        "or a global_offset.json sidecar (crs + offset)",
    )
    p.add_argument("--enu-origin", metavar="LAT,LON,H", help="ENU origin instead of --crs")
    p.add_argument("--vertical-offset", type=float, help="metres added to sensor heights")
    p.add_argument("--ground-elevation", type=float, help="ground height when there is no terrain")
    p.add_argument(
        "--overlay",
        type=Path,
        help="also write the COP overlay layer (markers, building bindings) to this .usda",
    )
    p.set_defaults(func=run)


def _floats(text: str, n: int, flag: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise CommandError(f"{flag}: expected {n} comma-separated numbers, got {text!r}")
    return values


def _scene_config(
    args: argparse.Namespace,
) -> tuple[SceneConfig, dict[str, str], Path | None, Config | None]:
    """SceneConfig from --config plus flag overrides; the sensors column mapping; the config."""
    import msgspec

    scene = SceneConfig()
    columns: dict[str, str] = {}
    scene_path: Path | None = None
    cfg: Config | None = None
    if args.config:
        cfg = load_config(args.config)
        scene = cfg.scene
        columns = dict(cfg.tables.sensors.columns)
        if scene.path:
            scene_path = cfg.resolve_path(scene.path)
    changes: dict[str, object] = {}
    if args.offset:
        candidate = Path(args.offset)
        if candidate.suffix.lower() == ".json":
            try:
                doc = json.loads(candidate.read_text(encoding="utf-8"))
                changes["global_offset"] = [float(v) for v in doc["global_offset"]]
                if doc.get("crs") and not args.crs:
                    changes["crs"] = str(doc["crs"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"--offset: cannot read {candidate} ({exc})") from None
        else:
            changes["global_offset"] = _floats(args.offset, 3, "--offset")
    if args.crs:
        changes["crs"] = args.crs
    if args.enu_origin:
        lat, lon, h = _floats(args.enu_origin, 3, "--enu-origin")
        changes["enu_origin"] = EnuOrigin(lat=lat, lon=lon, height=h)
        if not args.crs:
            changes["crs"] = None
    if args.vertical_offset is not None:
        changes["vertical_offset_m"] = args.vertical_offset
    if args.ground_elevation is not None:
        changes["ground_elevation_m"] = args.ground_elevation
    return msgspec.structs.replace(scene, **changes), columns, scene_path, cfg


def _read_sensors(path: Path, columns: dict[str, str]) -> object:
    import polars as pl

    try:
        header = pl.read_csv(path, n_rows=0).columns
        text_cols = {
            c: pl.Utf8
            for c in header
            if c in {columns.get(k, k) for k in ("sensor_id", "object_id", "prim_path", "mount")}
        }
        df = pl.read_csv(path, schema_overrides=text_cols, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CommandError(f"--sensors: cannot read {path} ({exc})") from None
    rename = {
        user: canonical
        for canonical, user in columns.items()
        if canonical in CANONICAL_COLUMNS["sensors"] and user in df.columns and user != canonical
    }
    return df.rename(rename)


def run(args: argparse.Namespace) -> int:
    from coptwin.geo import Placer, SceneError, SceneFrame, SceneIndex
    from coptwin.geo.stage import open_stage

    scene_cfg, columns, cfg_scene, cfg = _scene_config(args)
    scene = args.scene or cfg_scene
    if scene is None:
        raise CommandError("--scene is required (or set scene.path in --config)")
    t0 = time.perf_counter()
    try:
        stage = open_stage(scene)
        sensors = _read_sensors(args.sensors, columns)
        frame = SceneFrame.from_stage(stage, scene_cfg)
        index = SceneIndex.build(stage, scene_cfg)
        t1 = time.perf_counter()
        placer = Placer(frame, index, scene_cfg)
        placed = placer.place(sensors)  # type: ignore[arg-type]
    except SceneError as exc:
        # Said as the flag that set it, or as the config file's key.
        key = exc.key or "scene.path"
        flag = {"scene.path": args.scene, "scene.crs": args.crs or args.enu_origin}.get(key)
        flag = flag or (args.offset if key == "scene.global_offset" else None)
        if cfg is not None and flag is None:
            raise cfg.error(key, exc.what) from exc
        raise
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    t2 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    placed.write_csv(args.out)

    s = placer.last_summary
    mounts = ", ".join(f"{m} {n}" for m, n in sorted(s.by_mount.items()))
    print(
        f"scene: {scene} (upAxis {frame.up_axis}, metersPerUnit {frame.meters_per_unit}, "
        f"{len(index.buildings)} buildings, {index.stats.triangles} triangles)"
    )
    print(f"georeference: {frame.georef.describe()}")
    print(f"placed {s.total} sensors ({mounts}): {s.exact} exact, {s.fallback} fallback")
    for reason, count in s.reasons.items():
        print(f"  fallback: {reason}: {count} (e.g. {', '.join(s.examples[reason])})")
    print(f"index {t1 - t0:.2f} s, placement {t2 - t1:.2f} s -> {args.out}")
    if args.overlay:
        target = _write_overlay(stage, scene_cfg, cfg, sensors, placed, args.overlay)
        print(f"overlay: {len(placed)} markers -> {target}")
    sys.stdout.flush()
    return 0


def _write_overlay(
    stage: object,
    scene_cfg: SceneConfig,
    cfg: Config | None,
    sensors: object,
    placed: object,
    out: Path,
) -> Path:
    """Markers (status "unknown": no readings yet) and building bindings, exported to ``out``."""
    from coptwin.model.palette import color_array
    from coptwin.scene.overlay import MarkerBatch, Overlay

    rows = sensors.to_dicts()  # type: ignore[attr-defined]
    pos = placed.to_dicts()  # type: ignore[attr-defined]

    def layer_of(row: dict) -> str:
        if row.get("layer"):
            return str(row["layer"])
        kind = str(row.get("kind") or "")
        if cfg is not None and kind:
            return cfg.layer_for_kind(kind)
        return kind or "sensors"

    layers = {layer_of(r) for r in rows}
    labels = {layer.name: (layer.label, layer.visible) for layer in (cfg.layers if cfg else [])}
    overlay = Overlay.attach(
        stage,  # type: ignore[arg-type]
        root=scene_cfg.overlay_root,
        marker_size_m=scene_cfg.marker_size_m,
    )
    overlay.define_layers(
        [
            (name, *labels.get(name, (name.replace("_", " ").title(), True)))
            for name in sorted(layers)
        ]
    )
    kept = [(r, p) for r, p in zip(rows, pos, strict=True) if p["sensor_id"] is not None]
    ids = [str(p["sensor_id"]) for _, p in kept]
    # Status "unknown" (no readings yet): the default of every batch column but these.
    overlay.stage_batch(
        MarkerBatch(
            sensor_ids=ids,
            layers=[layer_of(r) for r, _ in kept],
            kinds=[str(r.get("kind") or "") for r, _ in kept],
            colors=color_array(["unknown"] * len(kept)),
            placements=[str(p["placement"]) for _, p in kept],
            bound_prims=[p["prim_path"] or "" for _, p in kept],
            positions={
                sid: (float(p["x"]), float(p["y"]), float(p["z"]))
                for sid, (_, p) in zip(ids, kept, strict=True)
            },
        )
    )
    stats = overlay.flush()
    if stats.skipped:
        print(f"overlay: skipped {dict(stats.skipped)}")
    return overlay.export(out)
