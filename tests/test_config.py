"""Config loading: valid files load, every kind of mistake names file and key."""

from pathlib import Path

import pytest

from coptwin.config import ConfigError, load_config

GOOD = """
[storage]
uri = "tables"

[tables.readings]
path = "readings"
columns = { sensor_id = "device", ts = "time" }

[tables.sensors]
path = "sensors"

[[layers]]
name = "environment"
kinds = ["temperature"]

[rules.temperature]
warn_high = 28.0
alarm_high = 35.0
stale_after_s = 600
offline_after_s = 3600
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_loads_and_resolves_paths(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.tables.readings.column("sensor_id") == "device"
    assert cfg.tables.readings.column("value") == "value"
    assert cfg.table_uri("readings") == str((tmp_path / "tables" / "readings").resolve())
    assert cfg.layer_for_kind("temperature") == "environment"
    assert cfg.rule_for("temperature").alarm_high == 35.0


@pytest.mark.parametrize(
    "edit, key, expected",
    [
        (("[storage]", "[storage]\nfoo = 1"), "storage.foo", "unknown key"),
        (('path = "sensors"', "path = 3"), "tables.sensors.path", "Expected `str`"),
        (('[tables.sensors]\npath = "sensors"', ""), "tables.sensors", "required key is missing"),
        (("warn_high = 28.0", 'warn_high = "hot"'), "rules.temperature.warn_high", "Expected"),
        (("device", 'device", bogus = "x'), "tables.readings.columns.bogus", "unknown column"),
        (("offline_after_s = 3600", "offline_after_s = 60"), "offline_after_s", ">= stale"),
    ],
)
def test_errors_name_file_and_key(tmp_path, edit, key, expected):
    p = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(str(p)), msg
    assert key in msg and expected in msg, msg


def test_secret_in_file_is_refused_without_echoing_it(tmp_path):
    p = write(tmp_path, GOOD.replace("[storage]", '[storage]\nsecret_access_key = "hunter2"'))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "environment variables" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[storage\n"))


@pytest.mark.parametrize(
    "section, line, key, expected",
    [
        ("events.webhook", "port = 70000", "events.webhook.port", "<= 65535"),
        ("events.webhook", "port = -5", "events.webhook.port", ">= 0"),
        ("events.mqtt", "port = 0", "events.mqtt.port", ">= 1"),
        ("events.mqtt", "port = 65536", "events.mqtt.port", "<= 65535"),
        ("events.webhook", "max_body_bytes = -1", "events.webhook.max_body_bytes", ">= 1"),
        ("engine", "max_future_skew_s = -300", "engine.max_future_skew_s", ">= 0"),
        ("engine", "history_per_sensor = -1", "engine.history_per_sensor", ">= 0"),
        ("engine", "main_thread_budget_ms = -1", "engine.main_thread_budget_ms", ">= 0"),
        ("annotations", "max_text_length = -10", "annotations.max_text_length", ">= 1"),
        ("annotations", "max_text_length = 0", "annotations.max_text_length", ">= 1"),
        ("events.polling", "jitter = 1.5", "events.polling.jitter", "<= 1"),
        ("events.polling", "jitter = -0.1", "events.polling.jitter", ">= 0"),
        ("events.polling", "jitter = nan", "events.polling.jitter", ">= 0"),
        ("events.polling", "interval_s = 0", "events.polling.interval_s", "> 0"),
        ("scene", "marker_size_m = 0", "scene.marker_size_m", "> 0"),
        ("scene.enu_origin", "lat = 91.0\nlon = 0.0", "scene.enu_origin.lat", "<= 90"),
        ("scene.enu_origin", "lat = 0.0\nlon = -181.0", "scene.enu_origin.lon", ">= -180"),
    ],
)
def test_impossible_numbers_are_refused(tmp_path, section, line, key, expected):
    """Ports outside 1..65535, negative limits, a jitter outside [0, 1] (issue 12, item 1)."""
    p = write(tmp_path, f"{GOOD}\n[{section}]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: {key}: "), msg
    assert expected in msg, msg


@pytest.mark.parametrize(
    "line, key, expected",
    [
        ("stale_after_s = -600", "rules.temperature.stale_after_s", ">= 0"),
        ("active_for_s = -1", "rules.temperature.active_for_s", ">= 0"),
    ],
)
def test_negative_rule_durations_are_refused(tmp_path, line, key, expected):
    p = write(tmp_path, GOOD.replace("stale_after_s = 600", line))
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: {key}: "), msg
    assert expected in msg, msg


def test_boundary_numbers_are_accepted(tmp_path):
    extra = (
        "\n[events.webhook]\nport = 0\nmax_body_bytes = 1\n"
        "[events.mqtt]\nport = 65535\n"
        "[events.polling]\njitter = 1.0\n"
        "[engine]\nmax_future_skew_s = 0\nhistory_per_sensor = 0\n"
        "[annotations]\nmax_text_length = 1\n"
    )
    cfg = load_config(write(tmp_path, GOOD + extra))
    assert (cfg.events.webhook.port, cfg.events.mqtt.port) == (0, 65535)
    assert cfg.events.polling.jitter == 1.0
