"""City-scale benchmark (issue 7): per-tick cost must follow what changed, not table size.

For each size (S: 1k sensors / 1M rows, M: 10k / 10M, L: 100k / 50M in >= 5,000
commits) a fixture is built once under ``workdir`` (reused via a stamp file):
a generated city (5k buildings for S, 50k for M and L), N ground sensors and a
readings table whose history is written as a few large commits (one date
partition each) followed by many small one-minute commits of 1 % of the
sensors -- the shape months of live appends leave behind.

Each size then runs in its own process (``python -m coptwin.bench.scale``) so
its peak memory is its own, and reports:

* cold start: open the scene + build its spatial index + place + first full state,
  with where that time goes (stage open, scene index by phase, the rest of opening,
  first state); the first-ever start (nothing cached) and, from a second process, a
  restart of the unchanged scene, whose index comes from the disk cache the first
  stored (``cached_start``);
* per tick, for 1 %, 10 % and 100 % of the sensors changed in one new Delta
  version: total, the worker-thread part (``read_ms``) and the caller's-thread
  part (``scene_ms``, the only part Kit's main thread runs), median of a few;
* peak and resident memory.

The naive way (pandas full scan + per-prim ``Usd`` writes) and polars full
scans run on the same fixture through :mod:`coptwin.bench.tick`'s variants, so
every tick figure has a ratio.  A last section times reading a table after
10,000 one-minute appends, before and after ``coptwin maintain``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from coptwin.bench.common import peak_rss_mb, ratio, run_child, timed_ticks
from coptwin.bench.tick import sensor_ids, write_ground_sensors

log = logging.getLogger(__name__)

FIXTURE_VERSION = 2
#: Same epoch as coptwin.bench.tick, whose baseline variants write into our fixtures.
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: The live day: small commits end here and tick versions start after it.
LIVE = T0 + timedelta(days=30)
FRACTIONS = (0.01, 0.1, 1.0)
#: The pandas baseline needs roughly this much memory per table row (measured, M size).
PANDAS_BYTES_PER_ROW = 330
#: Aim for the caller's-thread part of a tick with 10k changed sensors.
SCENE_AIM_MS = 5.0
FLAT_AIM = 2.0


@dataclass(frozen=True)
class SizeSpec:
    """One benchmark size; ``reduced`` says when it is smaller than the issue asks."""

    name: str
    sensors: int
    rows: int
    small_commits: int
    buildings: int
    bulk_rows_per_commit: int = 1_000_000
    reduced: str = ""

    @property
    def small_rows(self) -> int:
        """Rows per small commit: 1 % of the sensors report each minute."""
        return max(1, self.sensors // 100)

    @property
    def bulk_rows(self) -> int:
        return max(0, self.rows - self.small_commits * self.small_rows)

    @property
    def commits(self) -> int:
        return self.small_commits + math.ceil(self.bulk_rows / self.bulk_rows_per_commit)


SIZES: dict[str, SizeSpec] = {
    "S": SizeSpec("S", 1_000, 1_000_000, 500, 5_000),
    "M": SizeSpec("M", 10_000, 10_000_000, 1_000, 50_000),
    "L": SizeSpec("L", 100_000, 50_000_000, 5_000, 50_000),
}


# ----------------------------------------------------------------------------- fixtures


def _config_text(tables: Path, scene: Path, offset: list[float]) -> str:
    # The same config coptwin.bench.tick's variants expect (one temperature layer).
    from coptwin.bench.tick import config_text as tick_config

    return tick_config(tables, scene, offset)


def _city(workdir: Path, buildings: int) -> Any:
    from coptwin.scene.citygen import ensure_city
    from coptwin.scene.citylayout import blocks_for

    bx, by = blocks_for(buildings)
    return ensure_city(workdir / "cities" / f"b{buildings}", blocks_x=bx, blocks_y=by)


def _readings(ids: pl.Series, idx: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> Any:
    """A readings frame (READINGS_SCHEMA) for sensors ``ids[idx]`` at ``ts`` (µs since epoch)."""
    from coptwin.sim.writer import READINGS_SCHEMA

    k = len(idx)
    ts_s = pl.Series("ts", ts, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    frame = pl.DataFrame(
        [ids.gather(idx).alias("sensor_id"), ts_s, pl.Series("value", rng.normal(20, 5, k))]
    ).with_columns(
        pl.lit("temperature").alias("quantity"),
        pl.lit("degC").alias("unit"),
        pl.lit(None, pl.Float64).alias("lon"),
        pl.lit(None, pl.Float64).alias("lat"),
        pl.lit(None, pl.Float64).alias("alt"),
        ts_s.dt.strftime("%Y-%m-%d").alias("date"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in READINGS_SCHEMA.items()])


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class _DirectAppender:
    """Fixture builder: one append commit per call, written straight into the Delta log.

    delta-rs lists the whole ``_delta_log`` on every commit, so building thousands of
    commits through ``write_deltalake`` costs O(N^2) (4 commits/s at 2,000 versions on
    this machine).  The fixture has a single writer, so each commit here is the same
    thing delta-rs would write -- a Parquet file below ``date=<day>/`` plus a JSON
    commit with its ``add`` action (``dataChange=true``, ``numRecords`` stats) --
    created exclusively, and a checkpoint every 100 versions as delta-rs writers do.
    """

    def __init__(self, uri: str, checkpoint_every: int = 100) -> None:
        from deltalake import DeltaTable

        self.uri = uri
        self.root = Path(uri)
        self.version = DeltaTable(uri).version()
        self.every = checkpoint_every

    def append(self, frame: pl.DataFrame) -> None:
        import uuid

        from deltalake import DeltaTable

        now_ms = int(time.time() * 1000)
        actions: list[dict[str, Any]] = []
        for (day,), part in frame.group_by(["date"], maintain_order=True):
            rel = f"date={day}/part-00000-{uuid.uuid4()}-c000.snappy.parquet"
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            part.drop("date").write_parquet(path, compression="snappy")
            stats = json.dumps({"numRecords": part.height})
            add = {
                "path": rel,
                "partitionValues": {"date": day},
                "size": path.stat().st_size,
                "modificationTime": now_ms,
                "dataChange": True,
                "stats": stats,
            }
            actions.append({"add": add})
        version = self.version + 1
        info = {
            "timestamp": now_ms,
            "operation": "WRITE",
            "operationParameters": {"mode": "Append", "partitionBy": '["date"]'},
            "readVersion": self.version,
            "isBlindAppend": True,
            "engineInfo": "coptwin.bench.scale fixture",
        }
        lines = [json.dumps({"commitInfo": info}), *(json.dumps(a) for a in actions)]
        log_file = self.root / "_delta_log" / f"{version:020d}.json"
        with log_file.open("x", encoding="utf-8") as fh:  # exclusive, like a Delta commit
            fh.write("\n".join(lines) + "\n")
        self.version = version
        if version % self.every == 0:
            DeltaTable(self.uri, version=version).create_checkpoint()


def build_size_fixture(workdir: Path, spec: SizeSpec) -> Path:
    """City, sensors and readings history for one size; returns the config path (reused)."""

    from coptwin.sim.writer import append_batch

    workdir = Path(workdir).resolve()
    root = workdir / spec.name
    stamp, cfg_path = root / "fixture.json", root / "bench.toml"
    want = {"v": FIXTURE_VERSION, **asdict(spec)}
    if stamp.exists() and cfg_path.exists() and json.loads(stamp.read_text()) == want:
        return cfg_path
    t = time.perf_counter()
    shutil.rmtree(root, ignore_errors=True)
    info = _city(workdir, spec.buildings)
    tables = root / "tables"
    rng = np.random.default_rng(7)
    ids = write_ground_sensors(tables / "sensors", info, spec.sensors, rng)
    n = spec.sensors
    uri = str(tables / "readings")
    id_series = pl.Series(ids)
    # Bulk history: one large commit per day before the small commits begin.
    bulk_commits = math.ceil(spec.bulk_rows / spec.bulk_rows_per_commit)
    small_start = LIVE - timedelta(minutes=spec.small_commits + 1)
    for c in range(bulk_commits):
        k = min(spec.bulk_rows_per_commit, spec.bulk_rows - c * spec.bulk_rows_per_commit)
        day = small_start - timedelta(days=bulk_commits - c)
        start = _us(day.replace(hour=0, minute=0, second=0, microsecond=0))
        ts = np.sort(rng.integers(start, start + 86_400_000_000 - 1, k))
        append_batch(
            uri, _readings(id_series, rng.integers(0, n, k), ts, rng), partition_by=["date"]
        )
    # Live tail: one small commit per minute from 1 % of the sensors.
    appender = _DirectAppender(uri)
    for m in range(spec.small_commits):
        when = _us(small_start + timedelta(minutes=m))
        idx = rng.choice(n, spec.small_rows, replace=False)
        ts = when + rng.integers(0, 59_000_000, spec.small_rows)
        appender.append(_readings(id_series, idx, ts, rng))
    cfg_path.write_text(
        _config_text(tables, info.root_layer, list(info.global_offset)), encoding="utf-8"
    )
    stamp.write_text(json.dumps(want))
    log.info("built fixture %s in %.0f s", spec.name, time.perf_counter() - t)
    return cfg_path


def build_appends_fixture(workdir: Path, commits: int, rows: int) -> Path:
    """A table after ``commits`` one-minute appends of ``rows`` rows (the pristine copy)."""
    root = Path(workdir) / "appends"
    stamp, uri = root / "fixture.json", root / "pristine"
    want = {"v": FIXTURE_VERSION, "commits": commits, "rows": rows}
    if stamp.exists() and uri.exists() and json.loads(stamp.read_text()) == want:
        return uri
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(11)
    ids = pl.Series(sensor_ids(max(rows * 10, 1)))
    start = LIVE - timedelta(minutes=commits)
    from coptwin.sim.writer import append_batch

    first = _readings(ids, np.arange(rows), np.full(rows, _us(start)), rng)
    append_batch(str(uri), first, partition_by=["date"])  # creates the table (version 0)
    appender = _DirectAppender(str(uri))
    for m in range(1, commits):
        when = _us(start + timedelta(minutes=m))
        idx = rng.choice(len(ids), rows, replace=False)
        ts = when + rng.integers(0, 59_000_000, rows)
        appender.append(_readings(ids, idx, ts, rng))
    stamp.write_text(json.dumps(want))
    return uri


# ----------------------------------------------------------------------------- children


class _Clock:
    """The engine's clock follows the newest tick so nothing looks stale or in the future."""

    def __init__(self) -> None:
        self.now = LIVE

    def __call__(self) -> datetime:
        return self.now


