"""Where a scene's georeference comes from, and which way is north in it.

Order, as :meth:`coptwin.geo.frame.SceneFrame.from_stage` ranks them: the config's
``[scene]`` (crs + global_offset or enu_origin), a CityEngine ``global_offset.json``
sidecar, a Cesium georeference prim, ``omni:geospatial`` attributes; else none, and
then the picture says so instead of drawing a north arrow it cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from coptwin.config import SceneConfig
from coptwin.geo.errors import SceneError
from coptwin.geo.frame import SceneFrame, georeference_from_config, georeference_from_stage
from coptwin.geo.sidecar import find_sidecar

Source = Literal["config", "sidecar", "cesium", "omni", "none"]


@dataclass(frozen=True)
class Found:
    """The frame (None when the scene is not georeferenced) and where it came from."""

    frame: SceneFrame | None
    source: Source
    detail: str = ""

    def describe(self) -> str:
        if self.frame is None:
            return "none (no config, sidecar, Cesium or omni:geospatial georeference)"
        g = self.frame.georef
        if g.kind == "projected":
            what = f"{g.crs}, offset {list(g.offset)}"
        else:
            lat, lon, h = g.origin or (0.0, 0.0, 0.0)
            what = f"ENU origin lat {lat:.6f} lon {lon:.6f} h {h:.2f}"
        names = {"config": "config", "sidecar": "sidecar", "cesium": "Cesium", "omni": "omni"}
        return f"{what} ({names[self.source]} {self.detail})"


def discover(stage: Any, scene_path: Path | None, scene_cfg: SceneConfig | None = None) -> Found:
    """The georeference of an open stage (see module doc); a broken one raises SceneError."""
    if scene_cfg is not None and georeference_from_config(scene_cfg) is not None:
        return Found(SceneFrame.from_stage(stage, scene_cfg), "config", "[scene]")
    base = scene_cfg or SceneConfig()
    if scene_path is not None:
        sidecar = find_sidecar(scene_path)
        if sidecar is not None and sidecar.crs:
            frame = SceneFrame.from_stage(stage, sidecar.scene_config(base))
            return Found(frame, "sidecar", sidecar.path.name)
    georef = georeference_from_stage(stage)
    if georef is not None:
        frame = SceneFrame.from_stage(stage, base)
        kind: Source = "cesium" if georef.source.startswith("cesium") else "omni"
        return Found(frame, kind, georef.source)
    return Found(None, "none")


def north_local(frame: SceneFrame | None, centre_local: np.ndarray) -> np.ndarray | None:
    """Unit (east, north) direction of true north at ``centre_local`` (local metres).

    A projected CRS's grid north differs from true north by the meridian convergence;
    this steps 1e-4 degrees of latitude through the frame, so both kinds of georeference
    give true north. None without a georeference.
    """
    if frame is None:
        return None
    try:
        lon, lat, h = frame.local_to_lonlat(np.asarray(centre_local, dtype=np.float64))
        step = frame.lonlat_to_local(lon, lat + 1e-4, h)[0] - np.asarray(centre_local)
    except SceneError:  # pragma: no cover - frames are checked when built
        return None
    d = step[:2]
    n = float(np.hypot(*d))
    if not np.isfinite(n) or n == 0.0:
        return None
    return d / n
