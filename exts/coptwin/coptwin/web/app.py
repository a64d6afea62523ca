"""``CopWeb``: the page, its JSON and push endpoints, and the OGC API, over one engine.

aiohttp, because one kept library gives the server, streaming responses (the push)
and a client, and it runs on whatever asyncio loop it is started on: the CLI's own,
or Kit's (``await CopWeb(engine).start()`` / ``await web.close()``), so Kit needs no
thread and no second implementation.  It binds 127.0.0.1 unless told otherwise.

Routes (all read-only except the note writes, which need the bearer token):

``/``                       the page (``static/``)
``/api/scene``              bounds, building parts, terrain grid, basemap, marker size
``/api/events``             Server-Sent Events: ``state`` then ``update`` / ``status`` / ``notes``
``/api/sensors/{id}``       details: fields, why, history (``?as_of=`` for the past)
``/api/asof?at=``           the whole state as of a version or time (per viewer)
``/api/notes``              notes (GET); add (POST) and ``/api/notes/{id}/{action}``
``/api/alarms``             open alarms (GET, ``?as_of=``); ``/api/alarms/{id}/ack|shelve|unshelve``
``/basemap.pmtiles``        the configured basemap, with HTTP range requests
``/ogc/...``                OGC API - Features (see :mod:`coptwin.web.ogc`)
``events.webhook.path``     bucket events, when the webhook is enabled (``/events``)

The bucket-event webhook is the event hub's own route
(:class:`coptwin.events.webhook.WebhookEndpoint`: token, size limits, intake),
mounted here so ``coptwin serve`` listens on one port; ``coptwin run`` and Kit run
the same route on a server of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from coptwin.events.webhook import SERVER_OPTIONS, SlowSenders, webhook_path
from coptwin.web.asof import AsOfCache, AsOfState, parse_as_of
from coptwin.web.live import LiveFeed, legend, number, state_document

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

#: The page loads nothing from anywhere else (air-gapped sites, no CDN).
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
_SSE_KEEPALIVE_S = 15.0
#: Paths of the page the webhook route cannot share.
_TAKEN = ("/api/", "/ogc", "/static/", "/basemap.pmtiles")


def _json(data: Any, status: int = 200) -> web.Response:
    resp = web.Response(
        body=msgspec.json.encode(data), status=status, content_type="application/json"
    )
    resp.enable_compression()
    return resp


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if not (request.path.startswith("/api/") and exc.status >= 400):
            _secure(exc.headers)
            raise
        resp = _error(exc.status, exc.reason)  # the page reads {"error": ...}
    _secure(resp.headers)
    return resp


def _secure(headers: Any) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cache-Control", "no-cache")


class CopWeb:
    """The browser COP over one (running) engine."""

    def __init__(self, engine: Any, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        cfg = engine.config
        self.basemap: Path | None = None
        if cfg.web.basemap_pmtiles:
            self.basemap = cfg.resolve_path(cfg.web.basemap_pmtiles)
            if not self.basemap.is_file():
                raise ValueError(f"web.basemap_pmtiles: no such file {self.basemap}")
        self.geo: Any = None
        self.feed: LiveFeed | None = None
        self.notes: Any = None
        self.alarms: Any = None
        self.asof = AsOfCache(engine)
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._feed_task: asyncio.Task | None = None
        self._senders = SlowSenders()
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> str:
        """Wait for the engine to have opened its scene, then listen; returns the URL."""
        from coptwin.web.alarms import Alarms
        from coptwin.web.geometry import PageGeo
        from coptwin.web.notes import Notes

        engine = self.engine
        waited = 0.0
        while engine.stage is None or engine.registry is None:
            if waited == 0.0 or waited % 10 < 0.2:
                log.info("web: waiting for the engine to open the scene and sensors")
            await asyncio.sleep(0.2)
            waited += 0.2
        self.geo = await asyncio.to_thread(PageGeo.from_stage, engine.stage, engine.config.scene)
        self.feed = LiveFeed(engine, self.geo)
        await self.feed.start()
        self.notes = Notes(engine, self.geo, self._position, engine.config.web.notes_token_env)
        self.alarms = Alarms(engine, engine.config.web.notes_token_env)
        self._feed_task = asyncio.ensure_future(self.feed.run(self._stop))
        self._runner = web.AppRunner(
            self.app(), access_log=None, shutdown_timeout=2.0, **SERVER_OPTIONS
        )
        await self._runner.setup()
        self._sweeper = asyncio.ensure_future(self._senders.sweep(self._runner.server))
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.close()
            raise ValueError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "pick another --port or stop the other listener"
            ) from None
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("web: serving the COP at %s", self.url)
        return self.url

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop the push, end open streams and stop listening."""
        self._stop.set()
        if self.feed is not None:
            self.feed.close()
        if self._feed_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._feed_task
            self._feed_task = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def app(self) -> web.Application:
        from coptwin.web.ogc import OgcApi

        app = web.Application(
            middlewares=[self._senders.middleware, _headers], client_max_size=64 * 1024
        )
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/api/scene", self.scene),
                web.get("/api/events", self.events),
                web.get("/api/sensors/{sid}", self.sensor),
                web.get("/api/asof", self.as_of),
                web.get("/api/notes", self.notes_list),
                web.post("/api/notes", self.note_add),
                web.post("/api/notes/{nid}/{action}", self.note_action),
                web.get("/api/alarms", self.alarms_list),
                web.post("/api/alarms/{aid}/{action}", self.alarm_action),
                web.get("/basemap.pmtiles", self.basemap_file),
                web.static("/static", STATIC, append_version=False),
                *OgcApi(self).routes(),
            ]
        )
        hook = self.engine.config.events.webhook
        if hook.enabled:
            path = webhook_path(hook)
            if path.startswith(_TAKEN):
                raise ValueError(f"events.webhook.path: {path} is taken by the page; pick another")
            app.add_routes([web.route("*", path, self.webhook)])
        return app

    # ------------------------------------------------------------------ helpers
    def _position(self, sensor_id: str) -> Any:
        row = self.feed.row(sensor_id) if self.feed is not None else None
        return row.position if row is not None else None

    async def rows_at(self, when: Any) -> tuple[Any, AsOfState | None]:
        """Sensor rows live (``when`` None) or as of a version / time."""
        assert self.feed is not None and self.feed.snapshot is not None
        if when is None:
            return self.feed.snapshot.sensors, None
        state = await self.asof.get(self.feed.snapshot, when)
        return state.rows, state

    async def _as_of_param(self, request: web.Request) -> AsOfState | None:
        text = request.query.get("as_of") or request.query.get("at")
        if not text:
            return None
        try:
            when = parse_as_of(text)
        except ValueError as exc:
            raise web.HTTPBadRequest(reason=str(exc)) from None
        try:
            _, state = await self.rows_at(when)
        except Exception as exc:  # a version that does not exist, history vacuumed ...
            log.info("web: as-of %s failed: %s", text, exc)
            raise web.HTTPBadRequest(reason=f"cannot show the COP as of {text}: {exc}") from None
        return state

    # ------------------------------------------------------------------ page
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def scene(self, request: web.Request) -> web.Response:
        cfg = self.engine.config
        return _json(
            {
                "bounds": self.geo.bounds,
                "buildings": self.geo.buildings_page,
                "terrain": self.geo.terrain_page,
                "marker_size_m": cfg.scene.marker_size_m,
                "basemap": "/basemap.pmtiles" if self.basemap is not None else None,
                "notes_writable": self.notes.writable,
                "annotations": cfg.tables.annotations is not None,
                "alarms": self.alarms.enabled,
                "legend": legend(),
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        assert self.feed is not None
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        sub, state = self.feed.subscribe()
        try:
            await resp.write(b"retry: 2000\n\n" + state)
            while True:
                try:
                    msg = await asyncio.wait_for(sub.queue.get(), _SSE_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if msg is None:  # server shutting down
                    break
                if msg == b"":  # fell behind or the sensors changed: start over
                    sub.behind = False
                    msg = self.feed.state_bytes()
                await resp.write(msg)
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            self.feed.unsubscribe(sub)
        return resp

    async def as_of(self, request: web.Request) -> web.Response:
        state = await self._as_of_param(request)
        if state is None:
            raise web.HTTPBadRequest(reason="at: a Delta version or an ISO-8601 time")
        assert self.feed is not None and self.feed.snapshot is not None
        doc = state_document(
            self.feed.snapshot, state.rows, self.geo, as_of=state.label, banner=state.banner
        )
        doc["status"] = {
            **doc["status"],
            "state": "Not live",
            "level": "info",
            "text": f"Not live: as of {state.label}",
        }
        return _json(doc)

    async def sensor(self, request: web.Request) -> web.Response:
        from coptwin.ui.detail import detail_fields, plot_data

        sid = request.match_info["sid"]
        state = await self._as_of_param(request)
        assert self.feed is not None
        if state is None:
            row = self.feed.row(sid)
            if row is None:
                raise web.HTTPNotFound(reason=f"no sensor {sid!r}")
            history = await asyncio.to_thread(self.engine.history, sid)
            now = datetime.now(timezone.utc)
        else:
            row = state.row(sid)
            if row is None:
                raise web.HTTPNotFound(reason=f"no sensor {sid!r}")
            history, now = state.history(sid), state.when
        fields = []
        for label, text in detail_fields(row, now):
            if label in ("Position", "Marker prim"):
                continue  # stage-only facts; the page shows WGS84 below
            fields.append([label, text])
        if row.position is not None:
            lon, lat, h = self.geo.stage_to_wgs84([row.position])
            fields.append(["Position", f"{lon[0]:.6f}, {lat[0]:.6f}, {h[0]:.1f} m"])
        plot = plot_data(history, row.unit)
        points = sorted((p for p in history if p[1] is not None), key=lambda p: p[0])
        return _json(
            {
                "sensor_id": row.sensor_id,
                "name": row.name,
                "status": row.status,
                "why": row.reason,
                "fields": fields,
                "building": row.bound_prim,
                "history": {
                    "t": [
                        int(t.replace(tzinfo=t.tzinfo or timezone.utc).timestamp() * 1000)
                        for t, _ in points
                    ],
                    "v": [number(v) for _, v in points],
                },
                "caption": plot.caption if plot is not None else "no values to plot",
                "unit": row.unit,
            }
        )

    # ------------------------------------------------------------------ notes
    async def notes_list(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "all")
        if status not in ("all", "open", "resolved"):
            raise web.HTTPBadRequest(reason="status: all, open or resolved")
        book = await self.notes.book()
        records = self.notes.records(book, None if status == "all" else status)
        return _json({"writable": self.notes.writable, "notes": records})

    async def _body(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(reason="expected a JSON object") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="expected a JSON object")
        return body

    async def _write(self, request: web.Request, action: str, note_id: str | None) -> web.Response:
        from coptwin.web.notes import NotesError

        try:
            self.notes.check_token(request.headers.get("Authorization"))
            body = await self._body(request)
            annotation_id = await self.notes.write(action, body, note_id)
        except NotesError as exc:
            return _error(exc.status, str(exc))
        return _json({"annotation_id": annotation_id}, 201 if action == "add" else 200)

    async def note_add(self, request: web.Request) -> web.Response:
        return await self._write(request, "add", None)

    async def note_action(self, request: web.Request) -> web.Response:
        return await self._write(request, request.match_info["action"], request.match_info["nid"])

    # ------------------------------------------------------------------ bucket events
    async def webhook(self, request: web.Request) -> web.StreamResponse:
        """The event hub's webhook route (503 while it has none: see the status line)."""
        hub = self.engine.hub
        endpoint = hub.webhook_endpoint if hub is not None else None
        if endpoint is None:
            raise web.HTTPServiceUnavailable(reason="the webhook is not accepting events")
        return await endpoint.serve(request)

    # ------------------------------------------------------------------ alarms
    async def alarms_list(self, request: web.Request) -> web.Response:
        state = await self._as_of_param(request)
        assert self.feed is not None and self.feed.snapshot is not None
        snap = self.feed.snapshot
        view = self.alarms.view(snap, state)
        names = {r.sensor_id: r.name for r in snap.sensors}
        index = {r.sensor_id: i for i, r in enumerate(snap.sensors)}
        return _json(self.alarms.document(view, names, index))

    async def alarm_action(self, request: web.Request) -> web.Response:
        from coptwin.web.notes import NotesError

        try:
            self.alarms.check_token(request.headers.get("Authorization"))
            body = await self._body(request)
            action, alarm_id = request.match_info["action"], request.match_info["aid"]
            events = await self.alarms.write(action, alarm_id, body)
        except NotesError as exc:
            return _error(exc.status, str(exc))
        return _json({"alarm_id": alarm_id, "events": events})

    # ------------------------------------------------------------------ basemap
    async def basemap_file(self, request: web.Request) -> web.StreamResponse:
        if self.basemap is None:
            raise web.HTTPNotFound(reason="no basemap is configured (web.basemap_pmtiles)")
        return web.FileResponse(self.basemap)


async def serve(
    engine: Any, host: str, port: int, stop: asyncio.Event, on_ready: Any = None
) -> None:
    """Run the engine's live loop and the web server until ``stop`` is set.

    The loop opens the engine (as ``coptwin run`` does): while storage is
    unreachable it retries and says why, and the server listens once the scene
    and sensors are read; a problem of the config itself (the scene, its CRS)
    ends the loop at once and is raised here.  The bucket-event webhook (when
    enabled) is a route of this server, on its port.
    """
    run = asyncio.ensure_future(engine.run(stop, mount_webhook=True))
    site = CopWeb(engine, host=host, port=port)
    try:
        starting = asyncio.ensure_future(site.start())
        await asyncio.wait({run, starting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # the loop ended before the engine opened
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            run.result()  # what ended it (a ConfigError), or stopped before opening
            return
        url = starting.result()
        if on_ready is not None:
            on_ready(url)
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        stop.set()
        await site.close()
        with contextlib.suppress(asyncio.CancelledError):
            await run