def _child_engine(cfg_path: Path, n_sensors: int, fractions: list[float], ticks: int) -> dict:
    """Cold start, then ``ticks`` new versions per fraction of changed sensors."""
    from coptwin.config import load_config
    from coptwin.engine.engine import Engine
    from coptwin.sim.writer import append_batch

    cfg = load_config(cfg_path)
    clock = _Clock()
    t = time.perf_counter()
    # The engine opens the scene itself, as `coptwin run` does (its tables load meanwhile).
    engine = Engine(cfg, clock=clock)
    engine.open()
    open_ms = (time.perf_counter() - t) * 1000
    first = engine.commit(engine.prepare())  # the live loop's first tick
    cold_ms = (time.perf_counter() - t) * 1000
    index = engine.placer.index.stats
    phases = {k: v * 1000 for k, v in engine.open_seconds.items()}
    rss_cold = _rss_mb()
    # The data prims the main-thread budget left queued, written now (in Kit: over the
    # next frames), so the ticks below start with nothing queued.
    t = time.perf_counter()
    drained = engine.overlay.flush_details().details_written
    drain_ms = (time.perf_counter() - t) * 1000
    uri = cfg.table_uri("readings")
    # Each run's ticks come after everything already in the table: fixtures are reused and
    # coptwin.bench.tick's variants append wall-clock-stamped versions to them.
    newest = pl.scan_delta(uri).select(pl.col("ts").max()).collect().item()
    base = max(newest or LIVE, datetime.now(timezone.utc)) + timedelta(minutes=1)
    rng = np.random.default_rng(3)
    ids = pl.Series(sensor_ids(n_sensors))
    out: dict[str, Any] = {
        "cold_start": {
            "open_ms": round(open_ms, 1),
            "first_state_ms": round(cold_ms - open_ms, 1),
            "total_ms": round(cold_ms, 1),
            "rows_read": first.rows_read,
            # where the time goes: the USD stage, the scene index (by phase), the sensors
            # (table, placement, marker batch), the overlay, the first state (the
            # readings table, loading in the background since the start, and the merge)
            "breakdown_ms": {
                "stage_open": round(phases["stage"], 1),
                "scene_index": round(index.seconds * 1000, 1),
                **{f"scene_index_{k}": round(v * 1000, 1) for k, v in index.phases.items()},
                "scene_frame": round(phases["scene_index"] - index.seconds * 1000, 1),
                "sensors_placement": round(phases["sensors"], 1),
                "overlay": round(open_ms - sum(phases.values()), 1),
                "first_state": round(cold_ms - open_ms, 1),
            },
            "details_drained": drained,
            "details_drain_ms": round(drain_ms, 1),
        },
        "rss_after_cold_start_mb": rss_cold,
        "ticks": {},
    }
    step = 0
    for frac in fractions:
        k = max(1, round(frac * n_sensors))

        def append(_i: int, k: int = k) -> None:
            nonlocal step
            step += 1
            when = base + timedelta(minutes=step)
            idx = rng.choice(n_sensors, k, replace=False)
            ts = np.full(k, _us(when), dtype=np.int64)
            append_batch(uri, _readings(ids, idx, ts, rng), partition_by=["date"])
            clock.now = when + timedelta(seconds=30)

        out["ticks"][f"{frac:g}"] = {"changed_sensors": k, **timed_ticks(engine, append, ticks)}
    out["rss_end_mb"] = _rss_mb()
    engine.close()
    return out


