"""OGC API - Features (Part 1: Core, GeoJSON) under ``/ogc``: the live COP for GIS tools.

QGIS ("WFS / OGC API - Features" connection) and ArcGIS Pro ("OGC API server") add
the collections by URL: ``sensors`` (points with status, value, ts), ``buildings``
(footprints with heights and the worst status of their sensors), ``notes`` and
``alarms`` (the open operators' alarms at their sensors, with state and reason).
Coordinates are WGS84 longitude/latitude (CRS84) with the height in the scene's
vertical datum as a third coordinate.

``datetime`` is the COP's time travel: an instant gives the COP as of that moment
(the same per-viewer read as the page's as-of); an interval ``a/b`` gives the COP as
of ``b`` (live when open-ended) and keeps only features whose ``ts`` (notes:
``created_at``) falls inside it.  ``bbox`` (CRS84, 4 or 6 numbers), ``limit``
(1..10000) and ``offset`` page through the items; unknown parameters are a 400, as
the standard asks.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from coptwin.config import STATUSES

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H = "http://www.opengis.net/def/crs/OGC/0/CRS84h"
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_ITEM_PARAMS = {"limit", "offset", "bbox", "datetime", "f", "bbox-crs"}

COLLECTIONS = {
    "sensors": ("Sensors", "Sensor positions with their live status, latest value and time."),
    "buildings": (
        "Buildings",
        "Building footprints from the scene with base and roof heights and the worst "
        "status of the sensors bound to them.",
    ),
    "notes": ("Reviewers' notes", "Notes on sensors, buildings and points, with replies."),
    "alarms": (
        "Operators' alarms",
        "Open alarms at their sensors: ISA-18.2 state, status, reason, who acknowledged.",
    ),
}


def OgcError(status: int, code: str, description: str) -> web.HTTPException:  # noqa: N802
    """An OGC exception document (code + description) to raise with its HTTP status."""
    import json

    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}.get(status, web.HTTPBadRequest)
    return cls(text=json.dumps({"code": code, "description": description}), content_type=JSON)


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/ogc"


def _json(data: Any, content_type: str = JSON) -> web.Response:
    import msgspec

    resp = web.Response(body=msgspec.json.encode(data), content_type=content_type.split(";")[0])
    if ";" in content_type:
        resp.headers["Content-Type"] = content_type
    resp.enable_compression()
    return resp


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) == 6:
        v = [v[0], v[1], v[3], v[4]]
    if len(v) != 4 or not all(math.isfinite(x) for x in v) or v[1] > v[3]:
        raise OgcError(400, "InvalidParameterValue", "bbox: expected minx,miny,maxx,maxy")
    return v[0], v[1], v[2], v[3]


def _time(text: str) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OgcError(
            400, "InvalidParameterValue", f"datetime: {text!r} is not RFC 3339"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None, bool]:
    """``(start, end, instant)``; open ends are None."""
    if text is None:
        return None, None, False
    if "/" in text:
        a, _, b = text.partition("/")
        start, end = _time(a), _time(b)
        if start and end and start > end:
            raise OgcError(400, "InvalidParameterValue", "datetime: start after end")
        return start, end, False
    when = _time(text)
    if when is None:
        raise OgcError(400, "InvalidParameterValue", "datetime: expected a time or interval")
    return when, when, True


def _in_bbox(bbox: tuple[float, ...] | None, b: list[float] | None) -> bool:
    """Does a feature's [w, s, e, n] intersect the requested bbox?"""
    if bbox is None:
        return True
    if b is None:
        return False
    return not (b[2] < bbox[0] or b[0] > bbox[2] or b[3] < bbox[1] or b[1] > bbox[3])


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat().replace("+00:00", "Z")


