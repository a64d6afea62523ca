from __future__ import annotations

import pytest

from coptwin.ui.format import MISSING
from coptwin.ui.sensors import SensorsTableVM, parse_filter


def ids(vm: SensorsTableVM) -> list[str]:
    return [item.sensor_id for item in vm.items]


def test_default_sort_is_severity_then_name(city_rows, now):
    vm = SensorsTableVM()
    vm.update(city_rows, now)
    # alarm (Gate motion, Harbour), warn, stale, ok (Lobby motion, Tower roof)
    assert ids(vm) == ["m1", "t2", "t3", "w1", "m2", "t1"]
    vm.set_sort("status")  # header click flips
    assert ids(vm) == ["m2", "t1", "w1", "t3", "m1", "t2"]  # ties stay by name


def test_cells_show_value_with_unit_and_age(city_rows, now):
    vm = SensorsTableVM("name")
    vm.update(city_rows, now)
    cells = {
        it.sensor_id: [it.cell(c) for c in ("name", "kind", "value", "status", "age")]
        for it in vm.items
    }
    # The table's ages move in coarse steps (a row repaints about once a minute);
    # the detail view keeps the exact age.
    assert cells["t1"] == ["Tower roof", "temperature", "21.5 °C", "ok", "< 1 min ago"]
    assert cells["t3"] == ["park", "temperature", MISSING, "warn", MISSING]
    assert cells["w1"][2] == "nan m"
    with pytest.raises(KeyError, match="unknown column"):
        vm.items[0].cell("colour")


def test_name_sort_ignores_case_and_flips(city_rows, now):
    vm = SensorsTableVM("name")
    vm.update(city_rows, now)
    assert ids(vm) == ["m1", "t2", "m2", "t3", "t1", "w1"]
    vm.set_sort("name")
    assert ids(vm) == ["w1", "t1", "t3", "m2", "t2", "m1"]


@pytest.mark.parametrize("ascending", [True, False])
def test_missing_values_and_ages_sort_last_both_ways(city_rows, now, ascending):
    vm = SensorsTableVM()
    vm.update(city_rows, now)
    vm.set_sort("value", ascending)
    order = ids(vm)
    assert set(order[-2:]) == {"t3", "w1"}  # None and NaN
    real = order[:-2]
    expected = ["m2", "m1", "t1", "t2"] if ascending else ["t2", "t1", "m1", "m2"]
    assert real == expected
    vm.set_sort("age", ascending)
    assert ids(vm)[-1] == "t3"  # never reported
    assert ids(vm)[0] == ("m1" if ascending else "w1")


def test_filter_terms_all_match(city_rows, now):
    vm = SensorsTableVM("name")
    vm.update(city_rows, now)
    vm.set_filter("motion")
    assert ids(vm) == ["m1", "m2"]
    vm.set_filter("status:alarm")
    assert ids(vm) == ["m1", "t2"]
    vm.set_filter("STATUS:alarm layer:security")
    assert ids(vm) == ["m1"]
    vm.set_filter("id:t")
    assert ids(vm) == ["t2", "t3", "t1"]
    vm.set_filter("colour:red")  # unknown key: searched as plain text
    assert ids(vm) == []
    vm.set_filter("")
    assert len(vm.items) == vm.total == 6


def test_parse_filter_keeps_unknown_keys_as_text():
    assert parse_filter("Status:Alarm harbour x:y kind:") == [
        ("status", "alarm"),
        (None, "harbour"),
        (None, "x:y"),
        (None, "kind:"),
    ]


def test_hidden_layers_drop_rows(city_rows, now):
    vm = SensorsTableVM()
    assert vm.update(city_rows, now, hidden_layers={"security"})
    assert "m1" not in ids(vm) and len(vm.items) == 4
    assert vm.index_of("m1") is None and vm.index_of("t2") == 0


def test_change_detection(city_rows, now, make_sensor):
    vm = SensorsTableVM()
    assert vm.update(city_rows, now)
    assert not vm.update(city_rows, now)
    changed = (*city_rows[:-1], make_sensor("w1", status="ok"))
    assert vm.update(changed, now)


def test_unknown_sort_column_is_refused():
    with pytest.raises(KeyError):
        SensorsTableVM("colour")
    with pytest.raises(KeyError):
        SensorsTableVM().set_sort("colour")


def test_views_prepared_off_thread_diff_against_what_is_shown(city_rows, now, make_sensor):
    """Two refreshes prepared from the same shown view: the second is re-diffed on adopt."""
    vm = SensorsTableVM("name")
    vm.update(city_rows, now)
    changed = [make_sensor("t1", name="Tower roof", value=99.0, age_s=5), *city_rows[1:]]
    first, second = vm.prepare(changed, now), vm.prepare(city_rows, now)
    assert vm.adopt(first) and vm.view.changed == ("t1",) and not vm.view.reordered
    assert vm.adopt(second) and vm.view.changed == ("t1",)  # back to 21.5 °C: repaint it
    assert [i.cell("value") for i in vm.items if i.sensor_id == "t1"] == ["21.5 °C"]
    assert not vm.adopt(vm.prepare(city_rows, now))  # nothing changed: nothing to repaint