def _child_read(uri: str) -> dict:
    """What a reader pays on this table: open, first full load, one incremental append."""
    from deltalake import DeltaTable

    from coptwin.delta import TableWatcher
    from coptwin.sim.writer import append_batch

    t = time.perf_counter()
    table = DeltaTable(uri)
    open_ms = (time.perf_counter() - t) * 1000
    files = len(table.file_uris())
    watcher = TableWatcher(uri)
    t = time.perf_counter()
    batch = watcher.poll()
    full_ms = (time.perf_counter() - t) * 1000
    assert batch is not None
    rng = np.random.default_rng(5)
    ids = pl.Series(sensor_ids(100))
    when = LIVE + timedelta(minutes=table.version() + 1)
    append_batch(
        uri,
        _readings(ids, np.arange(100), np.full(100, _us(when), dtype=np.int64), rng),
        partition_by=["date"],
    )
    t = time.perf_counter()
    inc = watcher.poll()
    inc_ms = (time.perf_counter() - t) * 1000
    return {
        "version": table.version(),
        "live_files": files,
        "open_ms": round(open_ms, 1),
        "full_read_ms": round(full_ms, 1),
        "rows": batch.rows,
        "incremental_read_ms": round(inc_ms, 1),
        "incremental_rows": inc.rows if inc is not None else 0,
    }