class OgcApi:
    """Routes under ``/ogc`` over a :class:`coptwin.web.app.CopWeb`."""

    def __init__(self, cop: Any) -> None:
        self.cop = cop

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ogc", self.landing),
            web.get("/ogc/", self.landing),
            web.get("/ogc/conformance", self.conformance),
            web.get("/ogc/api", self.openapi),
            web.get("/ogc/collections", self.collections),
            web.get("/ogc/collections/{cid}", self.collection),
            web.get("/ogc/collections/{cid}/items", self.items),
            web.get("/ogc/collections/{cid}/items/{fid}", self.item),
        ]

    # ------------------------------------------------------------------ metadata
    async def landing(self, request: web.Request) -> web.Response:
        base = _base(request)
        return _json(
            {
                "title": "coptwin COP",
                "description": "The live Common Operating Picture as OGC API - Features.",
                "links": [
                    {"href": base, "rel": "self", "type": JSON, "title": "this document"},
                    {"href": f"{base}/api", "rel": "service-desc", "type": OPENAPI},
                    {"href": f"{base}/conformance", "rel": "conformance", "type": JSON},
                    {"href": f"{base}/collections", "rel": "data", "type": JSON},
                ],
            }
        )

    async def conformance(self, request: web.Request) -> web.Response:
        return _json({"conformsTo": CONFORMANCE})

    def _collection_doc(self, base: str, cid: str) -> dict:
        title, description = COLLECTIONS[cid]
        return {
            "id": cid,
            "title": title,
            "description": description,
            "itemType": "feature",
            "crs": [CRS84],
            "storageCrs": CRS84H,
            "extent": {
                "spatial": {"bbox": [self.cop.geo.bounds], "crs": CRS84},
                "temporal": {"interval": [[None, None]]},
            },
            "links": [
                {"href": f"{base}/collections/{cid}", "rel": "self", "type": JSON},
                {"href": f"{base}/collections/{cid}/items", "rel": "items", "type": GEOJSON},
            ],
        }

    async def collections(self, request: web.Request) -> web.Response:
        base = _base(request)
        return _json(
            {
                "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON}],
                "collections": [self._collection_doc(base, cid) for cid in COLLECTIONS],
            }
        )

    async def collection(self, request: web.Request) -> web.Response:
        cid = self._cid(request)
        return _json(self._collection_doc(_base(request), cid))

    def _cid(self, request: web.Request) -> str:
        cid = request.match_info["cid"]
        if cid not in COLLECTIONS:
            raise OgcError(404, "NotFound", f"no collection {cid!r}")
        return cid

    # ------------------------------------------------------------------ features
    async def _features(self, cid: str, when: tuple) -> list[dict]:
        start, end, instant = when
        if cid == "notes":
            book = await self.cop.notes.book(end if instant else None)
            feats = self._note_features(book)
            key = "created_at"
        else:
            try:
                rows, state = await self.cop.rows_at(end)
            except Exception as exc:  # before the table's history, vacuumed, storage down
                raise OgcError(
                    400,
                    "InvalidParameterValue",
                    f"datetime: cannot show the COP as of {end}: {exc}",
                ) from None
            if cid == "alarms":
                feats, key = self._alarm_features(state), "raised_at"
            else:
                feats = self._sensor_features(rows) if cid == "sensors" else self._buildings(rows)
                key = "ts"
        if not instant and (start is not None or end is not None):
            feats = [f for f in feats if _within(f["properties"].get(key), start, end)]
        return feats

    def _sensor_features(self, rows: Any) -> list[dict]:
        import numpy as np

        pos = np.array(
            [r.position if r.position is not None else (np.nan,) * 3 for r in rows], dtype=float
        ).reshape(-1, 3)
        lon, lat, h = self.cop.geo.stage_to_wgs84(pos)
        out = []
        for r, x, y, z in zip(rows, lon.tolist(), lat.tolist(), h.tolist(), strict=True):
            ok = math.isfinite(x) and math.isfinite(y)
            out.append(
                {
                    "type": "Feature",
                    "id": r.sensor_id,
                    "geometry": {"type": "Point", "coordinates": [x, y, round(z, 3)]}
                    if ok
                    else None,
                    "bbox": [x, y, x, y] if ok else None,
                    "properties": {
                        "sensor_id": r.sensor_id,
                        "name": r.name,
                        "kind": r.kind,
                        "layer": r.layer,
                        "status": r.status,
                        "value": r.value if r.value is None or math.isfinite(r.value) else None,
                        "unit": r.unit,
                        "quantity": r.quantity,
                        "ts": _iso(r.ts),
                        "bound_prim": r.bound_prim or None,
                        "placement": r.placement,
                    },
                }
            )
        return out

    def _buildings(self, rows: Any) -> list[dict]:
        rank = {s: i for i, s in enumerate(STATUSES)}
        worst: dict[str, str] = {}
        count: dict[str, int] = {}
        for r in rows:
            if r.bound_prim:
                count[r.bound_prim] = count.get(r.bound_prim, 0) + 1
                cur = worst.get(r.bound_prim)
                if cur is None or rank.get(r.status, 99) < rank.get(cur, 99):
                    worst[r.bound_prim] = r.status
        out = []
        for rec in self.cop.geo.building_records:
            path = rec["path"]
            out.append(
                {
                    "type": "Feature",
                    "id": str(rec["object_id"] or rec["index"]),
                    "geometry": rec["geometry"],
                    "bbox": rec["bbox"],
                    "properties": {
                        "prim_path": path,
                        "object_id": rec["object_id"],
                        "base_h": rec["base_h"],
                        "top_h": rec["top_h"],
                        "height_m": rec["height_m"],
                        "status": worst.get(path),
                        "sensors": count.get(path, 0),
                    },
                }
            )
        return out

    def _alarm_features(self, state: Any) -> list[dict]:
        """Open alarms (live, or as of a time-travel ``state``: the fold of the events up
        to its moment) at their sensors."""
        live = self.cop.feed.snapshot
        view = self.cop.alarms.view(live, state)
        if view is None:
            return []
        where = {f["id"]: f for f in self._sensor_features(live.sensors)}
        out = []
        for r in view.rows:
            sensor = where.get(r.sensor_id)
            out.append(
                {
                    "type": "Feature",
                    "id": r.alarm_id,
                    "geometry": sensor["geometry"] if sensor else None,
                    "bbox": sensor["bbox"] if sensor else None,
                    "properties": {
                        "alarm_id": r.alarm_id,
                        "sensor_id": r.sensor_id,
                        "layer": r.layer,
                        "state": r.state,
                        "status": r.status,
                        "value": r.value if r.value is None or math.isfinite(r.value) else None,
                        "reason": r.reason,
                        "raised_at": _iso(r.raised_at),
                        "repeats": r.repeats,
                        "acked_by": r.acked_by or None,
                        "acked_at": _iso(r.acked_at),
                        "shelved_until": _iso(r.shelved_until),
                    },
                }
            )
        return out

    def _note_features(self, book: Any) -> list[dict]:
        out = []
        for rec in self.cop.notes.records(book):
            lon, lat, h = rec.pop("lon"), rec.pop("lat"), rec.pop("h")
            rec.pop("alt", None)
            ok = lon is not None and lat is not None
            out.append(
                {
                    "type": "Feature",
                    "id": rec["annotation_id"],
                    "geometry": {"type": "Point", "coordinates": [lon, lat, h]} if ok else None,
                    "bbox": [lon, lat, lon, lat] if ok else None,
                    "properties": rec,
                }
            )
        return out

    async def items(self, request: web.Request) -> web.Response:
        cid = self._cid(request)
        q = request.query
        unknown = sorted(set(q) - _ITEM_PARAMS)
        if unknown:
            raise OgcError(400, "InvalidParameterValue", f"unknown parameter(s): {unknown}")
        if q.get("f", "json") not in ("json", "geojson"):
            raise OgcError(400, "InvalidParameterValue", "f: only json is offered")
        if q.get("bbox-crs", CRS84) != CRS84:
            raise OgcError(400, "InvalidParameterValue", f"bbox-crs: only {CRS84}")
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
            offset = int(q.get("offset", 0))
        except ValueError:
            raise OgcError(400, "InvalidParameterValue", "limit and offset are integers") from None
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise OgcError(400, "InvalidParameterValue", f"limit: 1..{MAX_LIMIT}; offset >= 0")
        bbox = parse_bbox(q.get("bbox"))
        when = parse_datetime(q.get("datetime"))
        feats = [f for f in await self._features(cid, when) if _in_bbox(bbox, f.get("bbox"))]
        for f in feats:
            f.pop("bbox", None)
        page = feats[offset : offset + limit]
        base = f"{_base(request)}/collections/{cid}/items"
        links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
        if offset + limit < len(feats):
            nxt = request.url.update_query(offset=offset + limit, limit=limit)
            links.append({"href": f"{base}?{nxt.query_string}", "rel": "next", "type": GEOJSON})
        return _json(
            {
                "type": "FeatureCollection",
                "timeStamp": _iso(datetime.now(timezone.utc)),
                "numberMatched": len(feats),
                "numberReturned": len(page),
                "features": page,
                "links": links,
            },
            GEOJSON,
        )

    async def item(self, request: web.Request) -> web.Response:
        cid = self._cid(request)
        fid = request.match_info["fid"]
        for f in await self._features(cid, (None, None, False)):
            if str(f["id"]) == fid:
                f.pop("bbox", None)
                base = f"{_base(request)}/collections/{cid}"
                f["links"] = [
                    {"href": str(request.url), "rel": "self", "type": GEOJSON},
                    {"href": base, "rel": "collection", "type": JSON},
                ]
                return _json(f, GEOJSON)
        raise OgcError(404, "NotFound", f"no feature {fid!r} in {cid}")

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document(_base(request)), OPENAPI)


