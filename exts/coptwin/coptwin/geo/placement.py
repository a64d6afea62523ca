"""Sensor -> building binding and marker positions (roof, ground, facade, xyz).

The same code path serves ``coptwin place``, the engine and the Kit panel. Every sensor
gets a row: when something is missing (no building, no terrain, outside the scene, bad
coordinates) the sensor is put at its best available position and marked
``placement = "fallback"``, and the reason is counted in :attr:`Placer.last_summary`
and logged once per batch. Nothing is dropped.

Binding order: explicit ``prim_path`` -> ``object_id`` (attribute, then connector-style
name) -> the building whose footprint contains the position.

Mounts (local metric frame, see :mod:`coptwin.geo.frame`):

* ``roof``   highest surface of the bound building under (lon, lat) -- a ray cast down;
* ``ground`` terrain surface under (lon, lat), ignoring buildings;
* ``facade`` nearest point on the bound building's walls at ``mount_height_m`` above the
  terrain at that wall point (terrain under the wall, as a surveyor would measure it);
* ``xyz``    (lon, lat, alt) as given.

Without terrain, ground heights come from ``scene.ground_elevation_m``, else the bound
building's base, else the lowest point of the scene -- flagged as fallback.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from coptwin.config import SceneConfig
from coptwin.geo.buildings import normalize_object_id
from coptwin.geo.frame import SceneFrame
from coptwin.geo.index import SceneIndex

log = logging.getLogger(__name__)

MOUNTS = ("roof", "ground", "facade", "xyz")
EXACT, FALLBACK = "exact", "fallback"
OUTPUT_SCHEMA: dict[str, type[pl.DataType]] = {
    "sensor_id": pl.Utf8,
    "x": pl.Float64,
    "y": pl.Float64,
    "z": pl.Float64,
    "prim_path": pl.Utf8,
    "placement": pl.Utf8,
}
#: Facade mount height used when a sensor gives neither mount_height_m nor alt (metres).
DEFAULT_FACADE_HEIGHT_M = 3.0
#: A facade sensor further than this from its building's walls is flagged as fallback.
FACADE_SNAP_MAX_M = 10.0
#: A wall point this far (m) from the requested height means the wall does not reach it.
_HEIGHT_TOL_M = 0.01
_EXAMPLES = 5


@dataclass
class PlacementSummary:
    """Counts of one :meth:`Placer.place` call, for the CLI summary and the UI."""

    total: int = 0
    exact: int = 0
    fallback: int = 0
    by_mount: dict[str, int] = field(default_factory=dict)
    #: fallback reason -> count
    reasons: dict[str, int] = field(default_factory=dict)
    #: fallback reason -> a few sensor ids, for log lines and the summary
    examples: dict[str, list[str]] = field(default_factory=dict)


class _Flags:
    """Per-row fallback reasons (first reason wins)."""

    def __init__(self, n: int) -> None:
        self.reason: list[str | None] = [None] * n

    def flag(self, rows: np.ndarray, reason: str) -> None:
        for r in np.asarray(rows, dtype=np.int64).tolist():
            if self.reason[r] is None:
                self.reason[r] = reason


@dataclass
class _Call:
    """The per-row arrays of one placement call, which every mount handler reads or fills."""

    pos: np.ndarray  # (N, 3) local positions, z filled by the handlers
    bld: np.ndarray  # bound building index per row, -1 for none
    alt: np.ndarray  # the given altitude (NaN where none)
    alt_up: np.ndarray  # that altitude as local up
    mount_h: np.ndarray  # mount_height_m (NaN where none)
    flags: _Flags


class Placer:
    """Places sensors in one scene; cheap to create once the index exists."""

    def __init__(self, frame: SceneFrame, index: SceneIndex, scene_cfg: SceneConfig) -> None:
        if frame.up_axis != index.up_axis or frame.meters_per_unit != index.meters_per_unit:
            raise ValueError(
                f"frame ({frame.up_axis}, {frame.meters_per_unit}) and index "
                f"({index.up_axis}, {index.meters_per_unit}) come from different stages"
            )
        self.frame = frame
        self.index = index
        self.scene_cfg = scene_cfg
        self.last_summary = PlacementSummary()

    # ------------------------------------------------------------------ public API
    def place(self, sensors: pl.DataFrame) -> pl.DataFrame:
        """Positions for canonical sensor rows -> ``sensor_id, x, y, z, prim_path, placement``.

        Coordinates are in the stage's frame and units. Only ``sensor_id``, ``lon`` and
        ``lat`` are required columns; ``alt``, ``mount``, ``object_id``, ``prim_path``
        and ``mount_height_m`` are used when present.
        """
        missing = [c for c in ("sensor_id", "lon", "lat") if c not in sensors.columns]
        if missing:
            raise ValueError(
                f"sensors frame lacks column(s) {', '.join(missing)}; "
                f"has {', '.join(sensors.columns) or 'none'}"
            )
        n = sensors.height
        ids = sensors.get_column("sensor_id").cast(pl.Utf8, strict=False).to_list()
        lon = _floats(sensors, "lon")
        lat = _floats(sensors, "lat")
        alt = _floats(sensors, "alt")
        mount_h = _floats(sensors, "mount_height_m")
        mounts = _strings(sensors, "mount")
        oids = sensors.get_column("object_id").to_list() if "object_id" in sensors else [None] * n
        paths = _strings(sensors, "prim_path")

        flags = _Flags(n)
        local = self.frame.lonlat_to_local(lon, lat, None) if n else np.zeros((0, 3))
        valid = np.isfinite(local[:, :2]).all(axis=1)
        flags.flag(np.nonzero(~valid)[0], "invalid lon/lat")
        uv = local[:, :2]

        mount = np.array([(m or "ground").strip().lower() for m in mounts], dtype=object)
        unknown = ~np.isin(mount, MOUNTS)
        flags.flag(np.nonzero(unknown)[0], "unknown mount (placed on the ground)")
        mount[unknown] = "ground"
        bld, out_path = self._bind(paths, oids, uv, valid, mount == "facade", flags)

        pos = np.full((n, 3), np.nan)
        pos[:, :2] = uv
        alt_up = self.frame.lonlat_to_local(lon, lat, alt)[:, 2] if n else np.zeros(0)
        handlers = {
            "roof": self._roof,
            "ground": self._ground_mount,
            "facade": self._facade,
            "xyz": self._xyz,
        }
        call = _Call(pos, bld, alt, alt_up, mount_h, flags)
        for name, handler in handlers.items():
            rows = np.nonzero((mount == name) & valid)[0]
            if rows.size:
                handler(rows, call)
        self._invalid_positions(np.nonzero(~valid)[0], pos, bld)

        stage_pts = self.frame.local_to_stage(pos) if n else np.zeros((0, 3))
        placement = [EXACT if r is None else FALLBACK for r in flags.reason]
        self.last_summary = _summarize(ids, mount, flags)
        _log_summary(self.last_summary)
        return pl.DataFrame(
            {
                "sensor_id": ids,
                "x": stage_pts[:, 0],
                "y": stage_pts[:, 1],
                "z": stage_pts[:, 2],
                "prim_path": out_path,
                "placement": placement,
            },
            schema=OUTPUT_SCHEMA,
        )

    def place_points(
        self,
        lon: object,
        lat: object,
        mount: str = "ground",
        alt: object = None,
        *,
        return_exact: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Vectorised placement of unbound points (moving sensors) -> (N,3) stage coords.

        ``mount``: "ground" (terrain), "roof" (highest surface, buildings included) or
        "xyz" (``alt`` as height). With ``return_exact`` also returns a bool mask that is
        False where a fallback height was used.
        """
        local = self.frame.lonlat_to_local(lon, lat, None)
        n = local.shape[0]
        if mount not in ("ground", "roof", "xyz"):
            raise ValueError(f"place_points mount must be ground, roof or xyz, not {mount!r}")
        flags = _Flags(n)
        valid = np.isfinite(local[:, :2]).all(axis=1)
        flags.flag(np.nonzero(~valid)[0], "invalid lon/lat")
        rows = np.nonzero(valid)[0]
        none = np.full(n, -1, dtype=np.int64)
        if mount == "xyz":
            alt_a = (
                np.full(n, np.nan)
                if alt is None
                else np.broadcast_to(np.asarray(alt, dtype=np.float64), (n,)).copy()
            )
            up = self.frame.lonlat_to_local(lon, lat, alt_a)[:, 2]
            self._xyz(rows, _Call(local, none, alt_a, up, np.full(n, np.nan), flags))
        elif mount == "roof":
            w, _ = self.index.surface_up(local[rows, :2], include="all")
            hit = np.isfinite(w)
            local[rows[hit], 2] = w[hit]
            miss = rows[~hit]
            flags.flag(miss, "outside the scene")
            local[miss, 2] = self._ground_fallback(miss, local, none)
        else:
            local[rows, 2] = self._ground(rows, local, none, flags)
        stage_pts = self.frame.local_to_stage(local)
        if return_exact:
            return stage_pts, np.array([r is None for r in flags.reason], dtype=bool)
        return stage_pts

    # ------------------------------------------------------------------ binding
    def _bind(
        self,
        paths: list[str | None],
        oids: list[object],
        uv: np.ndarray,
        valid: np.ndarray,
        facade: np.ndarray,
        flags: _Flags,
    ) -> tuple[np.ndarray, list[str | None]]:
        n = len(paths)
        bld = np.full(n, -1, dtype=np.int64)
        out_path: list[str | None] = [None] * n
        unkeyed = []
        for r in range(n):
            path = (paths[r] or "").strip()
            oid = normalize_object_id(oids[r])
            if path:
                b = self.index.building_for_path(path)
                if b is not None:
                    bld[r], out_path[r] = b.index, b.path
                else:
                    out_path[r] = path  # the user's explicit choice still gets attributes
                    flags.reason[r] = flags.reason[r] or "prim_path is not a building in the scene"
            elif oid is not None:
                b = self.index.by_object_id.get(oid)
                if b is not None:
                    bld[r], out_path[r] = b.index, b.path
                else:
                    flags.reason[r] = flags.reason[r] or "building missing (object_id not found)"
            else:
                unkeyed.append(r)
        rows = np.asarray([r for r in unkeyed if valid[r]], dtype=np.int64)
        if rows.size:
            found = self.index.buildings_at(uv[rows])
            # a facade sensor sits on a wall line: bind it to the nearest wall instead
            on_wall = np.nonzero(facade[rows] & (found < 0))[0]
            if on_wall.size:
                near, _ = self.index.nearest_building(uv[rows[on_wall]], FACADE_SNAP_MAX_M)
                found[on_wall] = near
            for r, b in zip(rows.tolist(), found.tolist(), strict=True):
                if b >= 0:
                    bld[r], out_path[r] = b, self.index.buildings[b].path
        for r in np.nonzero(bld >= 0)[0].tolist():
            if not self.index.buildings[bld[r]].has_geometry:
                flags.reason[r] = flags.reason[r] or "bound building has no geometry"
        return bld, out_path

    # ------------------------------------------------------------------ mounts
    def _roof(self, rows: np.ndarray, c: _Call) -> None:
        geo = self._has_geometry(c.bld[rows])
        bound = rows[geo]
        if bound.size:
            w, _ = self.index.surface_up(
                c.pos[bound, :2], include="buildings", building=c.bld[bound]
            )
            hit = np.isfinite(w)
            c.pos[bound[hit], 2] = w[hit]
            miss = bound[~hit]
            c.flags.flag(miss, "roof position outside the bound building")
            c.pos[miss, 2] = [self.index.buildings[c.bld[r]].top for r in miss.tolist()]
        free = rows[~geo]
        if free.size:
            w, own = self.index.surface_up(c.pos[free, :2], include="all")
            c.flags.flag(free, "roof sensor not on a building")
            hit = np.isfinite(w)
            c.pos[free[hit], 2] = w[hit]
            miss = free[~hit]
            c.flags.flag(miss, "outside the scene")
            c.pos[miss, 2] = self._ground_fallback(miss, c.pos, c.bld)

    def _ground(
        self, rows: np.ndarray, pos: np.ndarray, bld: np.ndarray, flags: _Flags
    ) -> np.ndarray:
        """Terrain height under each row (ray that ignores buildings), with fallbacks."""
        w, _ = self.index.surface_up(pos[rows, :2], include="terrain")
        miss = ~np.isfinite(w)
        if miss.any():
            reason = "outside the terrain" if self.index.has_terrain else "scene has no terrain"
            flags.flag(rows[miss], reason)
            w[miss] = self._ground_fallback(rows[miss], pos, bld)
        return w

    def _ground_mount(self, rows: np.ndarray, c: _Call) -> None:
        c.pos[rows, 2] = self._ground(rows, c.pos, c.bld, c.flags)

    def _xyz(self, rows: np.ndarray, c: _Call) -> None:
        has = np.isfinite(c.alt[rows])
        c.pos[rows[has], 2] = c.alt_up[rows[has]]
        rest = rows[~has]
        if rest.size:
            c.flags.flag(rest, "xyz mount without alt (placed on the ground)")
            c.pos[rest, 2] = self._ground(rest, c.pos, c.bld, c.flags)

    def _facade(self, rows: np.ndarray, c: _Call) -> None:
        pos, bld, alt_up, flags = c.pos, c.bld, c.alt_up, c.flags
        geo = self._has_geometry(bld[rows])
        free = rows[~geo]
        mh = c.mount_h[rows].copy()
        absolute = ~np.isfinite(mh) & np.isfinite(c.alt[rows])
        nothing = ~np.isfinite(mh) & ~absolute
        flags.flag(rows[nothing], "facade sensor without mount_height_m")
        mh[nothing] = DEFAULT_FACADE_HEIGHT_M
        mh_of = dict(zip(rows.tolist(), mh.tolist(), strict=True))
        abs_of = set(rows[absolute].tolist())
        if free.size:
            flags.flag(free, "facade sensor without a building")
            g = self._ground(free, pos, bld, flags)
            pos[free, 2] = [
                alt_up[r] if r in abs_of else gg + mh_of[r]
                for r, gg in zip(free.tolist(), g.tolist(), strict=True)
            ]
        bound = rows[geo]
        if not bound.size:
            return
        mhb = np.array([mh_of[r] for r in bound.tolist()])
        isabs = np.array([r in abs_of for r in bound.tolist()], dtype=bool)
        start = pos[bound, :2].copy()
        q = np.empty((bound.size, 3))
        q[:, :2] = start
        # two rounds: the wall point moves the terrain sample, which moves the height
        for _ in range(2):
            g = self._ground(bound, _with_uv(pos, bound, q[:, :2]), bld, _Flags(pos.shape[0]))
            q[:, 2] = np.where(isabs, alt_up[bound], g + mhb)
            wall, _ = self.index.nearest_wall_points(bld[bound], q)
            q[:, :2] = wall[:, :2]
        g = self._ground(bound, _with_uv(pos, bound, q[:, :2]), bld, flags)
        target = np.where(isabs, alt_up[bound], g + mhb)
        q[:, 2] = target
        wall, _ = self.index.nearest_wall_points(bld[bound], q)
        off_height = ~(np.abs(wall[:, 2] - target) <= _HEIGHT_TOL_M)
        flags.flag(bound[off_height], "facade height outside the building's walls")
        far = np.linalg.norm(wall[:, :2] - start, axis=1) > FACADE_SNAP_MAX_M
        flags.flag(bound[far], "facade sensor far from its building")
        pos[bound] = np.where(off_height[:, None], wall, np.column_stack([wall[:, :2], target]))

    def _has_geometry(self, bld: np.ndarray) -> np.ndarray:
        """Per building index (-1 for none): is it a building with geometry?"""
        return np.array([b >= 0 and self.index.buildings[b].has_geometry for b in bld], dtype=bool)

    # ------------------------------------------------------------------ fallbacks
    def _ground_fallback(self, rows: np.ndarray, pos: np.ndarray, bld: np.ndarray) -> np.ndarray:
        """Best ground height where no terrain is under the point (all rows flagged already)."""
        out = np.empty(rows.size)
        if not rows.size:
            return out
        cfg_h = self.scene_cfg.ground_elevation_m
        if cfg_h is not None:
            lon, lat, _ = self.frame.local_to_lonlat(
                np.column_stack([pos[rows, :2], np.zeros(rows.size)])
            )
            return self.frame.datum_height_to_local_up(lon, lat, float(cfg_h))
        # clamp into the terrain's extent: the nearest edge height beats a guess
        clamped = None
        if self.index.has_terrain:
            t = self.index.tris[self.index.owner == -1].reshape(-1, 3)
            lo, hi = t[:, :2].min(axis=0), t[:, :2].max(axis=0)
            clamped, _ = self.index.surface_up(np.clip(pos[rows, :2], lo, hi), include="terrain")
        for k, r in enumerate(rows.tolist()):
            b = bld[r]
            if b >= 0 and self.index.buildings[b].has_geometry:
                out[k] = self.index.buildings[b].base
            elif clamped is not None and np.isfinite(clamped[k]):
                out[k] = clamped[k]
            else:
                out[k] = float(self.index.bbox_min[2])
        return out

    def _invalid_positions(self, rows: np.ndarray, pos: np.ndarray, bld: np.ndarray) -> None:
        """No usable lon/lat: the bound building's roof centre, else the scene centre."""
        centre = (self.index.bbox_min + self.index.bbox_max) / 2.0
        for r in rows.tolist():
            b = bld[r]
            if b >= 0 and self.index.buildings[b].has_geometry:
                bb = self.index.buildings[b]
                pos[r] = [*((bb.bbox_min[:2] + bb.bbox_max[:2]) / 2.0), bb.top]
            else:
                pos[r] = [centre[0], centre[1], self.index.bbox_min[2]]


