"""The push channel: after each engine commit, send the page only what changed.

The engine calls :meth:`LiveFeed.poke` at the end of every commit (``Engine.on_commit``);
the feed then takes one snapshot (in a worker thread, at most every
``min_interval_s``; a snapshot only takes references), asks it which rows changed
after the revision it sent last (:meth:`~coptwin.engine.snapshot.SensorTable.changed_since`)
and queues one small columnar ``update`` message for every subscriber:  those
sensors' row numbers, status codes, values and times, plus new positions of sensors
that moved.  So a push costs what changed, not the fleet.  A page that connects (or
falls behind) gets the whole ``state`` first, so there is no gap between "load" and
"follow".

Server-Sent Events carry the messages (one direction is all the page needs; writes go
through plain POSTs): ``event: state|update|status|notes`` and a JSON ``data:`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec
import numpy as np

from coptwin.config import STATUSES
from coptwin.engine.snapshot import EngineSnapshot, SensorRow, SensorTable
from coptwin.model.palette import DESCRIPTIONS, HEX, LABELS
from coptwin.ui.format import format_value
from coptwin.ui.status import format_status

log = logging.getLogger(__name__)

STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
#: Seconds between status-line messages (and snapshots) when nothing else happens.
STATUS_EVERY_S = 5.0
_encode = msgspec.json.Encoder().encode


def sse(event: str, payload: Any) -> bytes:
    """One Server-Sent Events message (JSON has no raw newlines, so one data line)."""
    return b"event: " + event.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


def number(value: float | None) -> float | None:
    """Six significant digits (what the UI shows), null for missing or non-finite values."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def epoch_ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def legend() -> list[dict[str, str]]:
    """Status names, labels, colours and meanings in status-code order."""
    return [
        {"name": s, "label": LABELS[s], "hex": HEX[s], "description": DESCRIPTIONS[s]}
        for s in STATUSES
    ]


def status_line(snap: EngineSnapshot) -> dict[str, Any]:
    """The status line the Kit panel shows, as the page shows it."""
    line = format_status(snap.status, snap.now or datetime.now(timezone.utc), alarms=snap.alarms)
    return {
        "state": line.state,
        "text": line.text,
        "details": line.details,
        "level": line.level,
        "versions": dict(snap.status.versions),
        "badge": line.badge,
        "badge_level": line.badge_level,
    }


def _status_codes(table: SensorTable, idx: np.ndarray) -> list[int]:
    """The page's status codes of rows ``idx`` (names the page lacks: unknown)."""
    codes, names = table.status_codes()
    page = np.array([STATUS_CODE.get(n, STATUS_CODE["unknown"]) for n in names], dtype=np.int64)
    return page[codes[idx]].tolist()


