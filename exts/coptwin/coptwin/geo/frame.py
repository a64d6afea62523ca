"""The scene's coordinate frame: WGS84 lon/lat/height <-> stage coordinates.

A CityEngine export does not record its CRS or global offset, Omniverse scenes may be
Z-up and in centimetres, and Cesium / omni.geospatial scenes carry an ENU origin instead.
:class:`SceneFrame` reads what the stage says (upAxis, metersPerUnit, georeference
attributes), takes the rest from :class:`~coptwin.config.SceneConfig`, and converts in
both directions, vectorised and in float64 (projected coordinates are ~5e6 m; float32
would lose decimetres before the offset brings them near the origin).

Conventions
-----------
*Local metric frame* ``L = (east, north, up)`` in metres, right-handed, Z-up. The stage
frame is ``L`` with its axes mapped to the stage's up axis, divided by metersPerUnit:

* upAxis Y (CityEngine):  ``stage = (L_e, L_u, -L_n) / mpu``   (x east, y up, z south)
* upAxis Z (Omniverse):   ``stage = (L_e, L_n,  L_u) / mpu``   (x east, y north, z up)

i.e. a Z-up stage is the Y-up one turned +90 degrees about X, the usual Y->Z-up
conversion, so the same city content lines up in both.

Georeference, where ``off`` is CityEngine's globalOffset, always given in CityEngine's
own Y-up frame ``(x=E, y=h, z=-N)`` as the exporter takes it (``USD = CE + off``):

* projected CRS:  ``L = (E + off[0], N - off[2], h + off[1])``; off = 0 -> raw projected.
* ENU origin:     ``L = ENU(lon, lat, h)`` about the origin (via ECEF, exact).

Sensor heights get ``vertical_offset_m`` added (geoid vs ellipsoid, site datum).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from coptwin.config import SceneConfig
from coptwin.geo.errors import SceneError

log = logging.getLogger(__name__)

CESIUM_LAT = "cesium:georeferenceOrigin:latitude"
CESIUM_LON = "cesium:georeferenceOrigin:longitude"
CESIUM_HEIGHT = "cesium:georeferenceOrigin:height"
OMNI_REF_POSITION = "omni:geospatial:wgs84:reference:referencePosition"
OMNI_TANGENT_PLANE = "omni:geospatial:wgs84:reference:tangentPlane"
OMNI_ORIENTATION = "omni:geospatial:wgs84:reference:orientation"


@dataclass(frozen=True)
class Georeference:
    """How scene coordinates tie to the Earth, and where that came from (for logs/UI)."""

    kind: Literal["projected", "enu"]
    #: e.g. "config scene.crs", "cesium prim /CesiumGeoreference", "config scene.enu_origin"
    source: str
    crs: str | None = None
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: ENU origin as (lat, lon, ellipsoidal height m)
    origin: tuple[float, float, float] | None = None

    def describe(self) -> str:
        if self.kind == "projected":
            return f"{self.crs} offset {list(self.offset)} ({self.source})"
        lat, lon, h = self.origin or (0.0, 0.0, 0.0)
        return f"ENU origin lat {lat:.8f} lon {lon:.8f} h {h:.3f} ({self.source})"


@functools.lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    """pyproj transformers are slow to build; cache them (they are thread-safe to reuse)."""
    return Transformer.from_crs(src, dst, always_xy=True)


def _check_crs(crs: str) -> str:
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        raise SceneError(f"{crs!r} is not a known CRS ({exc})", key="scene.crs") from None
    if not parsed.is_projected:
        raise SceneError(
            f"{crs!r} is not a projected CRS; CityEngine scenes use a projected "
            f"CRS in metres (e.g. a UTM zone such as EPSG:32618)",
            key="scene.crs",
        )
    return crs


def _as_array(values: object, n: int | None = None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if n is not None and arr.shape[0] == 1 and n != 1:
        arr = np.full(n, arr[0])
    return arr


def _enu_rotation(lat: float, lon: float) -> np.ndarray:
    """Rows: east, north, up unit vectors in ECEF."""
    phi, lam = math.radians(lat), math.radians(lon)
    sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
    return np.array(
        [[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]], dtype=np.float64
    )


class SceneFrame:
    """Converts between WGS84 (lon, lat, h), the local metric frame and the stage frame."""

    def __init__(
        self,
        up_axis: str,
        meters_per_unit: float,
        georef: Georeference,
        vertical_offset_m: float = 0.0,
    ) -> None:
        if up_axis not in ("Y", "Z"):
            raise SceneError(f"unsupported upAxis {up_axis!r}: expected 'Y' or 'Z'")
        if not (meters_per_unit > 0 and math.isfinite(meters_per_unit)):
            raise SceneError(f"invalid metersPerUnit {meters_per_unit!r}: expected a number > 0")
        self.up_axis = up_axis
        self.meters_per_unit = float(meters_per_unit)
        self.georef = georef
        self.vertical_offset_m = float(vertical_offset_m)
        if georef.kind == "projected":
            if not georef.crs:
                raise SceneError("a projected georeference needs a CRS")
            crs = _check_crs(georef.crs)
            self._fwd = _transformer("EPSG:4326", crs)
            self._inv = _transformer(crs, "EPSG:4326")
        else:
            if georef.origin is None:
                raise SceneError("an ENU georeference needs an origin (lat, lon, height)")
            lat, lon, h = georef.origin
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0 and math.isfinite(h)):
                raise SceneError(f"ENU origin out of range: lat {lat}, lon {lon}, h {h}")
            self._to_ecef = _transformer("EPSG:4979", "EPSG:4978")
            self._from_ecef = _transformer("EPSG:4978", "EPSG:4979")
            self._rot = _enu_rotation(lat, lon)
            ox, oy, oz = self._to_ecef.transform(lon, lat, h)
            self._ecef0 = np.array([ox, oy, oz], dtype=np.float64)

    def __repr__(self) -> str:
        return (
            f"SceneFrame(upAxis={self.up_axis}, metersPerUnit={self.meters_per_unit}, "
            f"{self.georef.describe()}, vertical_offset_m={self.vertical_offset_m})"
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_stage(cls, stage: object, scene_cfg: SceneConfig) -> SceneFrame:
        """Frame of an open ``Usd.Stage``: axes from its metadata, georeference from config/stage.

        Georeference precedence: ``scene.crs`` (+ ``global_offset``), ``scene.enu_origin``,
        a Cesium georeference prim, ``omni:geospatial:wgs84:reference:*`` attributes.
        Explicit configuration wins over what a stage happens to carry, so an operator can
        always override a stale or wrong georeference prim.
        """
        up_axis, mpu = read_axes(stage)
        georef = georeference_from_config(scene_cfg) or georeference_from_stage(stage)
        if georef is None:
            raise SceneError(
                "the scene has no georeference: set scene.crs (and scene.global_offset for "
                "a CityEngine export, e.g. from its global_offset.json) or scene.enu_origin, "
                "or add a Cesium georeference prim / omni:geospatial:wgs84 reference attributes",
                key="scene.crs",
            )
        frame = cls(str(up_axis), mpu, georef, scene_cfg.vertical_offset_m)
        log.info("scene frame: %r", frame)
        return frame

    # ------------------------------------------------------------------ stage <-> local
    def local_to_stage(self, local: np.ndarray) -> np.ndarray:
        """(N,3) local metres -> (N,3) stage coordinates."""
        loc = np.asarray(local, dtype=np.float64).reshape(-1, 3)
        out = np.empty_like(loc)
        if self.up_axis == "Y":
            out[:, 0], out[:, 1], out[:, 2] = loc[:, 0], loc[:, 2], -loc[:, 1]
        else:
            out[:] = loc
        return out / self.meters_per_unit

    def stage_to_local(self, points: np.ndarray) -> np.ndarray:
        """(N,3) stage coordinates -> (N,3) local metres (east, north, up)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3) * self.meters_per_unit
        out = np.empty_like(pts)
        if self.up_axis == "Y":
            out[:, 0], out[:, 1], out[:, 2] = pts[:, 0], -pts[:, 2], pts[:, 1]
        else:
            out[:] = pts
        return out

    # ------------------------------------------------------------------ geodetic <-> local
    def lonlat_to_local(
        self, lon: object, lat: object, h: object = None, *, apply_vertical_offset: bool = True
    ) -> np.ndarray:
        """WGS84 degrees (+ height, metres; None = 0) -> (N,3) local metres.

        Non-finite or out-of-range input gives NaN rows, never an exception, so one bad
        sensor cannot stop a batch; callers count those rows.
        """
        lon_a = _as_array(lon)
        lat_a = _as_array(lat, lon_a.shape[0])
        n = lon_a.shape[0]
        if lat_a.shape[0] != n:
            raise ValueError(f"lon and lat differ in length ({n} vs {lat_a.shape[0]})")
        # unknown heights: 0 in the CRS datum, or the ENU origin's height (so the
        # horizontal position is that of a point near the scene, not on the ellipsoid)
        default_h = 0.0 if self.georef.kind == "projected" else self.georef.origin[2]  # type: ignore[index]
        h_a = np.full(n, default_h) if h is None else _as_array(h, n).copy()
        h_a = np.where(np.isfinite(h_a), h_a, default_h)
        if apply_vertical_offset:
            h_a = h_a + self.vertical_offset_m
        bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a) & (np.abs(lat_a) <= 90.0))
        lon_c = np.where(bad, 0.0, lon_a)
        lat_c = np.where(bad, 0.0, lat_a)
        out = np.empty((n, 3), dtype=np.float64)
        if self.georef.kind == "projected":
            e, nn = self._fwd.transform(lon_c, lat_c)
            ox, oy, oz = self.georef.offset
            out[:, 0] = np.asarray(e, dtype=np.float64) + ox
            out[:, 1] = np.asarray(nn, dtype=np.float64) - oz
            out[:, 2] = h_a + oy
        else:
            x, y, z = self._to_ecef.transform(lon_c, lat_c, h_a)
            d = np.column_stack([x, y, z]).astype(np.float64) - self._ecef0
            out[:] = d @ self._rot.T
        out[bad | ~np.isfinite(out).all(axis=1)] = np.nan
        return out

    def local_to_lonlat(
        self, local: np.ndarray, *, apply_vertical_offset: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,3) local metres -> (lon, lat, h) arrays (inverse of :meth:`lonlat_to_local`)."""
        loc = np.asarray(local, dtype=np.float64).reshape(-1, 3)
        if self.georef.kind == "projected":
            ox, oy, oz = self.georef.offset
            lon, lat = self._inv.transform(loc[:, 0] - ox, loc[:, 1] + oz)
            h = loc[:, 2] - oy
        else:
            ecef = loc @ self._rot + self._ecef0
            lon, lat, h = self._from_ecef.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        h = np.asarray(h, dtype=np.float64)
        if apply_vertical_offset:
            h = h - self.vertical_offset_m
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), h

    def datum_height_to_local_up(self, lon: object, lat: object, h: float) -> np.ndarray:
        """Local up coordinate of a height given in the scene's vertical datum.

        Used for ``scene.ground_elevation_m``, which is already in the CRS datum and so
        does not get ``vertical_offset_m``.
        """
        return self.lonlat_to_local(lon, lat, h, apply_vertical_offset=False)[:, 2]

    # ------------------------------------------------------------------ geodetic <-> stage
    def lonlat_to_stage(self, lon: object, lat: object, h: object = None) -> np.ndarray:
        """WGS84 degrees (+ height in metres) -> (N,3) float64 stage coordinates."""
        return self.local_to_stage(self.lonlat_to_local(lon, lat, h))

    def stage_to_lonlat(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N,3) stage coordinates -> (lon, lat, h) in WGS84 degrees and metres."""
        return self.local_to_lonlat(self.stage_to_local(points))


