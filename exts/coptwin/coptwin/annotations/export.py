"""Export notes for GIS tools and spreadsheets: GeoJSON and CSV.

GeoJSON follows RFC 7946: a FeatureCollection of Points in WGS84
``[lon, lat, h]`` (h in metres), one feature per note (replies too, with
``parent_id`` / ``thread_id`` so a GIS can group them); the stage (scene)
coordinates ride along as ``scene_x/y/z`` properties with the georeference
used.  A note whose target cannot be located (a prim that left the scene, a
sensor without position) keeps its feature with ``"geometry": null`` rather
than disappearing.

CSV has the same columns flat.  Because spreadsheets execute cells starting
with ``= + - @`` (also after leading blanks, and in full-width forms), such
cells are prefixed with ``'`` unless ``spreadsheet_safe`` is off: the text is
data, never a formula.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from coptwin.annotations.fold import AnnotationBook
from coptwin.annotations.model import Annotation, AnnotationError, Target

log = logging.getLogger(__name__)

XYZ = tuple[float, float, float]


@dataclass(frozen=True)
class Location:
    """Where a note is: WGS84 degrees / metres, and stage coordinates when known."""

    lon: float
    lat: float
    h: float
    scene: XYZ | None = None


class Locator:
    """Target -> :class:`Location`.

    ``frame``: a :class:`coptwin.geo.frame.SceneFrame` (stage <-> WGS84);
    ``resolve_target``: target -> stage position (e.g.
    :class:`coptwin.scene.pins.TargetResolver`); ``sensor_lonlat``: sensor id ->
    ``(lon, lat, alt | None)`` from the sensors table, used when a sensor has no
    stage position or there is no frame.
    """

    def __init__(
        self,
        frame: Any | None = None,
        resolve_target: Callable[[str], XYZ | None] | None = None,
        sensor_lonlat: Mapping[str, tuple[float, float, float | None]] | None = None,
    ) -> None:
        self.frame = frame
        self._resolve = resolve_target
        self._sensors = sensor_lonlat or {}

    @property
    def crs_description(self) -> str:
        georef = getattr(self.frame, "georef", None)
        return georef.describe() if georef is not None else ""

    def __call__(self, target: str) -> Location | None:
        try:
            parsed = Target.parse(target)
        except AnnotationError:
            return None
        xyz = self._resolve(target) if self._resolve is not None else parsed.point
        if xyz is not None and self.frame is not None:
            lon, lat, h = self.frame.stage_to_lonlat([xyz])
            loc = Location(float(lon[0]), float(lat[0]), float(h[0]), tuple(map(float, xyz)))
            if all(math.isfinite(v) for v in (loc.lon, loc.lat, loc.h)):
                return loc
        if parsed.kind == "sensor" and parsed.value in self._sensors:
            lon, lat, alt = self._sensors[parsed.value]
            h = float(alt) if alt is not None and math.isfinite(alt) else 0.0
            if xyz is None and self.frame is not None:
                xyz = tuple(float(v) for v in self.frame.lonlat_to_stage(lon, lat, h)[0])
            return Location(float(lon), float(lat), h, xyz)
        return None


_COLUMNS = (
    "annotation_id",
    "thread_id",
    "parent_id",
    "status",
    "author",
    "created_at",
    "updated_at",
    "updated_by",
    "edited",
    "target",
    "target_kind",
    "lon",
    "lat",
    "h",
    "scene_x",
    "scene_y",
    "scene_z",
    "text",
)


def _iso(when) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


def _notes(book: AnnotationBook, status: str | None) -> list[Annotation]:
    """Threads whose root matches ``status`` (None: all), replies after their root."""
    out: list[Annotation] = []
    for root in book.roots(status):
        out.extend(book.thread(root.annotation_id))
    return out


def records(book: AnnotationBook, locate: Locator, status: str | None = None) -> list[dict]:
    """One flat record per note (the CSV rows and the GeoJSON properties)."""
    rows, unlocated = [], 0
    for note in _notes(book, status):
        loc = locate(note.target)
        unlocated += loc is None
        scene = loc.scene if loc is not None and loc.scene is not None else (None, None, None)
        try:
            kind = Target.parse(note.target).kind
        except AnnotationError:
            kind = "invalid"
        rows.append(
            {
                "annotation_id": note.annotation_id,
                "thread_id": book.root_of(note.annotation_id),
                "parent_id": note.parent_id,
                "status": note.status,
                "author": note.author,
                "created_at": _iso(note.created_at),
                "updated_at": _iso(note.updated_at),
                "updated_by": note.updated_by,
                "edited": note.edited,
                "target": note.target,
                "target_kind": kind,
                "lon": loc.lon if loc else None,
                "lat": loc.lat if loc else None,
                "h": loc.h if loc else None,
                "scene_x": scene[0],
                "scene_y": scene[1],
                "scene_z": scene[2],
                "text": note.text,
            }
        )
    if unlocated:
        log.warning("export: %d notes could not be located and have no geometry", unlocated)
    return rows


def to_geojson(book: AnnotationBook, locate: Locator, status: str | None = None) -> dict:
    """A GeoJSON FeatureCollection (dict) of the notes."""
    features = []
    crs = locate.crs_description
    for rec in records(book, locate, status):
        lon, lat, h = rec.pop("lon"), rec.pop("lat"), rec.pop("h")
        geometry = None if lon is None else {"type": "Point", "coordinates": [lon, lat, h]}
        rec["scene_crs"] = crs or None
        features.append(
            {"type": "Feature", "id": rec["annotation_id"], "geometry": geometry, "properties": rec}
        )
    return {"type": "FeatureCollection", "features": features}


def geojson_text(book: AnnotationBook, locate: Locator, status: str | None = None) -> str:
    """GeoJSON as text (UTF-8 safe, no NaN)."""
    return json.dumps(to_geojson(book, locate, status), ensure_ascii=False, allow_nan=False)


#: Cell starts spreadsheets treat as a formula (OWASP "CSV injection"): = + - @,
#: tab and CR, also after leading whitespace (spreadsheets trim it) and in their
#: full-width and small forms (＝ ＋ － ＠, ﹦ ﹢ ﹣ ﹫), which some spreadsheets and
#: IMEs fold to ASCII.  ``\s`` is Unicode-aware (no-break and ideographic spaces).
_FORMULA_START = (
    r"^(?:[\t\r]|\s*[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}\x{FE66}\x{FE62}\x{FE63}\x{FE6B}])"
)


def to_csv_frame(
    book: AnnotationBook,
    locate: Locator,
    status: str | None = None,
    spreadsheet_safe: bool = True,
) -> pl.DataFrame:
    """The notes as a flat frame (write it with ``write_csv``)."""
    frame = pl.DataFrame(
        records(book, locate, status),
        schema={
            c: (
                pl.Float64
                if c in ("lon", "lat", "h", "scene_x", "scene_y", "scene_z")
                else pl.Boolean
                if c == "edited"
                else pl.String
            )
            for c in _COLUMNS
        },
        orient="row",
    )
    if spreadsheet_safe:
        text_cols = ("author", "updated_by", "target", "text")
        frame = frame.with_columns(
            pl.when(pl.col(c).str.contains(_FORMULA_START))
            .then(pl.lit("'") + pl.col(c))
            .otherwise(pl.col(c))
            .alias(c)
            for c in text_cols
        )
    return frame


def csv_text(
    book: AnnotationBook, locate: Locator, status: str | None = None, spreadsheet_safe: bool = True
) -> str:
    return to_csv_frame(book, locate, status, spreadsheet_safe).write_csv()
