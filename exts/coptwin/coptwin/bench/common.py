"""Shared pieces of the benchmarks: peak memory, timing statistics, child processes.

Each variant of a benchmark runs in its own Python process so that its peak
memory is its own; the parent collects one JSON document per child.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from coptwin.geo import index_cache


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (Linux, macOS, Windows).

    On Linux ``VmHWM`` of /proc: ``ru_maxrss`` survives ``exec``, so a benchmark's child
    process would report at least its parent's peak.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    try:
        import resource  # POSIX only

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)
    except ImportError:  # Windows
        try:
            import psutil

            return psutil.Process().memory_info().peak_wset / (1024.0 * 1024.0)
        except Exception:  # pragma: no cover - no way to tell
            return None


def summarise(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, p95, min and count of a list of timings in milliseconds."""
    data = sorted(samples_ms)
    if not data:
        return {"n": 0}
    p95 = data[min(len(data) - 1, int(round(0.95 * (len(data) - 1))))]
    return {
        "median_ms": round(statistics.median(data), 3),
        "p95_ms": round(p95, 3),
        "min_ms": round(data[0], 3),
        "n": len(data),
    }


def run_child(
    module: str, args: Sequence[str], timeout: float = 1800, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Run ``python -m module args...`` and parse the JSON document it prints last.

    The child's scene index cache (:mod:`coptwin.geo.index_cache`) is ``cache_dir``, or
    an empty folder of its own: no figure is ever a cached start by accident (an earlier
    run's, or the user's).
    """
    with tempfile.TemporaryDirectory(prefix="coptwin-bench-cache-") as empty:
        env = {**os.environ, index_cache.ENV: str(cache_dir or empty)}
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark child {module} {' '.join(args)} failed ({proc.returncode}):\n"
            + proc.stderr[-4000:]
        )
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last)


def ratio(baseline: float | None, ours: float | None) -> float | None:
    """How many times faster (or smaller) ours is than the baseline."""
    if not baseline or not ours:
        return None
    return round(baseline / ours, 2)


def timed_ticks(engine: Any, before_each: Callable[[int], None], ticks: int) -> dict[str, Any]:
    """Run ``ticks`` engine ticks, each after ``before_each(i)`` (which appends new
    data); what every suite reports of them: tick, read and main-thread times, changed
    sensors and rows read per tick."""
    total, read, scene, changed, rows = [], [], [], [], []
    for i in range(ticks):
        before_each(i)
        t = time.perf_counter()
        stats = engine.commit(engine.prepare())  # the live loop's tick (Kit, coptwin run)
        total.append((time.perf_counter() - t) * 1000)
        read.append(stats.read_ms)
        scene.append(stats.scene_ms)
        changed.append(stats.changed)
        rows.append(stats.rows_read)
    return {
        "tick": summarise(total),
        "read_part": summarise(read),
        "main_thread_part": summarise(scene),
        "changed_per_tick": int(statistics.median(changed)),
        "rows_read_per_tick": int(statistics.median(rows)),
    }
