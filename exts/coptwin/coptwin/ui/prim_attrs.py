"""Readable attributes of a bound building prim, for the detail area.

CityEngine exports carry the building's rule attributes (OBJECTID, height,
usage …) on the prim; coptwin adds its own status attributes in the overlay.
Stakeholders want to read them next to the sensor.  Geometry arrays are
summarised, not dumped, so a 100k-vertex building cannot stall the panel.
"""

from __future__ import annotations

from pxr import Sdf, Usd

#: Attributes that are geometry, not information.
_GEOMETRY = {
    "points",
    "normals",
    "faceVertexCounts",
    "faceVertexIndices",
    "extent",
    "primvars:st",
    "primvars:st:indices",
    "xformOpOrder",
}
MAX_TEXT = 80


def _text(value: object) -> str:
    if hasattr(value, "__len__") and not isinstance(value, str) and len(value) > 8:  # type: ignore[arg-type]
        return f"[{len(value)} values]"  # type: ignore[arg-type]
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def read_prim_attributes(
    stage: Usd.Stage | None, path: str, limit: int = 40
) -> list[tuple[str, str]]:
    """(name, value text) of the prim's authored, non-geometry attributes, by name.

    Returns [] when the stage or prim is missing (a building can be deleted
    while selected); never raises for a bad path.
    """
    if stage is None or not path or not Sdf.Path.IsValidPathString(path):
        return []
    prim = stage.GetPrimAtPath(path)
    if not prim or not prim.IsValid():
        return []
    out: list[tuple[str, str]] = []
    for attr in sorted(prim.GetAuthoredAttributes(), key=lambda a: a.GetName()):
        name = attr.GetName()
        if name in _GEOMETRY or name.startswith("xformOp:"):
            continue
        value = attr.Get()
        if value is None:
            continue
        out.append((name, _text(value)))
        if len(out) >= limit:
            break
    return out
