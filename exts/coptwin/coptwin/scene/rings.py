"""Alarm rings: markers whose alarm awaits acknowledgement stand out with a ring.

ISA-18.2 asks that an unacknowledged alarm look different from an acknowledged one.
A marker's colour is its sensor's status; the ring says "nobody has acknowledged
this yet".  All rings are one ``PointInstancer`` of one flat torus prototype
(``<root>/Alarms/Rings``), in the overlay layer beside the markers and pins, so the
stage thread writes three arrays when the set of rings changes, and nothing when it
does not.  A ring lies in the ground plane around its marker at the marker's centre;
its colour is the alarm's status colour while the condition is active and white
once it has returned (the alarm still needs an acknowledgement).

The rings read only what :class:`coptwin.scene.pins.PinHost` names of the overlay
(its layer, root, units and up axis), not the markers' own instancers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from coptwin.model.palette import color
from coptwin.scene.pins import PinHost, _set_attr, _up_index

SCOPE_NAME = "Alarms"
RETURNED_RGB = (1.0, 1.0, 1.0)
#: Ring radius and tube radius as fractions of the marker size.
RING_RADIUS = 0.85
TUBE_RADIUS = 0.09


class Ring(NamedTuple):
    """One ring: where (stage coordinates, the marker's placement point) and its colour."""

    sensor_id: str
    position: tuple[float, float, float]
    #: the alarm's status ("alarm", "warn", ...) while active; None once it returned
    status: str | None


def ring_path(host: PinHost) -> Any:
    from pxr import Sdf

    return Sdf.Path(str(host.root_path)).AppendChild(SCOPE_NAME).AppendChild("Rings")


def torus(radius: float, tube: float, up: int, segments: int = 32, sides: int = 6):
    """A torus mesh around the up axis: (points (N, 3), face vertex counts, indices)."""
    u = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    v = np.linspace(0.0, 2 * math.pi, sides, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    r = radius + tube * np.cos(vv)
    a, b, h = r * np.cos(uu), r * np.sin(uu), tube * np.sin(vv)
    pts = np.zeros((segments * sides, 3))
    flat = [i for i in range(3) if i != up]
    pts[:, flat[0]], pts[:, flat[1]], pts[:, up] = a.ravel(), b.ravel(), h.ravel()
    i, j = np.meshgrid(np.arange(segments), np.arange(sides), indexing="ij")
    i2, j2 = (i + 1) % segments, (j + 1) % sides
    quads = np.stack([i * sides + j, i2 * sides + j, i2 * sides + j2, i * sides + j2], axis=-1)
    return pts, np.full(segments * sides, 4, dtype=np.int32), quads.reshape(-1).astype(np.int32)


class AlarmRings:
    """The ring instancer in one overlay; :meth:`show` on the stage's thread."""

    def __init__(self, host: PinHost, marker_size_m: float) -> None:
        self.host = host
        self.marker_size_m = marker_size_m
        self._shown: tuple | None = None
        self._attrs: dict[str, Any] = {}

    def _ensure(self) -> None:
        if self._attrs:
            return
        from pxr import Gf, Sdf, Vt

        host, types = self.host, Sdf.ValueTypeNames
        path = ring_path(host)
        scope = host.layer.GetPrimAtPath(path.GetParentPath())
        if scope is None:
            scope = Sdf.CreatePrimInLayer(host.layer, path.GetParentPath())
            scope.specifier, scope.typeName = Sdf.SpecifierDef, "Xform"
        inst = Sdf.PrimSpec(scope, "Rings", Sdf.SpecifierDef, "PointInstancer")
        protos = Sdf.PrimSpec(inst, "Prototypes", Sdf.SpecifierDef, "Scope")
        mesh = Sdf.PrimSpec(protos, "Ring", Sdf.SpecifierDef, "Mesh")
        size = self.marker_size_m / (host.meters_per_unit or 1.0)
        up = _up_index(host.up_axis)
        pts, counts, indices = torus(RING_RADIUS * size, TUBE_RADIUS * size, up)
        pts[:, up] += size / 2.0  # around the marker's centre (markers sit on their point)
        for name, typ, value in (
            ("points", types.Point3fArray, Vt.Vec3fArray.FromNumpy(pts.astype(np.float32))),
            ("faceVertexCounts", types.IntArray, Vt.IntArray.FromNumpy(counts)),
            ("faceVertexIndices", types.IntArray, Vt.IntArray.FromNumpy(indices)),
        ):
            _set_attr(mesh, name, typ, value, custom=False)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        extent = Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))])
        _set_attr(mesh, "extent", types.Float3Array, extent, custom=False)
        _set_attr(mesh, "subdivisionScheme", types.Token, "none", custom=False, uniform=True)
        rel = Sdf.RelationshipSpec(inst, "prototypes", False)
        rel.targetPathList.explicitItems.append(mesh.path)
        for key, name, typ in (
            ("positions", "positions", types.Point3fArray),
            ("colors", "primvars:displayColor", types.Color3fArray),
            ("proto", "protoIndices", types.IntArray),
        ):
            self._attrs[key] = Sdf.AttributeSpec(inst, name, typ, Sdf.VariabilityVarying, False)
        self._attrs["colors"].SetInfo("interpolation", "vertex")

    def show(self, rings: Sequence[Ring]) -> bool:
        """Draw exactly ``rings`` (stage thread); True when anything was written."""
        key = tuple(rings)
        if key == self._shown:
            return False
        from pxr import Sdf, Vt

        n = len(rings)
        pos = np.array([r.position for r in rings], dtype=np.float32).reshape(n, 3)
        rgb = np.array(
            [color(r.status) if r.status else RETURNED_RGB for r in rings], dtype=np.float32
        ).reshape(n, 3)
        with Sdf.ChangeBlock():
            self._ensure()
            self._attrs["positions"].default = Vt.Vec3fArray.FromNumpy(pos)
            self._attrs["colors"].default = Vt.Vec3fArray.FromNumpy(rgb)
            self._attrs["proto"].default = Vt.IntArray.FromNumpy(np.zeros(n, dtype=np.int32))
        self._shown = key
        return True
