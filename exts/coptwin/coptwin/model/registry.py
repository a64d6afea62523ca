"""The sensors registry: which sensors exist, where they are, how they are judged.

Built from the canonical ``sensors`` table.  Validation is vectorised (a city
has tens of thousands of sensors) and bad rows are skipped, counted per reason
and logged once, so one broken row never hides the rest of the fleet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import polars as pl

from coptwin.config import Config
from coptwin.model.columns import DTYPES, empty_frame

log = logging.getLogger(__name__)

MOUNTS: tuple[str, ...] = ("roof", "ground", "facade", "xyz")
DEFAULT_MOUNT = "ground"
THRESHOLD_COLUMNS: tuple[str, ...] = ("warn_low", "warn_high", "alarm_low", "alarm_high")

_EMPTY: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True)
class Sensor:
    """One sensor as configured in the sensors table (canonical names)."""

    sensor_id: str
    kind: str
    lon: float
    lat: float
    name: str = ""
    layer: str = ""
    alt: float | None = None
    mount: str = DEFAULT_MOUNT
    object_id: str | None = None
    prim_path: str | None = None
    unit: str = ""
    mount_height_m: float | None = None
    #: Per-sensor threshold overrides (only the ones the table sets).
    thresholds: Mapping[str, float] = field(default_factory=lambda: _EMPTY, hash=False)

    @property
    def label(self) -> str:
        return self.name or self.sensor_id


class SensorRegistry:
    """Validated sensors, by id, in table order.

    ``skipped`` counts rows refused per reason: ``null_sensor_id``,
    ``null_kind``, ``bad_position`` (null/NaN/out-of-range lon or lat),
    ``unknown_mount`` and ``duplicate_sensor_id`` (the first row of an id wins).
    """

    def __init__(self, frame: pl.DataFrame, skipped: dict[str, int] | None = None) -> None:
        self._frame = frame
        self.skipped: dict[str, int] = dict(skipped or {})
        ids = frame["sensor_id"].to_list()
        self._index: dict[str, int] = dict(zip(ids, range(len(ids)), strict=True))
        # Sensor objects are made on first use: a 100k-sensor cold start should
        # not pay for 100k dataclasses that a tick may never look at.
        self._columns: dict[str, list] | None = None
        self._sensors: dict[str, Sensor] = {}

    @classmethod
    def empty(cls) -> SensorRegistry:
        return cls(_with_row_index(empty_frame("sensors")))

    @classmethod
    def from_frame(cls, df: pl.DataFrame, config: Config) -> SensorRegistry:
        """Validate a canonical sensors frame (see ``columns.to_canonical``)."""
        missing = [c for c in DTYPES["sensors"] if c not in df.columns]
        if missing:
            raise ValueError(
                f"sensors frame is not canonical (missing {', '.join(missing)}); "
                "pass it through coptwin.model.columns.to_canonical first"
            )
        df = df.select(list(DTYPES["sensors"]))
        mount = pl.col("mount").str.strip_chars().str.to_lowercase()
        df = df.with_columns(
            pl.col("sensor_id").str.strip_chars(),
            pl.col("kind").str.strip_chars(),
            # NaN thresholds would compare as "greater than everything" in polars.
            *(pl.col(c).fill_nan(None) for c in (*THRESHOLD_COLUMNS, "alt", "mount_height_m")),
            pl.when(mount.is_null() | (mount == ""))
            .then(pl.lit(DEFAULT_MOUNT))
            .otherwise(mount)
            .alias("mount"),
        )
        lon, lat = pl.col("lon"), pl.col("lat")
        reason = (
            pl.when(pl.col("sensor_id").is_null() | (pl.col("sensor_id") == ""))
            .then(pl.lit("null_sensor_id"))
            .when(pl.col("kind").is_null() | (pl.col("kind") == ""))
            .then(pl.lit("null_kind"))
            .when(
                lon.is_null()
                | lat.is_null()
                | ~lon.is_finite()
                | ~lat.is_finite()
                | (lon.abs() > 180)
                | (lat.abs() > 90)
            )
            .then(pl.lit("bad_position"))
            .when(~pl.col("mount").is_in(list(MOUNTS)))
            .then(pl.lit("unknown_mount"))
            .otherwise(pl.lit(None, dtype=pl.Utf8))
            .alias("_reason")
        )
        df = df.with_columns(reason)
        # Duplicates are judged among otherwise-valid rows, so a broken first
        # row does not take a good second one down with it.
        first = pl.int_range(pl.len()).over("sensor_id", "_reason") == 0
        df = df.with_columns(
            pl.when(pl.col("_reason").is_null() & ~first)
            .then(pl.lit("duplicate_sensor_id"))
            .otherwise(pl.col("_reason"))
            .alias("_reason")
        )
        bad = df.filter(pl.col("_reason").is_not_null())
        skipped: dict[str, int] = {}
        if bad.height:
            counts = bad.group_by("_reason").len()
            skipped = dict(zip(counts["_reason"].to_list(), counts["len"].to_list(), strict=True))
            examples = bad["sensor_id"].drop_nulls().head(3).to_list()
            log.warning(
                "sensors: skipped %d of %d rows (%s)%s",
                bad.height,
                df.height,
                ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())),
                f"; e.g. {', '.join(examples)}" if examples else "",
            )
        good = df.filter(pl.col("_reason").is_null()).drop("_reason")
        kinds = good["kind"].unique().to_list()
        kind_layer = pl.DataFrame(
            {"kind": kinds, "_layer": [config.layer_for_kind(k) for k in kinds]},
            schema={"kind": pl.Utf8, "_layer": pl.Utf8},
        )
        good = (
            good.join(kind_layer, on="kind", how="left")
            .with_columns(
                pl.when(pl.col("layer").is_null() | (pl.col("layer").str.strip_chars() == ""))
                .then(pl.col("_layer"))
                .otherwise(pl.col("layer").str.strip_chars())
                .alias("layer")
            )
            .drop("_layer")
        )
        return cls(_with_row_index(good), skipped)

    # -- lookups ---------------------------------------------------------
    @property
    def frame(self) -> pl.DataFrame:
        """Canonical sensors frame of the accepted sensors (+ ``idx``: row position)."""
        return self._frame

    @property
    def ids(self) -> list[str]:
        return list(self._index)

    def get(self, sensor_id: str) -> Sensor | None:
        sensor = self._sensors.get(sensor_id)
        if sensor is None:
            idx = self._index.get(sensor_id)
            if idx is None:
                return None
            sensor = self._sensors[sensor_id] = self._make(idx)
        return sensor

    def __getitem__(self, sensor_id: str) -> Sensor:
        sensor = self.get(sensor_id)
        if sensor is None:
            raise KeyError(sensor_id)
        return sensor

    def __contains__(self, sensor_id: object) -> bool:
        return sensor_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Sensor]:
        for sensor_id in self._index:
            yield self.get(sensor_id)  # type: ignore[misc]

    def by_layer(self) -> dict[str, list[Sensor]]:
        """Sensors grouped by layer name, layers in first-seen order."""
        out: dict[str, list[Sensor]] = {}
        for sensor in self:
            out.setdefault(sensor.layer, []).append(sensor)
        return out

    def _make(self, idx: int) -> Sensor:
        if self._columns is None:
            self._columns = {c: self._frame[c].to_list() for c in DTYPES["sensors"]}
        return _sensor_from_row({c: values[idx] for c, values in self._columns.items()})

    @property
    def kinds(self) -> list[str]:
        return sorted(self._frame["kind"].unique().to_list())


def _with_row_index(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_row_index("idx").with_columns(pl.col("idx").cast(pl.UInt32))


def _sensor_from_row(row: dict) -> Sensor:
    thresholds = {k: row[k] for k in THRESHOLD_COLUMNS if row[k] is not None}
    return Sensor(
        sensor_id=row["sensor_id"],
        kind=row["kind"],
        lon=row["lon"],
        lat=row["lat"],
        name=row["name"] or "",
        layer=row["layer"] or "",
        alt=row["alt"],
        mount=row["mount"],
        object_id=row["object_id"],
        prim_path=row["prim_path"],
        unit=row["unit"] or "",
        mount_height_m=row["mount_height_m"],
        thresholds=MappingProxyType(thresholds) if thresholds else _EMPTY,
    )