# ---------------------------------------------------------------------- stage metadata
def read_axes(stage: object) -> tuple[str, float]:
    """upAxis and metersPerUnit as the stage states them (USD's fallbacks when unauthored)."""
    from pxr import UsdGeom

    up_axis = str(UsdGeom.GetStageUpAxis(stage))
    mpu = float(UsdGeom.GetStageMetersPerUnit(stage))
    if not stage.HasAuthoredMetadata("upAxis"):  # type: ignore[attr-defined]
        log.warning("stage has no upAxis metadata; using USD's fallback %s", up_axis)
    if not stage.HasAuthoredMetadata("metersPerUnit"):  # type: ignore[attr-defined]
        log.warning("stage has no metersPerUnit metadata; using USD's fallback %s", mpu)
    return up_axis, mpu


def axis_matrix(up_axis: str, meters_per_unit: float) -> np.ndarray:
    """4x4 row-vector matrix: stage coordinates -> local metres (east, north, up).

    :meth:`SceneFrame.stage_to_local` as a matrix, so it folds into instance matrices.
    """
    m = np.eye(4)
    if up_axis == "Y":  # (x, y, z) -> (x, -z, y)
        m[:3, :3] = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]
    m[:3, :3] *= meters_per_unit
    return m


def georeference_from_config(scene_cfg: SceneConfig) -> Georeference | None:
    """The georeference the config gives, if any (crs wins over enu_origin)."""
    if scene_cfg.crs:
        if scene_cfg.enu_origin is not None:
            log.warning("both scene.crs and scene.enu_origin are set; using scene.crs")
        off = tuple(float(v) for v in scene_cfg.global_offset)
        if len(off) != 3 or not all(math.isfinite(v) for v in off):
            raise SceneError(f"expected three finite numbers, got {off}", key="scene.global_offset")
        return Georeference(
            kind="projected",
            source="config scene.crs",
            crs=_check_crs(scene_cfg.crs),
            offset=(off[0], off[1], off[2]),
        )
    if scene_cfg.enu_origin is not None:
        o = scene_cfg.enu_origin
        return Georeference(
            kind="enu", source="config scene.enu_origin", origin=(o.lat, o.lon, o.height)
        )
    return None


