"""`coptwin bench --json` prints figures beside a baseline measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coptwin.cli import main


def test_quick_tick_bench_reports_engine_and_baselines(tmp_path, capsys):
    code = main(
        ["bench", "--quick", "--suite", "tick", "--json", "--workdir", str(tmp_path / "bench")]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    tick = doc["tick"]
    assert "error" not in tick, tick
    for variant in ("engine", "baseline", "polars"):
        assert tick[variant]["tick"]["median_ms"] > 0
        assert tick[variant]["peak_rss_mb"] > 0
    engine = tick["engine"]
    assert engine["changed_per_tick"] == tick["sensors"]
    assert engine["read_part"]["n"] == engine["main_thread_part"]["n"] == engine["tick"]["n"]
    expected = round(tick["baseline"]["tick"]["median_ms"] / engine["tick"]["median_ms"], 2)
    assert tick["speedup_vs_baseline"] == expected
    assert doc["machine"]["cpus"] >= 1


def test_quick_alarms_bench_measures_the_alarms_share_in_the_same_ticks(tmp_path, capsys):
    code = main(
        ["bench", "--quick", "--suite", "alarms", "--json", "--workdir", str(tmp_path / "b")]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)["alarms"]
    assert "error" not in doc, doc
    for load in ("wavering_only", "everyone_reports"):
        runs = doc[load]
        assert "evaluate" not in runs["no_alarms"]
        for name in ("plain", "delays"):
            run = runs[name]
            assert run["evaluate"]["n"] == run["tick"]["n"] == doc["ticks"]
            assert 0 < run["evaluate_share_of_tick"] < 1
        # without delays every flip is a transition; with them, the wavering raises once
        assert runs["plain"]["transitions_per_tick"] > runs["delays"]["transitions_per_tick"]
        assert runs["plain"]["open_alarms_after"] > 0


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux /proc only")
def test_a_child_process_reports_its_own_peak_memory_not_its_parents():
    """ru_maxrss survives exec: a bench child would report at least the parent's peak."""
    import numpy as np

    held = np.ones(400 * 1024 * 1024 // 8)  # 400 MiB touched in this (parent) process
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from coptwin.bench.common import peak_rss_mb; print(peak_rss_mb())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert held.sum() > 0
    assert float(out.stdout) < 300.0, out.stdout
