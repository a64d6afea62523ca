"""Data quality (range, rate, flat line -> "suspect" with its reason) and the deadband,
through the engine's evaluate step over a real LatestState, reading by reading."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from coptwin.config import ConfigError
from coptwin.engine.steps import Verdicts, evaluate
from coptwin.model import palette, quality
from coptwin.model.state import LatestState

NOW = dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
LEVEL = {
    "quantity": "level",
    "warn_high": 3.0,
    "alarm_high": 4.0,
    "alarm_low": 0.5,
    "stale_after_s": 600,
}


class Feed:
    """One sensor kind's readings applied one tick at a time, as the engine does."""

    def __init__(self, make_config, make_registry, make_rows, history: int = 120, **rule):
        self.config = make_config(
            rules={"water_level": {**LEVEL, **rule}}, engine={"history_per_sensor": history}
        )
        sensors = [{"sensor_id": s, "kind": "water_level"} for s in ("W1", "W2")]
        self.registry = make_registry(self.config, sensors)
        self.state = LatestState(self.registry, history_per_sensor=history)
        self.verdicts = Verdicts(quality.rule_frame(self.registry, self.config))
        self.rows = make_rows
        self.t = 0.0

    def read(self, value, sensor="W1", dt_s=10.0, quantity="level"):
        """A reading ``dt_s`` after the previous one; returns (status, reason)."""
        self.t += dt_s
        now = NOW + dt.timedelta(seconds=self.t)
        row = {"sensor_id": sensor, "ts": now, "value": value, "quantity": quantity, "unit": "m"}
        changed = self.state.apply(self.rows([row]), now).changed_idx
        evaluate(self.state, self.config, self.verdicts, now, changed)
        i = self.registry.ids.index(sensor)
        return str(self.verdicts.status[i]), self.verdicts.reason(i)


@pytest.fixture
def feed(make_config, make_registry, make_rows):
    return lambda **kw: Feed(make_config, make_registry, make_rows, **kw)


def test_without_quality_keys_nothing_changes(feed):
    f = feed()
    assert f.read(4.2) == ("alarm", "value 4.2 m above alarm_high 4")
    assert f.read(3.9)[0] == "warn" and f.read(2.0)[0] == "ok"


def test_out_of_physical_range_is_bad_data_not_an_alarm(feed):
    f = feed(valid_min=0.0, valid_max=10.0)
    assert f.read(99.0) == ("suspect", "value 99 m above valid_max 10 (bad data)")
    assert f.read(-1.0) == ("suspect", "value -1 m below valid_min 0 (bad data)")
    assert f.read(4.5) == ("alarm", "value 4.5 m above alarm_high 4")
    assert f.read(10.0)[0] == "alarm"  # the limits themselves are valid


def test_rate_of_change_limit(feed):
    f = feed(max_rate_per_s=0.05)
    assert f.read(1.0)[0] == "ok"
    assert f.read(1.4)[0] == "ok"  # 0.04 m/s
    assert f.read(4.9) == ("suspect", "value 4.9 m changed by +3.5 in 10 s (max_rate_per_s 0.05)")
    assert f.read(4.8)[0] == "alarm"  # slow again: judged by the thresholds
    assert f.read(1.0, dt_s=100)[0] == "ok"  # 0.038 m/s
    assert f.read(1.0, sensor="W2")[0] == "ok"  # the first reading has no rate


def test_one_tick_judges_each_sensor_by_its_own_readings(feed):
    """Several sensors in one tick: the first is fine, the second trips the rate check
    (its measured detail lands in its own reason only)."""
    f = feed(max_rate_per_s=0.05)
    for t, values in ((10, {"W1": 1.0, "W2": 1.0}), (20, {"W1": 1.1, "W2": 4.9})):
        now = NOW + dt.timedelta(seconds=t)
        rows = [
            {"sensor_id": s, "ts": now, "value": v, "quantity": "level", "unit": "m"}
            for s, v in values.items()
        ]
        evaluate(f.state, f.config, f.verdicts, now, f.state.apply(f.rows(rows), now).changed_idx)
    assert f.verdicts.status.tolist() == ["ok", "suspect"]
    assert f.verdicts.reason(0) == "value 1.1 m within limits"
    assert f.verdicts.reason(1) == "value 4.9 m changed by +3.9 in 10 s (max_rate_per_s 0.05)"


