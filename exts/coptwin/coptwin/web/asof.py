"""Time travel for one viewer, beside the live engine.

The Kit panel's as-of moves *the* engine to the past; a server has many viewers, and
one of them looking at last night must not freeze the duty desk's live picture.  So
the page and the OGC API's ``datetime`` get the COP as of a version or a time from the
engine's own time-travel function (:func:`coptwin.engine.time_travel.cop_as_of`) into
a state of their own (the alarms as they were then too), cached for a few recent
moments.  Sensor identities and fixed positions come from the live engine; moving
sensors are placed where their last fix was.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np

from coptwin.engine.snapshot import EngineSnapshot, SensorRow, SensorTable
from coptwin.engine.time_travel import AsOfError, parse_as_of
from coptwin.ui.status import as_of_text, banner_text

AsOf = int | datetime

__all__ = ["AsOfCache", "AsOfState", "parse_as_of", "read_as_of"]


@dataclasses.dataclass(frozen=True)
class AsOfState:
    """The COP as of one moment: rows like a live snapshot's, reasons and history."""

    as_of: AsOf
    version: int
    #: The moment the statuses were evaluated at.
    when: datetime
    rows: SensorTable
    state: Any
    #: The alarms as they were at :attr:`when` (an AlarmBook; None without alarms).
    alarms: Any = None

    @property
    def label(self) -> str:
        return f"{as_of_text(self.as_of)} (readings v{self.version})"

    @property
    def banner(self) -> str:
        return banner_text(self.as_of)

    def history(self, sensor_id: str) -> list[tuple[datetime, float]]:
        return list(self.state.history(sensor_id))

    def row(self, sensor_id: str) -> SensorRow | None:
        return self.rows.row_of(sensor_id)


def read_as_of(engine: Any, live: EngineSnapshot, as_of: AsOf) -> AsOfState:
    """Blocking: the COP as of ``as_of`` (:meth:`Engine.cop_as_of
    <coptwin.engine.engine.Engine.cop_as_of>`, the engine's own time travel, alarms
    included) as a table like the live one (the live sensors' columns, that moment's
    verdicts, readings and tracker positions)."""
    cop = engine.cop_as_of(as_of)
    table = live.sensors
    if not _same_sensors(table, cop.registry.ids):  # the sensors table was re-read meanwhile
        table = engine.snapshot().sensors
        if not _same_sensors(table, cop.registry.ids):
            raise AsOfError("the sensors table changed meanwhile; ask again")
    n = len(cop.registry)
    rows = table.at(
        cop.verdicts.view(), cop.state.readings_at(np.arange(n)), cop.moved, cop.moved_xyz
    )
    return AsOfState(as_of, cop.version, cop.when, rows, cop.state, cop.alarms)


def _same_sensors(table: Any, ids: list[str]) -> bool:
    return isinstance(table, SensorTable) and table.columns.ids.tolist() == ids


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