def _epoch_ms(ts_us: np.ndarray) -> list[int | None]:
    none = ts_us == np.iinfo(np.int64).min
    ms = (ts_us // 1000).tolist()
    return [None if n else m for m, n in zip(ms, none.tolist(), strict=True)]


def _numbers(values: np.ndarray) -> list[float | None]:
    return [number(v) for v in values.tolist()]


def _texts(values: Sequence[float | None], units: Sequence[str]) -> list[str]:
    """The values in the Kit panel's words (:func:`~coptwin.ui.format.format_value`),
    so the page's table says what the panel says; NaN is a missing value, as in a row."""
    return [
        format_value(None if v is None or v != v else v, u)
        for v, u in zip(values, units, strict=True)
    ]


def _page_positions(geo: Any, xyz: np.ndarray) -> tuple[list, list, list]:
    """lon, lat, alt lists (None where a sensor is not placed)."""
    if not len(xyz):
        return [], [], []
    lon, lat, alt = geo.stage_to_page(xyz)
    return (
        [round(float(v), 7) if math.isfinite(v) else None for v in lon],
        [round(float(v), 7) if math.isfinite(v) else None for v in lat],
        [round(float(v), 2) if math.isfinite(v) else None for v in alt],
    )


def _table_columns(table: SensorTable, geo: Any) -> dict[str, list]:
    """:func:`sensor_columns` of a snapshot's table, straight from its columns."""
    c, shown, facts = table.columns, table.shown, table.columns.facts
    every = np.arange(len(table))
    units = np.where(shown.unit != "", shown.unit, facts.unit)
    lon, lat, alt = _page_positions(geo, table.xyz)
    unit = [u or "" for u in units.tolist()]
    return {
        "id": c.ids.tolist(),
        "name": [n or sid for n, sid in zip(c.names.tolist(), c.ids.tolist(), strict=True)],
        "kind": facts.kind.tolist(),
        "layer": facts.layer.tolist(),
        "status": _status_codes(table, every),
        "value": _numbers(shown.value),
        "text": _texts(shown.value.tolist(), unit),
        "unit": unit,
        "quantity": [q or "" for q in shown.quantity.tolist()],
        "ts": _epoch_ms(shown.ts),
        "lon": lon,
        "lat": lat,
        "alt": alt,
        "b": [geo.building_of(p) for p in facts.bound_prim.tolist()],
        "placement": facts.placement.tolist(),
    }


def sensor_columns(rows: Sequence[SensorRow], geo: Any) -> dict[str, list]:
    """The page's sensor table, one list per column (row i is sensor i)."""
    if isinstance(rows, SensorTable):
        return _table_columns(rows, geo)
    pos = np.array(
        [r.position if r.position is not None else (np.nan,) * 3 for r in rows], dtype=np.float64
    ).reshape(-1, 3)
    lon, lat, alt = geo.stage_to_page(pos) if len(rows) else (pos[:, 0], pos[:, 1], pos[:, 2])
    return {
        "id": [r.sensor_id for r in rows],
        "name": [r.name for r in rows],
        "kind": [r.kind for r in rows],
        "layer": [r.layer for r in rows],
        "status": [STATUS_CODE.get(r.status, STATUS_CODE["unknown"]) for r in rows],
        "value": [number(r.value) for r in rows],
        "text": _texts([r.value for r in rows], [r.unit or "" for r in rows]),
        "unit": [r.unit for r in rows],
        "quantity": [r.quantity for r in rows],
        "ts": [epoch_ms(r.ts) for r in rows],
        "lon": [round(float(v), 7) if math.isfinite(v) else None for v in lon],
        "lat": [round(float(v), 7) if math.isfinite(v) else None for v in lat],
        "alt": [round(float(v), 2) if math.isfinite(v) else None for v in alt],
        "b": [geo.building_of(r.bound_prim) for r in rows],
        "placement": [r.placement for r in rows],
    }


@dataclass(eq=False)
class Subscriber:
    """One connected page: a bounded queue; a page that falls behind is resent the state."""

    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=64))
    behind: bool = False

    def put(self, message: bytes) -> None:
        if self.behind:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.resync()

    def resync(self) -> None:
        """Drop what is queued; the handler sends the whole state next."""
        self.behind = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(b"")


