"""Time travel for one viewer, beside the live engine.

The Kit panel's as-of moves *the* engine to the past; a server has many viewers, and
one of them looking at last night must not freeze the duty desk's live picture.  So
the page and the OGC API's ``datetime`` read the readings table as of a version or a
time into a state of their own (the same model code the engine uses:
:class:`~coptwin.model.state.LatestState` and the status rules), cached for a few
recent moments.  Sensor identities and fixed positions come from the live
engine; moving sensors are placed where their last fix was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from coptwin.engine.snapshot import EngineSnapshot, SensorRow
from coptwin.ui.status import as_of_text, banner_text

log = logging.getLogger(__name__)

AsOf = int | datetime


def parse_as_of(text: str) -> AsOf:
    """A Delta version ("42") or an ISO-8601 time (UTC when no zone is given)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a version number nor an ISO-8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclasses.dataclass(frozen=True)
class AsOfState:
    """The COP as of one moment: rows like a live snapshot's, reasons and history."""

    as_of: AsOf
    version: int
    #: The moment the statuses were evaluated at.
    when: datetime
    rows: tuple[SensorRow, ...]
    state: Any

    @property
    def label(self) -> str:
        return f"{as_of_text(self.as_of)} (readings v{self.version})"

    @property
    def banner(self) -> str:
        return banner_text(self.as_of)

    def history(self, sensor_id: str) -> list[tuple[datetime, float]]:
        return list(self.state.history(sensor_id))

    def row(self, sensor_id: str) -> SensorRow | None:
        return next((r for r in self.rows if r.sensor_id == sensor_id), None)


def read_as_of(engine: Any, live: EngineSnapshot, as_of: AsOf) -> AsOfState:
    """Blocking: the readings table as of ``as_of`` evaluated with the live registry."""
    from coptwin.engine.steps import Verdicts
    from coptwin.model import quality
    from coptwin.model.columns import to_canonical
    from coptwin.model.quality import rule_frame
    from coptwin.model.rules import evaluate
    from coptwin.model.state import LatestState

    cfg = engine.config
    registry = engine.registry
    if registry is None:
        raise RuntimeError("the engine has not loaded the sensors yet")
    watcher = engine.watchers["readings"]
    if isinstance(as_of, datetime):
        batch = watcher.snapshot(timestamp=as_of)
    else:
        batch = watcher.snapshot(version=int(as_of))
    rows = to_canonical(batch.data, cfg.tables.readings, "readings")
    if isinstance(as_of, datetime):
        when = as_of
    else:  # the newest reading the state will accept (not a bad far-future row)
        limit = datetime.now(timezone.utc) + timedelta(seconds=cfg.engine.max_future_skew_s)
        ok = rows.filter(pl.col("ts") <= limit) if rows.height else rows
        newest = ok["ts"].max() if ok.height else None
        when = newest if isinstance(newest, datetime) else datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    state = LatestState(
        registry,
        max_future_skew_s=cfg.engine.max_future_skew_s,
        history_per_sensor=cfg.engine.history_per_sensor,
    )
    state.apply(rows, when)
    verdicts = Verdicts(rule_frame(registry, cfg))
    judged = evaluate(state.latest, registry, cfg, when, by_quantity=state.latest_by_quantity)
    verdicts.record(quality.apply(judged, verdicts.status, state, cfg), None)
    index = {sid: i for i, sid in enumerate(registry.ids)}
    latest = {r["sensor_id"]: r for r in state.latest.iter_rows(named=True)}
    moved = _moved_positions(engine, latest)
    out = []
    for row in live.sensors:
        rec = latest.get(row.sensor_id, {})
        i = index.get(row.sensor_id)
        out.append(
            dataclasses.replace(
                row,
                status="unknown" if i is None else str(verdicts.status[i]),
                reason="" if i is None else verdicts.reason(i),
                value=rec.get("value"),
                unit=rec.get("unit") or row.unit,
                quantity=rec.get("quantity") or "",
                ts=rec.get("ts"),
                position=moved.get(row.sensor_id, row.position),
            )
        )
    return AsOfState(as_of, batch.to_version, when, tuple(out), state)


def _moved_positions(engine: Any, latest: dict[str, dict]) -> dict[str, tuple]:
    """Where sensors with a position in their reading were (GPS trackers)."""
    movers = [
        (sid, r["lon"], r["lat"])
        for sid, r in latest.items()
        if r.get("lon") is not None and r.get("lat") is not None
    ]
    placer = getattr(engine, "placer", None)
    if not movers or placer is None:
        return {}
    pts = placer.place_points([m[1] for m in movers], [m[2] for m in movers], mount="ground")
    return {m[0]: tuple(float(v) for v in p) for m, p in zip(movers, pts, strict=False)}


class AsOfCache:
    """A few recent as-of states, each read once even when many viewers ask at once."""

    def __init__(self, engine: Any, size: int = 4) -> None:
        self.engine = engine
        self.size = size
        self._states: OrderedDict[AsOf, asyncio.Future] = OrderedDict()

    async def get(self, live: EngineSnapshot, as_of: AsOf) -> AsOfState:
        fut = self._states.get(as_of)
        if fut is None:
            fut = asyncio.ensure_future(asyncio.to_thread(read_as_of, self.engine, live, as_of))
            self._states[as_of] = fut
            while len(self._states) > self.size:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(as_of)
        try:
            return await asyncio.shield(fut)
        except Exception:
            self._states.pop(as_of, None)  # failures are not cached
            raise
