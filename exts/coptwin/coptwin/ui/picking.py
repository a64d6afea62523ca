"""A click in the viewport, mapped to the sensor whose marker it hit; framing a marker.

Markers are instances of one ``PointInstancer`` per sensor layer.  What Kit
reports for a click on one is not settled by the sources we can read: its
selection names a prim path (the instancer, or a prototype prim below it,
depending on the picking mode), and a viewport pick query
(``ViewportAPI.request_query``) answers a prim path and the picked world
position, but no instance index.  So a pick is resolved from whatever it
carries, safest first:

1. a sensor's own data prim (or a prim below it) names the sensor;
2. an instance index, when a caller has one, names it through the overlay;
3. a path that is an instancer or lies under one, plus a world position, names
   the nearest marker of that layer within reach (a marker's size);
4. otherwise nothing: an instancer path alone does not say which marker.

Framing a marker needs its position and size: a sensor's data prim is an
empty Xform, whose bounds frame nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Vec3 = tuple[float, float, float]
#: How far (in marker sizes) a picked surface point may lie from a marker's centre.
REACH = 1.5


@dataclass(frozen=True)
class Pick:
    """What a click reported: a prim path, and when known the hit point or instance."""

    path: str
    world: Vec3 | None = None
    instance: int | None = None


@dataclass(frozen=True)
class FrameTarget:
    """A marker to frame: its centre and size, in stage units."""

    center: Vec3
    size: float


def instancer_of(path: str, instancers: Iterable[str]) -> str | None:
    """The instancer ``path`` is, or lies under (its prototypes), else None."""
    for inst in instancers:
        if path == inst or path.startswith(inst.rstrip("/") + "/"):
            return inst
    return None


def nearest(point: Vec3, candidates: Iterable[tuple[str, Vec3]], reach: float) -> str | None:
    """The candidate closest to ``point`` within ``reach`` (ties: the first), else None."""
    best, best_d = None, reach
    for key, pos in candidates:
        d = math.dist(point, pos)
        if d <= best_d:
            best, best_d = key, d
    return best


def resolve_instance_pick(
    pick: Pick,
    instancers: Mapping[str, str],
    positions: Mapping[str, tuple[str, Vec3 | None]],
    marker_size: float,
    sensor_for_instance: object = None,
) -> str | None:
    """The sensor a pick on a marker instance stands for, or None (steps 2-4 above).

    ``instancers`` maps instancer paths to layer names (a layer's markers may span
    several instancers); ``positions`` maps sensor ids to (layer, marker centre);
    ``sensor_for_instance(instancer path, index)`` is the overlay's lookup.
    """
    inst = instancer_of(pick.path, instancers)
    if inst is None:
        return None
    layer = instancers[inst]
    if pick.instance is not None and callable(sensor_for_instance):
        return sensor_for_instance(inst, pick.instance)
    if pick.world is None:
        return None
    candidates = (
        (sid, pos) for sid, (lay, pos) in positions.items() if lay == layer and pos is not None
    )
    return nearest(pick.world, candidates, REACH * marker_size)


def frame_camera(eye: Vec3, target: Vec3, marker: FrameTarget, fov_deg: float = 60.0) -> tuple:
    """Camera (eye, target) that looks at ``marker`` from the current direction.

    The marker fills about a fifth of the view's height, so its surroundings
    (the building it sits on) stay in sight.
    """
    direction = [e - t for e, t in zip(eye, target, strict=True)]
    length = math.sqrt(sum(c * c for c in direction))
    if length < 1e-9:
        direction, length = [1.0, 1.0, 1.0], math.sqrt(3.0)
    unit = [c / length for c in direction]
    distance = (5.0 * max(marker.size, 1e-6)) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    new_eye = tuple(c + u * distance for c, u in zip(marker.center, unit, strict=True))
    return new_eye, tuple(marker.center)
