"""Which meshes of a city stage are buildings: one set of rules for every reader.

The scene index (placement, the browser's footprints) and the pictures (``coptwin
snapshot``, ``coptwin inspect``) all call :func:`identify_buildings` on the mesh uses
of :func:`coptwin.geo.meshes.read_stage_meshes`. Buildings are, in order of evidence:

1. prims carrying the object-id attribute (``scene.object_id_attribute``, CityEngine's
   ``CityEngine:Rule:User:OBJECTID``); every mesh below one belongs to it;
2. for meshes under no such prim, connector-style names ``<ShapeName>_<OID>``: the
   ancestor whose name ends in ``_<digits>`` and whose parent has the most children
   named that way (buildings come as many siblings under a layer prim, while
   CityEngine's ``ReportNext_<k>`` leaves are only children and a ``Layer_1`` has few).

Every other mesh is terrain (ground, streets): :data:`TERRAIN`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

TERRAIN = -1
_CONNECTOR_NAME = re.compile(r"^(?P<shape>.+?)_(?P<oid>\d+)$")
_NO_BOX = np.full(3, np.nan)
_NO_BOX.flags.writeable = False  # shared by every building without geometry


def normalize_object_id(value: object) -> str | None:
    """One spelling per id: 101, 101.0, "101" and " 101.0 " all become "101"."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            num = float(text)
        except ValueError:
            return text
        value = num
    try:
        num = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if num != num or num in (float("inf"), float("-inf")):
        return None
    return str(int(num)) if num.is_integer() else repr(num)


@dataclass
class Building:
    """One building: its prim, id and extent (local metric frame)."""

    index: int
    path: str
    object_id: str | None
    #: "attribute" (object-id attribute) or "name" (connector-style prim name)
    source: str
    bbox_min: np.ndarray = field(default_factory=lambda: _NO_BOX)
    bbox_max: np.ndarray = field(default_factory=lambda: _NO_BOX)
    tri_start: int = 0
    tri_end: int = 0

    @property
    def has_geometry(self) -> bool:
        return self.tri_end > self.tri_start

    @property
    def base(self) -> float:
        return float(self.bbox_min[2])

    @property
    def top(self) -> float:
        return float(self.bbox_max[2])


def identify_buildings(
    stage: object, paths: Sequence[str], tagged: Iterable[tuple[str, object]]
) -> tuple[list[Building], np.ndarray]:
    """Buildings, and the building index (or :data:`TERRAIN`) of every mesh path.

    ``paths`` are the mesh uses' paths as seen through instance proxies and ``tagged``
    the (path, raw value) of prims carrying the object-id attribute, both as
    :func:`coptwin.geo.meshes.read_stage_meshes` returns them. ``stage`` is asked only
    for the children of candidate parents of connector-named prims.
    """
    buildings: list[Building] = []
    building_of_path: dict[str, int] = {}
    for path, value in tagged:
        if path not in building_of_path:
            building_of_path[path] = len(buildings)
            buildings.append(
                Building(len(buildings), path, normalize_object_id(value), "attribute")
            )
    owners = _owners(paths, building_of_path)
    _assign_connector_buildings(stage, paths, owners, buildings)
    return buildings, np.asarray(owners, dtype=np.int64)


def _owners(paths: Sequence[str], building_of_path: dict[str, int]) -> list[int]:
    """The building each mesh path lies in (nearest tagged ancestor), else terrain.

    Thousands of leaves share a few parents, so the answer is kept per parent path."""
    by_parent: dict[str, int] = {}
    out = []
    for path in paths:
        own = building_of_path.get(path)
        if own is None:
            parent = path[: path.rfind("/")]
            own = by_parent.get(parent)
            if own is None:
                own = by_parent[parent] = _owner_of(parent, building_of_path)
        out.append(own)
    return out


def _owner_of(path: str, building_of_path: dict[str, int]) -> int:
    p = path
    while p:
        b = building_of_path.get(p)
        if b is not None:
            return b
        cut = p.rfind("/")
        if cut <= 0:
            break
        p = p[:cut]
    return TERRAIN


def _assign_connector_buildings(
    stage: object, paths: Sequence[str], owners: list[int], buildings: list[Building]
) -> None:
    """Meshes under no object-id prim: find ``<ShapeName>_<OID>`` ancestors (module doc)."""
    from pxr import Usd

    pred = Usd.TraverseInstanceProxies()
    sibling_score: dict[str, int] = {}

    def score(parent: str) -> int:
        if parent not in sibling_score:
            prim = stage.GetPrimAtPath(parent)  # type: ignore[attr-defined]
            names = [c.GetName() for c in prim.GetFilteredChildren(pred)] if prim else []
            sibling_score[parent] = sum(1 for n in names if _CONNECTOR_NAME.match(n))
        return sibling_score[parent]

    by_path: dict[str, int] = {}
    for k, (path, own) in enumerate(zip(paths, owners, strict=True)):
        if own != TERRAIN:
            continue
        parts = path.strip("/").split("/")
        best: tuple[int, int, str, str] | None = None  # (score, -depth, path, oid)
        for depth in range(len(parts)):
            m = _CONNECTOR_NAME.match(parts[depth])
            if not m:
                continue
            prefix = "/" + "/".join(parts[: depth + 1])
            parent = "/" + "/".join(parts[:depth]) if depth else "/"
            s = score(parent)
            if s < 2:
                continue
            cand = (s, -depth, prefix, m.group("oid"))
            if best is None or cand[:2] > best[:2]:
                best = cand
        if best is None:
            continue
        bpath, oid = best[2], best[3]
        if bpath not in by_path:
            by_path[bpath] = len(buildings)
            buildings.append(Building(len(buildings), bpath, normalize_object_id(oid), "name"))
        owners[k] = by_path[bpath]