def _rss_mb() -> float | None:
    try:
        import psutil

        return round(psutil.Process().memory_info().rss / 1048576.0, 1)
    except Exception:  # psutil is in the bench extra only
        return None


# ----------------------------------------------------------------------------- parent


def _baseline(cfg_path: Path, spec: SizeSpec, variant: str, ticks: int, max_rows: int) -> dict:
    """coptwin.bench.tick's pandas / polars full-scan variant on this size's fixture."""
    if variant == "baseline" and spec.rows > max_rows:
        need = spec.rows * PANDAS_BYTES_PER_ROW / 2**30
        return {"skipped": f"pandas full scan of {spec.rows:,} rows needs ~{need:.0f} GiB"}
    return run_child(
        "coptwin.bench.tick",
        [
            "--variant",
            variant,
            "--config",
            str(cfg_path),
            "--sensors",
            str(spec.sensors),
            "--ticks",
            str(ticks),
        ],
        timeout=3600,
    )


def _run_size(
    workdir: Path, spec: SizeSpec, fractions: tuple[float, ...], ticks: int, opts: dict
) -> dict:
    t = time.perf_counter()
    cfg_path = build_size_fixture(workdir, spec)
    out: dict[str, Any] = {
        "sensors": spec.sensors,
        "table_rows": spec.rows,
        "commits": spec.commits,
        "buildings": _city(workdir, spec.buildings).n_buildings,
        "fixture_s": round(time.perf_counter() - t, 1),
    }
    if spec.reduced:
        out["reduced"] = spec.reduced
    # The first start reads the scene into an empty scene index cache of its own; a
    # second child, cold start only, then starts from what the first stored (a restart
    # of an unchanged scene). Both figures are reported, the first-ever one first.
    child = ["--child", "engine", "--config", str(cfg_path), "--sensors", str(spec.sensors)]
    with tempfile.TemporaryDirectory(prefix="coptwin-bench-cache-") as cache:
        out["engine"] = run_child(
            "coptwin.bench.scale",
            [*child, "--fractions", ",".join(f"{f:g}" for f in fractions), "--ticks", str(ticks)],
            timeout=3600,
            cache_dir=Path(cache),
        )
        cached = run_child(
            "coptwin.bench.scale",
            [*child, "--fractions", "", "--ticks", "0"],
            timeout=3600,
            cache_dir=Path(cache),
        )
    out["cached_start"] = {"cold_start": cached["cold_start"], "peak_rss_mb": cached["peak_rss_mb"]}
    full = out["engine"]["ticks"].get("1", {}).get("tick", {}).get("median_ms")
    for variant in opts["baselines"]:
        res = _baseline(cfg_path, spec, variant, opts["baseline_ticks"], opts["pandas_max_rows"])
        out[variant] = res
        if "tick" in res:
            out[f"speedup_vs_{variant}"] = ratio(res["tick"].get("median_ms"), full)
            out[f"memory_ratio_vs_{variant}"] = ratio(
                res.get("peak_rss_mb"), out["engine"].get("peak_rss_mb")
            )
    return out