def test_flat_line_by_count_and_by_time(feed):
    f = feed(flat_line_count=4)
    assert [f.read(2.0)[0] for _ in range(3)] == ["ok", "ok", "ok"]
    assert f.read(2.0) == ("suspect", "value 2 m unchanged for 4 readings over 30 s")
    assert f.read(2.01)[0] == "ok"
    g = feed(flat_line_s=60)
    assert [g.read(2.0, dt_s=20)[0] for _ in range(3)] == ["ok", "ok", "ok"]  # 40 s
    assert g.read(2.0, dt_s=20) == ("suspect", "value 2 m unchanged for 4 readings over 60 s")


def test_flat_line_counts_only_the_rules_quantity(feed):
    f = feed(flat_line_count=3)
    for k in range(4):  # another quantity in between changes nothing for "level"
        f.read(20.0 + k, quantity="temperature", dt_s=1)
        status = f.read(2.0, dt_s=1)[0]
    assert status == "suspect"


def test_deadband_holds_alarm_then_warn_until_the_value_is_back_past_the_band(feed):
    f = feed(deadband=0.2)
    seen = [f.read(v)[0] for v in (4.1, 3.9, 3.81, 4.0, 3.79, 2.9, 2.79, 0.6, 0.5, 0.69, 0.71)]
    assert seen == [
        "alarm",  # 4.1 >= 4
        "alarm",  # 3.9 > 4 - 0.2
        "alarm",  # 3.81
        "alarm",
        "warn",  # 3.79: past the alarm band, still above warn_high 3
        "warn",  # 2.9 > 3 - 0.2
        "ok",  # 2.79
        "ok",
        "alarm",  # 0.5 <= alarm_low
        "alarm",  # 0.69 < 0.5 + 0.2
        "ok",
    ]
    f.read(4.5)
    assert f.read(3.85) == ("alarm", "value 3.85 m within deadband 0.2 of alarm_high 4")


def test_a_wavering_value_keeps_one_status_with_a_deadband(feed):
    plain, banded = feed(), feed(deadband=0.3)
    waver = [4.0 + 0.1 * np.sin(k) for k in range(50)]  # 3.9 ... 4.1 around alarm_high
    flips = [
        sum(a != b for a, b in itertools.pairwise(s))
        for s in (
            [plain.read(v)[0] for v in waver],
            [banded.read(v)[0] for v in waver],
        )
    ]
    assert flips[0] > 10 and flips[1] == 0


def test_stale_and_unknown_are_not_revised(feed, make_rows):
    f = feed(valid_max=1.0, flat_line_count=2)
    f.read(5.0)
    later = NOW + dt.timedelta(seconds=f.t + 3600)
    evaluate(f.state, f.config, f.verdicts, later, [], everyone=True)
    assert f.verdicts.status.tolist() == ["stale", "unknown"]


def test_config_checks_the_new_keys(make_config):
    with pytest.raises(ConfigError, match=r"rules.w.valid_max: must be greater than valid_min"):
        make_config(rules={"w": {"valid_min": 2.0, "valid_max": 1.0}})
    with pytest.raises(ConfigError, match=r"rules.w.flat_line_count: at most engine"):
        make_config(rules={"w": {"flat_line_count": 500}})
    with pytest.raises(ConfigError, match=r"rules.w.deadband"):
        make_config(rules={"w": {"deadband": -1}})


def _lab(rgb_linear: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    t = xyz @ np.clip(rgb_linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


#: Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
CVD = {
    "protanopia": [[0.152, 1.053, -0.205], [0.115, 0.786, 0.099], [-0.004, -0.048, 1.052]],
    "deuteranopia": [[0.367, 0.861, -0.228], [0.280, 0.673, 0.047], [-0.012, 0.043, 0.969]],
    "tritanopia": [[1.256, -0.077, -0.179], [-0.078, 0.931, 0.148], [0.005, 0.691, 0.304]],
}


@pytest.mark.parametrize("vision", ["normal", *CVD])
def test_suspect_stays_distinguishable_from_every_status(vision):
    m = np.eye(3) if vision == "normal" else np.array(CVD[vision])
    mine = _lab(m @ np.array(palette.PALETTE["suspect"]))
    for other, rgb in palette.PALETTE.items():
        if other != "suspect":
            assert np.linalg.norm(mine - _lab(m @ np.array(rgb))) > 15, other