# ---------------------------------------------------------------------- helpers
def _with_uv(pos: np.ndarray, rows: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """A copy of ``pos`` with the given rows moved to ``uv`` (for trial ground samples)."""
    out = pos.copy()
    out[rows, :2] = uv
    return out


def _floats(df: pl.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(df.height, np.nan)
    col = df.get_column(name).cast(pl.Float64, strict=False)
    return col.fill_null(np.nan).to_numpy().astype(np.float64, copy=False)


def _strings(df: pl.DataFrame, name: str) -> list[str | None]:
    if name not in df.columns:
        return [None] * df.height
    return df.get_column(name).cast(pl.Utf8, strict=False).to_list()


def _summarize(ids: list[str | None], mount: np.ndarray, flags: _Flags) -> PlacementSummary:
    s = PlacementSummary(total=len(ids))
    s.by_mount = dict(Counter(mount.tolist()))
    reasons: Counter[str] = Counter()
    for sid, reason in zip(ids, flags.reason, strict=True):
        if reason is None:
            continue
        reasons[reason] += 1
        ex = s.examples.setdefault(reason, [])
        if len(ex) < _EXAMPLES:
            ex.append(str(sid))
    s.reasons = dict(reasons.most_common())
    s.fallback = sum(reasons.values())
    s.exact = s.total - s.fallback
    return s


def _log_summary(s: PlacementSummary) -> None:
    if s.fallback:
        detail = "; ".join(
            f"{reason}: {count} (e.g. {', '.join(s.examples[reason])})"
            for reason, count in s.reasons.items()
        )
        log.warning(
            "placed %d sensors: %d exact, %d fallback -- %s", s.total, s.exact, s.fallback, detail
        )
    else:
        log.info("placed %d sensors: all exact", s.total)
