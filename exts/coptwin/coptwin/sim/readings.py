"""Realistic sensor readings for demos, tests and benchmarks.

Each kind behaves like the real thing closely enough that the COP shows the
states operators care about: diurnal temperature with a few hot roofs, PM2.5
episodes, bursts of motion, camera heartbeats with the odd camera dropping out
(it goes stale, then offline), GPS trackers driving along streets, slowly
drifting water levels and daily power-load curves.  Everything is vectorised
with numpy and seeded, so a run is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from coptwin.sim.writer import READINGS_SCHEMA

#: quantity and unit each kind reports
KIND_QUANTITY: dict[str, tuple[str, str]] = {
    "temperature": ("temperature", "degC"),
    "air_quality": ("pm25", "ug/m3"),
    "motion": ("motion", ""),
    "camera": ("online", ""),
    "gps_tracker": ("speed", "m/s"),
    "water_level": ("water_level", "m"),
    "power_meter": ("power", "kW"),
}


@dataclass
class Route:
    """A closed polyline in lon/lat a tracker drives along."""

    lon: np.ndarray
    lat: np.ndarray

    def __post_init__(self) -> None:
        seg = np.hypot(
            np.diff(self.lon, append=self.lon[:1]) * math.cos(math.radians(float(self.lat.mean()))),
            np.diff(self.lat, append=self.lat[:1]),
        )
        self._cum = np.concatenate([[0.0], np.cumsum(seg)])
        self.length_deg = float(self._cum[-1])

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions at fractions ``s`` (0..1, wrapping) of the loop."""
        d = (np.asarray(s) % 1.0) * self.length_deg
        i = np.clip(np.searchsorted(self._cum, d, side="right") - 1, 0, len(self.lon) - 1)
        j = (i + 1) % len(self.lon)
        seg = np.maximum(self._cum[i + 1] - self._cum[i], 1e-15)
        f = (d - self._cum[i]) / seg
        return self.lon[i] + f * (self.lon[j] - self.lon[i]), self.lat[i] + f * (
            self.lat[j] - self.lat[i]
        )


@dataclass
class ReadingSimulator:
    """Produces one batch of readings per call for a fixed set of sensors.

    ``sensors`` needs the canonical columns ``sensor_id`` and ``kind``; GPS
    trackers follow ``routes`` (one is picked per tracker).  ``fraction`` of the
    sensors report in each batch (heartbeat-style sensors always report).
    """

    sensors: pl.DataFrame
    routes: Sequence[Route] = ()
    seed: int = 42
    fraction: float = 0.5
    #: sensors that stop reporting (cameras that die, loggers with flat batteries)
    dropout_fraction: float = 0.03
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self.ids = self.sensors["sensor_id"].to_numpy().astype(str)
        self.kinds = self.sensors["kind"].to_numpy().astype(str)
        n = len(self.ids)
        rng = np.random.default_rng(self.seed + 1)
        self._phase = rng.uniform(0, 1, n)
        self._bias = rng.normal(0, 1, n)
        self._hot = rng.uniform(0, 1, n) < 0.08  # a few hot roofs / polluted corners
        self._dead = rng.uniform(0, 1, n) < self.dropout_fraction
        self._route_idx = rng.integers(0, max(len(self.routes), 1), n)
        self._speed = rng.uniform(0.0005, 0.002, n)  # loop fraction per second
        self._level = rng.uniform(0.5, 2.5, n)

    def batch(self, now: datetime, *, fraction: float | None = None) -> pl.DataFrame:
        """Readings stamped ``now`` (UTC) for a random subset of the sensors."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        rng = self._rng
        n = len(self.ids)
        frac = self.fraction if fraction is None else fraction
        reporting = (rng.uniform(0, 1, n) < frac) | np.isin(self.kinds, ["camera", "gps_tracker"])
        reporting &= ~self._dead
        idx = np.flatnonzero(reporting)
        kinds = self.kinds[idx]
        t = now.timestamp()
        hour = (now.hour + now.minute / 60.0) / 24.0
        value = np.full(len(idx), np.nan)
        lon = np.full(len(idx), np.nan)
        lat = np.full(len(idx), np.nan)

        def sel(kind: str) -> np.ndarray:
            return kinds == kind

        m = sel("temperature")
        value[m] = (
            14.0
            + 7.0 * np.sin(2 * math.pi * (hour - 0.375))
            + 1.5 * self._bias[idx[m]]
            + rng.normal(0, 0.3, m.sum())
            + np.where(self._hot[idx[m]], 18.0, 0.0)
        )
        m = sel("air_quality")
        value[m] = np.clip(
            12.0
            + 6.0 * self._bias[idx[m]] ** 2
            + np.where(self._hot[idx[m]], 45.0, 0.0)
            + rng.gamma(2.0, 2.0, m.sum()),
            0.0,
            None,
        )
        m = sel("motion")
        burst = np.sin(2 * math.pi * (t / 600.0 + self._phase[idx[m]])) > 0.6
        value[m] = (burst | (rng.uniform(0, 1, m.sum()) < 0.1)).astype(float)
        m = sel("camera")
        value[m] = (rng.uniform(0, 1, m.sum()) > 0.04).astype(float)
        m = sel("water_level")
        value[m] = (
            self._level[idx[m]]
            + 0.4 * np.sin(2 * math.pi * (t / 7200.0 + self._phase[idx[m]]))
            + np.where(self._hot[idx[m]], 1.2, 0.0)
            + rng.normal(0, 0.01, m.sum())
        )
        m = sel("power_meter")
        value[m] = np.clip(
            40.0
            + 25.0 * np.sin(2 * math.pi * (hour - 0.3)) ** 2
            + 10.0 * self._bias[idx[m]]
            + np.where(self._hot[idx[m]], 60.0, 0.0)
            + rng.normal(0, 2.0, m.sum()),
            0.0,
            None,
        )
        m = sel("gps_tracker")
        if m.any():
            speed = self._speed[idx[m]]
            value[m] = speed * 8000.0
            if self.routes:
                s = self._phase[idx[m]] + speed * t
                for r, route in enumerate(self.routes):
                    on = self._route_idx[idx[m]] == r
                    if on.any():
                        lo, la = route.at(s[on])
                        sub = np.flatnonzero(m)[on]
                        lon[sub], lat[sub] = lo, la
        quantity = np.array([KIND_QUANTITY.get(k, (k, ""))[0] for k in kinds], dtype=object)
        unit = np.array([KIND_QUANTITY.get(k, (k, ""))[1] for k in kinds], dtype=object)
        ts = pl.Series("ts", [now] * len(idx), dtype=pl.Datetime("us", "UTC"))
        frame = pl.DataFrame(
            {
                "sensor_id": self.ids[idx],
                "ts": ts,
                "value": value,
                "quantity": quantity,
                "unit": unit,
                "lon": lon,
                "lat": lat,
                "alt": np.full(len(idx), np.nan),
                "date": [now.strftime("%Y-%m-%d")] * len(idx),
            },
            schema=READINGS_SCHEMA,
        )
        # NaN means "not reported" for position columns: store nulls, not NaN.
        return frame.with_columns(
            pl.col("lon", "lat", "alt").fill_nan(None),
        )