def _flatness(sizes: dict[str, dict]) -> list[dict]:
    """Tick time for the same number of changed sensors across sizes (the 2x aim)."""
    by_changed: dict[int, dict[str, dict]] = {}
    for name, res in sizes.items():
        for tick in res.get("engine", {}).get("ticks", {}).values():
            by_changed.setdefault(tick["changed_sensors"], {})[name] = tick
    rows = []
    for changed, per in sorted(by_changed.items()):
        if len(per) < 2:
            continue
        names = sorted(per, key=lambda n: sizes[n]["table_rows"])
        small, big = names[0], names[-1]
        tick_small = per[small]["tick"]["median_ms"]
        tick_big = per[big]["tick"]["median_ms"]
        r = round(tick_big / tick_small, 2) if tick_small else None
        rows.append(
            {
                "changed_sensors": changed,
                "tick_median_ms": {n: per[n]["tick"]["median_ms"] for n in names},
                "table_rows": {n: sizes[n]["table_rows"] for n in names},
                f"ratio_{big}_vs_{small}": r,
                "aim_within_2x": None if r is None else r <= FLAT_AIM,
            }
        )
    return rows


def _main_thread_aim(sizes: dict[str, dict]) -> list[dict]:
    out = []
    for name, res in sizes.items():
        for tick in res.get("engine", {}).get("ticks", {}).values():
            if tick["changed_sensors"] >= 10_000:
                ms = tick["main_thread_part"]["median_ms"]
                out.append(
                    {
                        "size": name,
                        "changed_sensors": tick["changed_sensors"],
                        "main_thread_median_ms": ms,
                        "aim_ms": SCENE_AIM_MS,
                        "met": ms <= SCENE_AIM_MS,
                    }
                )
    return out