def _get(prim: object, name: str) -> object:
    attr = prim.GetAttribute(name)  # type: ignore[attr-defined]
    if attr and attr.HasAuthoredValue():
        return attr.Get()
    return None


def georeference_from_stage(stage: object) -> Georeference | None:
    """A Cesium georeference prim or omni.geospatial reference attributes, if present.

    Every prim is asked once for its authored property names (through the class, which
    skips USD's per-access validity check), not up to three attributes each: this walk
    visits the whole stage (100k prims in a 50k-building city).
    """
    from pxr import Usd

    authored_names = Usd.Prim.GetAuthoredPropertyNames
    omni_found: Georeference | None = None
    for prim in stage.Traverse():  # type: ignore[attr-defined]
        names = authored_names(prim)
        if (CESIUM_LAT not in names or CESIUM_LON not in names) and OMNI_REF_POSITION not in names:
            continue
        lat, lon = _get(prim, CESIUM_LAT), _get(prim, CESIUM_LON)
        if lat is not None and lon is not None:
            h = _get(prim, CESIUM_HEIGHT)
            return Georeference(
                kind="enu",
                source=f"cesium prim {prim.GetPath()}",
                origin=(float(lat), float(lon), float(h or 0.0)),
            )
        ref = _get(prim, OMNI_REF_POSITION)
        if ref is not None and omni_found is None:
            omni_found = _omni_georeference(prim, ref)
    return omni_found


def _omni_georeference(prim: object, ref: object) -> Georeference:
    """omni.usd.schema.geospatial: referencePosition is (latitude, longitude, altitude)."""
    path = prim.GetPath()  # type: ignore[attr-defined]
    try:
        lat, lon, h = (float(v) for v in ref)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise SceneError(
            f"{path}: {OMNI_REF_POSITION} must be (latitude, longitude, altitude)"
        ) from None
    plane = str(_get(prim, OMNI_TANGENT_PLANE) or "ENU").upper()
    if plane != "ENU":
        raise SceneError(
            f"{path}: {OMNI_TANGENT_PLANE} = {plane!r} is not supported; coptwin supports "
            f"ENU tangent planes (set scene.enu_origin in the config to override)"
        )
    orient = _get(prim, OMNI_ORIENTATION)
    if orient is not None and any(abs(float(v)) > 1e-9 for v in orient):  # type: ignore[union-attr]
        log.warning("%s: %s %s is ignored (assumed 0, 0, 0)", path, OMNI_ORIENTATION, orient)
    return Georeference(kind="enu", source=f"omni:geospatial on {path}", origin=(lat, lon, h))