class LiveFeed:
    """Follows one engine and fans its changes out to subscribers."""

    def __init__(self, engine: Any, geo: Any, *, min_interval_s: float = 0.1) -> None:
        self.engine = engine
        self.geo = geo
        self.min_interval_s = min_interval_s
        self.seq = 0
        self.snapshot: EngineSnapshot | None = None
        #: the sensors (a registry's columns) and the engine revision last sent
        self._columns: Any = None
        self._revision = -1
        self._state: bytes | None = None
        self._status: tuple | None = None
        self._status_at = 0.0
        self._versions_seen: dict[str, int] | None = None
        #: Wall-clock time of the first commit not yet sent (the update's "c", for latency).
        self._poked_at: float | None = None
        self._commit_at: float | None = None
        self._notes_version: int | None = None
        self._alarms_key: tuple | None = None
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------------ engine side
    def poke(self, stats: Any = None) -> None:
        """``Engine.on_commit`` listener: thread-safe, never blocks.  Idle ticks (nothing
        read, no status aged, no table moved) wake nobody."""
        if stats is not None and stats.idle and stats.versions == self._versions_seen:
            return
        self._versions_seen = dict(stats.versions) if stats is not None else None
        if self._poked_at is None:
            self._poked_at = time.time()
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # loop closed while shutting down
                self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        """Take the first snapshot (the page's first state) and listen to commits."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await self._refresh()
        self.engine.on_commit.append(self.poke)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh on commits (at most every ``min_interval_s``) and send the status line."""
        assert self._wake is not None
        try:
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), STATUS_EVERY_S)
                self._wake.clear()
                try:
                    await self._refresh()
                except Exception:  # the page must keep its stream even if one diff fails
                    log.exception("web: refreshing the live state failed")
                await asyncio.sleep(self.min_interval_s)
        finally:
            with contextlib.suppress(ValueError):
                self.engine.on_commit.remove(self.poke)
            self.close()

    def close(self) -> None:
        """Ends every subscriber's stream (server shutdown)."""
        for sub in list(self._subs):
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)

    async def _refresh(self) -> None:
        self._commit_at, self._poked_at = self._poked_at, None
        snap = await asyncio.to_thread(self.engine.snapshot)
        self._apply(snap)

    # ------------------------------------------------------------------ diffing
    def _apply(self, snap: EngineSnapshot) -> None:
        self.snapshot = snap
        table = snap.sensors
        columns = table.columns if isinstance(table, SensorTable) else None
        if columns is None or columns is not self._columns:
            # first snapshot, or the sensors table changed: everyone starts over
            self._columns = columns
            self._revision = table.revision if isinstance(table, SensorTable) else -1
            self.seq += 1
            self._state = None
            self._broadcast(None)
        elif table.revision != self._revision:
            changed = table.changed_since(self._revision)
            moved = table.moved_since(self._revision)
            self._revision = table.revision
            if changed.size or moved.size:
                self.seq += 1
                self._state = None
                self._broadcast(sse("update", self._update(table, changed, moved)))
        status = status_line(snap)
        key = (status["state"], status["level"], status["versions"], status["badge"])
        if key != self._status or time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self._status, self._status_at = key, time.monotonic()
            self._broadcast(sse("status", status))
        notes = snap.status.versions.get("annotations")
        if notes != self._notes_version:
            self._notes_version = notes
            self._broadcast(sse("notes", {"version": notes}))
        alarms = snap.alarms.key() if snap.alarms is not None else None
        if alarms != self._alarms_key:  # the page reads /api/alarms
            self._alarms_key = alarms
            self._broadcast(sse("alarms", {"seq": self.seq}))

    def _update(self, table: SensorTable, changed: np.ndarray, moved: np.ndarray) -> dict:
        """The ``update`` message of rows ``changed`` (and positions of rows ``moved``),
        made from the table's columns at those rows only."""
        shown, facts = table.shown, table.columns.facts
        units = shown.unit[changed]
        unit = [
            u or f or "" for u, f in zip(units.tolist(), facts.unit[changed].tolist(), strict=True)
        ]
        msg: dict[str, Any] = {
            "seq": self.seq,
            "i": changed.tolist(),
            "s": _status_codes(table, changed),
            "v": _numbers(shown.value[changed]),
            "x": _texts(shown.value[changed].tolist(), unit),
            "t": _epoch_ms(shown.ts[changed]),
            "q": [q or "" for q in shown.quantity[changed].tolist()],
            "u": unit,
            "c": int(self._commit_at * 1000) if self._commit_at else None,
        }
        if moved.size:
            lon, lat, alt = _page_positions(self.geo, table.xyz[moved])
            msg["moved"] = {"i": moved.tolist(), "lon": lon, "lat": lat, "alt": alt}
        return msg

    # ------------------------------------------------------------------ page side
    def state_message(self) -> dict[str, Any]:
        """Everything the page draws, as of the last refresh."""
        snap = self.snapshot
        assert snap is not None
        return state_document(snap, snap.sensors, self.geo, seq=self.seq)

    def state_bytes(self) -> bytes:
        if self._state is None:
            self._state = sse("state", self.state_message())
        return self._state

    def subscribe(self) -> tuple[Subscriber, bytes]:
        """A new subscriber and the state it starts from (atomic on the loop)."""
        sub = Subscriber()
        self._subs.add(sub)
        return sub, self.state_bytes()

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _broadcast(self, message: bytes | None) -> None:
        for sub in list(self._subs):
            if message is None:  # the state changed shape: everyone starts over
                sub.resync()
            else:
                sub.put(message)

    def row(self, sensor_id: str) -> SensorRow | None:
        snap = self.snapshot
        if snap is None:
            return None
        if isinstance(snap.sensors, SensorTable):
            return snap.sensors.row_of(sensor_id)
        return next((r for r in snap.sensors if r.sensor_id == sensor_id), None)


def state_document(
    snap: EngineSnapshot,
    rows: Sequence[SensorRow],
    geo: Any,
    *,
    seq: int = 0,
    as_of: str = "",
    banner: str = "",
) -> dict[str, Any]:
    """The ``state`` message: sensors (columnar), layers, legend and status line."""
    return {
        "seq": seq,
        "live": not as_of,
        "as_of": as_of,
        "banner": banner,
        "sensors": sensor_columns(rows, geo),
        "layers": [
            {"name": layer.name, "label": layer.label, "visible": layer.visible}
            for layer in snap.layers
        ],
        "legend": legend(),
        "status": status_line(snap),
    }