def _appends(workdir: Path, commits: int, rows: int) -> dict:
    """Read a table after many one-minute appends, then after one maintenance pass."""
    from coptwin.maintenance import maintain_table

    t = time.perf_counter()
    pristine = build_appends_fixture(workdir, commits, rows)
    build_s = time.perf_counter() - t
    work = Path(workdir) / "appends" / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    before = run_child("coptwin.bench.scale", ["--child", "read", "--uri", str(work)])
    last_day = LIVE - timedelta(minutes=1)
    t = time.perf_counter()
    rep = maintain_table(str(work), now=lambda: last_day)
    maintain_s = time.perf_counter() - t
    after = run_child("coptwin.bench.scale", ["--child", "read", "--uri", str(work)])
    return {
        "what": f"{commits:,} one-minute appends of {rows} rows; maintenance as of the last "
        "day (its partition is live and left alone)",
        "fixture_s": round(build_s, 1),
        "before": before,
        "maintenance": {
            "s": round(maintain_s, 1),
            "ok": rep.ok,
            "errors": rep.errors,
            "partitions_compacted": len(rep.compacted),
            "files_removed": sum(r.files_removed for r in rep.compacted),
            "files_added": sum(r.files_added for r in rep.compacted),
            "checkpoint_version": rep.checkpoint_version,
            "vacuum_files": rep.vacuum_files,
        },
        "after": after,
        "full_read_speedup": ratio(before["full_read_ms"], after["full_read_ms"]),
        "open_speedup": ratio(before["open_ms"], after["open_ms"]),
    }


def bench_scale(
    sizes: tuple[str | SizeSpec, ...] = ("S", "M", "L"),
    workdir: Path = Path("work") / "bench" / "scale",
    *,
    fractions: tuple[float, ...] = FRACTIONS,
    ticks: int = 3,
    baselines: tuple[str, ...] = ("baseline", "polars"),
    baseline_ticks: int = 1,
    pandas_max_rows: int = 12_000_000,
    appends: tuple[int, int] | None = (10_000, 100),
) -> dict[str, Any]:
    """All of issue 7's figures: per size (own process each), flatness, aims, appends.

    ``sizes`` are names from :data:`SIZES` or :class:`SizeSpec` objects (tiny or
    reduced sizes; a reduced size says so in its ``reduced`` field).
    ``appends`` is (commits, rows per commit) for the maintenance read figure.
    """
    workdir = Path(workdir).resolve()  # configs written below name absolute paths
    workdir.mkdir(parents=True, exist_ok=True)
    opts = {
        "baselines": baselines,
        "baseline_ticks": baseline_ticks,
        "pandas_max_rows": pandas_max_rows,
    }
    doc: dict[str, Any] = {
        "what": "tick cost vs table/scene size; each size in its own process",
        "fractions": list(fractions),
        "sizes": {},
    }
    for size in sizes:
        spec = SIZES[size] if isinstance(size, str) else size
        t = time.perf_counter()
        try:
            doc["sizes"][spec.name] = _run_size(workdir, spec, fractions, ticks, opts)
        except Exception as exc:  # report and go on with the next size
            doc["sizes"][spec.name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        doc["sizes"][spec.name]["size_s"] = round(time.perf_counter() - t, 1)
    ok = {n: r for n, r in doc["sizes"].items() if "engine" in r}
    doc["flatness"] = _flatness(ok)
    doc["main_thread_aim"] = _main_thread_aim(ok)
    if appends:
        try:
            doc["appends"] = _appends(workdir, *appends)
        except Exception as exc:
            doc["appends"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    return doc


def reduced(name: str, **changes: Any) -> SizeSpec:
    """A smaller variant of a named size, labelled with what was reduced."""
    spec = SIZES[name]
    what = ", ".join(f"{k} {getattr(spec, k):,} -> {v:,}" for k, v in changes.items())
    return replace(spec, name=f"{name}-reduced", reduced=what, **changes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m coptwin.bench.scale")
    p.add_argument("--child", choices=("engine", "read"), required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--uri")
    p.add_argument("--sensors", type=int, default=0)
    p.add_argument("--fractions", default="0.01,0.1,1")
    p.add_argument("--ticks", type=int, default=3)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child == "engine":
        fractions = [float(f) for f in args.fractions.split(",") if f]
        result = _child_engine(args.config, args.sensors, fractions, args.ticks)
    else:
        result = _child_read(args.uri)
    result["peak_rss_mb"] = round(peak_rss_mb() or 0.0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
