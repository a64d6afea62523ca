"""Views of a scene: ``oblique``, ``top``, ``sensor:ID``, ``building:ID``, and the camera
that frames each.

Every view uses a parallel (orthographic) projection, so one scale bar is true for
horizontal distances across the whole picture, and frames its content tightly: all
corners of the buildings' boxes (or the one building's, or a box around the sensor),
whatever the aspect ratio. ``oblique`` looks from the south-south-west, 40 degrees
down; ``top`` looks straight down with north up. Directions use the scene's true north
(:func:`coptwin.render.georef.north_local`), east is north turned clockwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

ViewKind = Literal["oblique", "top", "sensor", "building"]
KINDS: tuple[str, ...] = ("oblique", "top", "sensor", "building")
#: Degrees below the horizon an oblique camera looks down.
OBLIQUE_ELEVATION = 40.0
#: Degrees west of south the oblique camera stands (it looks north-north-east).
OBLIQUE_AZIMUTH = 25.0
#: Half-width (m) of the box a sensor view frames around the sensor.
SENSOR_RADIUS_M = 35.0
MAX_SIZE = 8192


@dataclass(frozen=True)
class View:
    """What the picture looks at; ``target`` is the sensor or building id."""

    kind: ViewKind = "oblique"
    target: str = ""

    @classmethod
    def parse(cls, text: str) -> View:
        kind, _, target = text.partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise ValueError(f"--view: {text!r} is not one of oblique, top, sensor:ID, building:ID")
        if kind in ("sensor", "building") and not target.strip():
            example = "S-001" if kind == "sensor" else "7001"
            raise ValueError(f"--view {kind}: needs an id, e.g. {kind}:{example}")
        if kind in ("oblique", "top") and target:
            raise ValueError(f"--view {kind} takes no id (got {text!r})")
        return cls(kind, target.strip())  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` in pixels, e.g. ``1280x720``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"--size: {text!r} is not WIDTHxHEIGHT, e.g. 1280x720")
    w, h = int(m.group(1)), int(m.group(2))
    if not (64 <= w <= MAX_SIZE and 64 <= h <= MAX_SIZE):
        raise ValueError(f"--size: {w}x{h} is outside 64..{MAX_SIZE} pixels per side")
    return w, h


@dataclass(frozen=True)
class Camera:
    """A parallel-projection camera in the render frame (z up)."""

    position: np.ndarray
    focal: np.ndarray
    up: np.ndarray
    #: Half the picture's height, in metres.
    parallel_scale: float

    def metres_per_pixel(self, height_px: int) -> float:
        return 2.0 * self.parallel_scale / height_px


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def look_direction(kind: str, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit vector from the focal point to the camera, view-up) for a view kind."""
    n = np.array([north[0], north[1], 0.0])
    e = np.array([n[1], -n[0], 0.0])  # north turned clockwise (seen from above)
    if kind == "top":
        return np.array([0.0, 0.0, 1.0]), n
    az, el = math.radians(OBLIQUE_AZIMUTH), math.radians(OBLIQUE_ELEVATION)
    towards_camera = -(math.cos(az) * n + math.sin(az) * e)
    d = _unit(math.cos(el) * towards_camera + np.array([0.0, 0.0, math.sin(el)]))
    return d, np.array([0.0, 0.0, 1.0])


def fit(
    points: np.ndarray,
    direction: np.ndarray,
    up_hint: np.ndarray,
    aspect: float,
    margin: float = 0.05,
) -> Camera:
    """The parallel camera looking along ``-direction`` that shows every point, centred."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.shape[0] == 0:
        pts = np.zeros((1, 3))
    d = _unit(direction)
    right = _unit(np.cross(-d, up_hint))
    up = np.cross(right, -d)
    x, y, z = pts @ right, pts @ up, pts @ d
    cx, cy, cz = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2, (z.min() + z.max()) / 2
    half_h = max((y.max() - y.min()) / 2.0, (x.max() - x.min()) / 2.0 / aspect, 1.0)
    focal = cx * right + cy * up + cz * d
    depth = max(float(z.max() - z.min()), 10.0)
    return Camera(
        position=focal + d * depth * 2.0,
        focal=focal,
        up=up,
        parallel_scale=half_h * (1.0 + margin),
    )


def box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The 8 corners of boxes given as (B, 3) lo / hi arrays (NaN rows dropped)."""
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    ok = np.isfinite(lo).all(axis=1) & np.isfinite(hi).all(axis=1)
    lo, hi = lo[ok], hi[ok]
    sel = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=bool)
    return np.where(sel[None], hi[:, None, :], lo[:, None, :]).reshape(-1, 3)
