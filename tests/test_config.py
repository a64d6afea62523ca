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
