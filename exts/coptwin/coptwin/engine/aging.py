"""When a sensor's status can next change with no new reading at all.

Statuses also change by time alone: a motion event stops being active, a
sensor that fell silent turns stale and then offline.  Re-evaluating every
sensor every second would make a tick cost grow with the fleet; instead each
evaluated sensor gets its next possible deadline (the time of the reading that
decided its status plus ``active_for_s``, ``stale_after_s`` or ``offline_after_s``,
whichever comes next) and a tick re-evaluates only the sensors whose deadline
has passed.  Deadlines are one array in registry order, so scheduling and
finding what is due are numpy operations, never a loop per sensor.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from coptwin.model.state import NO_TS

#: The rule columns (seconds after the deciding reading) at which a status can change.
RULE_COLUMNS = ("active_for_s", "stale_after_s", "offline_after_s")


class AgingSchedule:
    """Per registry sensor, the epoch second its status can next change by time alone
    (``inf``: never, until it is evaluated again)."""

    def __init__(self, rules: pl.DataFrame | None = None) -> None:
        rules = rules if rules is not None else pl.DataFrame()
        n = rules.height
        #: seconds of each of RULE_COLUMNS per sensor, NaN where the rule has none
        self._after = [
            rules[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
            for c in RULE_COLUMNS
            if c in rules.columns
        ]
        self._deadline = np.full(n, np.inf)

    def __len__(self) -> int:
        """Sensors with a deadline to come."""
        return int(np.count_nonzero(np.isfinite(self._deadline)))

    def clear(self) -> None:
        self._deadline[:] = np.inf

    def schedule(self, idx: np.ndarray, ts_us: np.ndarray, now: datetime) -> None:
        """(Re)schedule sensors ``idx`` whose status was just decided by readings at
        ``ts_us`` (µs since the epoch, ``NO_TS`` for none): the next deadline after
        ``now``, or none."""
        if idx.size == 0:
            return
        t = np.where(ts_us == NO_TS, np.nan, ts_us / 1e6)
        now_s = now.timestamp()
        nxt = np.full(idx.size, np.inf)
        for after in self._after:
            at = t + after[idx]
            np.minimum(nxt, np.where(at > now_s, at, np.inf), out=nxt)  # past, or no rule: NaN
        self._deadline[idx] = nxt

    def due(self, now: datetime) -> np.ndarray:
        """Registry indices whose deadline has passed (each returned once per scheduling)."""
        hit = np.flatnonzero(self._deadline <= now.timestamp())
        self._deadline[hit] = np.inf
        return hit
