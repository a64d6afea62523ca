"""Marker prototypes: one small implicit shape per sensor kind, sized in metres.

A kind's shape tells operators what a marker is before they read its colour (colour is
the status).  Sizes are given in metres and converted with the stage's metersPerUnit;
axial shapes point along the stage's up axis; every prototype is lifted by half its
size so the marker sits on the placement point (roof, ground) instead of being half
buried in it.  No displayColor is authored here: per-instance colours on the
PointInstancer must win, and a prototype's own primvar would override them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pxr import Gf, Sdf, Vt

log = logging.getLogger(__name__)

SHAPES: tuple[str, ...] = ("sphere", "cube", "cone", "cylinder", "capsule")

#: Default shape per sensor kind; kinds not listed get a sphere.
DEFAULT_SHAPES: dict[str, str] = {
    "temperature": "sphere",
    "air_quality": "sphere",
    "humidity": "sphere",
    "motion": "cone",
    "camera": "cube",
    "gps_tracker": "capsule",
    "water_level": "cylinder",
    "power_meter": "cube",
}

_T = Sdf.ValueTypeNames


def shape_for(kind: str, overrides: Mapping[str, str] | None = None) -> str:
    """The marker shape of a sensor kind (unknown shape names fall back to sphere)."""
    shape = (overrides or {}).get(kind) or DEFAULT_SHAPES.get(kind, "sphere")
    if shape not in SHAPES:
        log.warning("unknown marker shape %r for kind %r; using a sphere", shape, kind)
        return "sphere"
    return shape


def _set(
    prim: Sdf.PrimSpec, name: str, type_name: object, value: object, uniform: bool = False
) -> None:
    var = Sdf.VariabilityUniform if uniform else Sdf.VariabilityVarying
    Sdf.AttributeSpec(prim, name, type_name, var, False).default = value


def author_prototype(
    parent: Sdf.PrimSpec, name: str, shape: str, size_units: float, up_axis: str
) -> Sdf.PrimSpec:
    """Author ``parent/<name>`` (Xform, lifted) with a ``Shape`` gprim; returns the Xform."""
    up = up_axis.upper() if up_axis.upper() in ("Y", "Z") else "Y"
    s = float(size_units)
    proto = Sdf.PrimSpec(parent, name, Sdf.SpecifierDef, "Xform")
    lift = Gf.Vec3d(0.0, s / 2.0, 0.0) if up == "Y" else Gf.Vec3d(0.0, 0.0, s / 2.0)
    _set(proto, "xformOp:translate", _T.Double3, lift)
    _set(proto, "xformOpOrder", _T.TokenArray, Vt.TokenArray(["xformOp:translate"]), True)
    if shape == "cube":
        gprim = Sdf.PrimSpec(proto, "Shape", Sdf.SpecifierDef, "Cube")
        _set(gprim, "size", _T.Double, s)
        half = (s / 2.0, s / 2.0, s / 2.0)
    elif shape in ("cone", "cylinder"):
        gprim = Sdf.PrimSpec(proto, "Shape", Sdf.SpecifierDef, shape.capitalize())
        r = s / 2.0 if shape == "cone" else s * 0.35
        _set(gprim, "height", _T.Double, s)
        _set(gprim, "radius", _T.Double, r)
        _set(gprim, "axis", _T.Token, up, True)
        half = (r, s / 2.0, r) if up == "Y" else (r, r, s / 2.0)
    elif shape == "capsule":
        gprim = Sdf.PrimSpec(proto, "Shape", Sdf.SpecifierDef, "Capsule")
        r = s / 4.0
        _set(gprim, "height", _T.Double, s / 2.0)
        _set(gprim, "radius", _T.Double, r)
        _set(gprim, "axis", _T.Token, up, True)
        half = (r, s / 2.0, r) if up == "Y" else (r, r, s / 2.0)
    else:
        gprim = Sdf.PrimSpec(proto, "Shape", Sdf.SpecifierDef, "Sphere")
        _set(gprim, "radius", _T.Double, s / 2.0)
        half = (s / 2.0, s / 2.0, s / 2.0)
    extent = Vt.Vec3fArray([Gf.Vec3f(*(-h for h in half)), Gf.Vec3f(*half)])
    _set(gprim, "extent", _T.Float3Array, extent)
    return proto