def _within(value: str | None, start: datetime | None, end: datetime | None) -> bool:
    if value is None:
        return False
    when = _time(value)
    assert when is not None
    return (start is None or when >= start) and (end is None or when <= end)


def openapi_document(base: str) -> dict:
    """The API definition the landing page links as ``service-desc``."""

    def param(name: str, schema: dict, description: str, where: str = "query") -> dict:
        return {
            "name": name,
            "in": where,
            "required": where == "path",
            "schema": schema,
            "description": description,
        }

    cid = param("cid", {"type": "string", "enum": list(COLLECTIONS)}, "collection", "path")
    doc_ok = {"200": {"description": "OK", "content": {JSON: {}}}}
    geo_ok = {
        "200": {"description": "GeoJSON", "content": {GEOJSON: {}}},
        "400": {"description": "bad parameter"},
        "404": {"description": "not found"},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "coptwin COP - OGC API Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": {
            "/": {"get": {"summary": "landing page", "responses": doc_ok}},
            "/conformance": {"get": {"summary": "conformance classes", "responses": doc_ok}},
            "/collections": {"get": {"summary": "the collections", "responses": doc_ok}},
            "/collections/{cid}": {
                "get": {"summary": "one collection", "parameters": [cid], "responses": doc_ok}
            },
            "/collections/{cid}/items": {
                "get": {
                    "summary": "features (as of a time with datetime)",
                    "parameters": [
                        cid,
                        param(
                            "limit",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                            "page size",
                        ),
                        param("offset", {"type": "integer", "minimum": 0}, "page start"),
                        param(
                            "bbox",
                            {"type": "array", "items": {"type": "number"}},
                            "minx,miny,maxx,maxy in CRS84",
                        ),
                        param("datetime", {"type": "string"}, "instant: as of; interval a/b"),
                    ],
                    "responses": geo_ok,
                }
            },
            "/collections/{cid}/items/{fid}": {
                "get": {
                    "summary": "one feature",
                    "parameters": [cid, param("fid", {"type": "string"}, "feature id", "path")],
                    "responses": geo_ok,
                }
            },
        },
    }
