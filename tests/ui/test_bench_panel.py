"""The panel-refresh benchmark (issue 11.7) runs small and reports both ways."""

from __future__ import annotations

from coptwin.bench.panel import bench_panel


def test_bench_panel_small(tmp_path):
    r = bench_panel(tmp_path / "panel", n_sensors=300, refreshes=20)
    assert r["sensors"] == 300
    for case in ("steady", "after_a_10k_tick"):
        part = r[case]
        assert part["main_thread"]["n"] == part["todays_way_main_thread"]["n"] == 20
        assert part["rows_rebuilt_per_refresh"] <= part["todays_way_rows_rebuilt_per_refresh"]
    # after a tick that changed every sensor, today's table rebuilt every row, again and
    # again while the ages count seconds; now each row is rebuilt about once
    after = r["after_a_10k_tick"]
    assert after["todays_way_rows_rebuilt_per_refresh"] > 2 * after["rows_rebuilt_per_refresh"]
