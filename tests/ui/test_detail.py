from __future__ import annotations

from datetime import timedelta

from coptwin.ui.detail import DetailVM, plot_data


def test_plot_sorts_pads_and_counts_dropped(now):
    history = [
        (now - timedelta(seconds=10), 22.0),
        (now - timedelta(seconds=30), 20.0),
        (now - timedelta(seconds=20), float("nan")),
        (now, 21.0),
    ]
    plot = plot_data(history, "°C")
    assert plot.values == (20.0, 22.0, 21.0)
    assert plot.y_min < 20.0 and plot.y_max > 22.0
    assert plot.start == now - timedelta(seconds=30) and plot.end == now
    assert plot.dropped == 1
    assert "3 values" in plot.caption and "min 20 °C, max 22 °C" in plot.caption
    assert plot.caption.endswith("(1 non-finite left out)")


def test_flat_and_empty_histories(now):
    flat = plot_data([(now, 5.0), (now, 5.0)])
    assert flat.y_min < 5.0 < flat.y_max
    assert plot_data([]) is None
    assert plot_data([(now, float("inf"))]) is None


def test_detail_reads_history_once_per_reading(city_rows, now):
    reads = []

    def history(sensor_id):
        reads.append(sensor_id)
        return [(now - timedelta(seconds=5), 1.0), (now, 2.0)]

    def building(path):
        return [("CityEngine:Rule:User:OBJECTID", "7")] if path.endswith("B7") else []

    vm = DetailVM(history, building)
    gate = city_rows[3]
    assert vm.show(gate, now)
    d = vm.detail
    assert d.title == "Gate motion (alarm)"
    fields = dict(d.fields)
    assert fields["Value"] == "1" and fields["Building"] == "/World/Buildings/B7"
    assert fields["Age"] == "2 s ago"
    assert d.plot.values == (1.0, 2.0)
    assert d.building == (("CityEngine:Rule:User:OBJECTID", "7"),)
    assert not vm.show(gate, now)
    assert reads == ["m1"]
    assert fields["Why"] == "—"  # the row carries no reason
    assert vm.show(city_rows[0], now) and reads == ["m1", "t1"]
    assert vm.show(None, now) and vm.detail is None
    assert not vm.show(None, now)


def test_failing_history_leaves_an_empty_plot(city_rows, now):
    def broken(_sensor_id):
        raise RuntimeError("state reset")

    vm = DetailVM(broken, None)
    assert vm.show(city_rows[0], now)
    assert vm.detail.plot is None and vm.detail.building == ()


def test_detail_says_why_the_sensor_has_its_status(city_rows, now):
    vm = DetailVM()
    harbour = city_rows[1]
    assert vm.show(harbour, now)
    fields = dict(vm.detail.fields)
    assert fields["Status"] == "alarm"
    assert fields["Why"] == "value 41 °C above alarm_high 35"
    assert list(fields).index("Why") == list(fields).index("Status") + 1
