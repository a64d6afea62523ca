"""The alarm keys of the config: defaults, and every refused value names its key."""

from __future__ import annotations

import pytest

from coptwin.config import ConfigError, config_from_dict


def _cfg(tmp_path, rules=None, **alarms):
    data = {
        "storage": {"uri": str(tmp_path)},
        "tables": {"readings": {"path": "r"}, "sensors": {"path": "s"}, "alarms": {"path": "a"}},
        "rules": rules or {},
    }
    if alarms:
        data["alarms"] = alarms
    return config_from_dict(data, base_dir=tmp_path)


def test_defaults(tmp_path):
    cfg = _cfg(tmp_path)
    rule = cfg.rule_for("anything")
    assert (rule.raise_on, rule.alarm_delay_s, rule.clear_delay_s) == (["alarm"], 0.0, 0.0)
    assert cfg.alarms.notify.events == ["raised", "escalated", "returned", "cleared"]
    assert cfg.table_uri("alarms").endswith("a")
    assert cfg.alarms.keep_closed_hours == 24.0


def test_the_engine_book_keeps_closed_alarms_as_long_as_configured(tmp_path):
    from datetime import timedelta

    from coptwin.engine.alarms import EngineAlarms

    assert EngineAlarms(_cfg(tmp_path)).live.keep_closed == timedelta(hours=24)
    two = EngineAlarms(_cfg(tmp_path, keep_closed_hours=2)).live
    assert two.keep_closed == timedelta(hours=2)
    assert EngineAlarms(_cfg(tmp_path, keep_closed_hours=None)).live.keep_closed is None


@pytest.mark.parametrize(
    ("rules", "alarms", "match"),
    [
        ({"w": {"raise_on": ["ok"]}}, {}, "rules.w.raise_on: 'ok' cannot raise"),
        ({"w": {"alarm_delay_s": -1}}, {}, "rules.w.alarm_delay_s"),
        ({"w": {"clear_delay_s": float("inf")}}, {}, "rules.w.clear_delay_s"),
        ({}, {"max_shelve_s": 0}, "alarms.max_shelve_s"),
        ({}, {"escalate_after_s": 0}, "alarms.escalate_after_s"),
        ({}, {"keep_closed_hours": 0}, "alarms.keep_closed_hours"),
        ({}, {"notify": {"events": ["paged"]}}, "alarms.notify.events: 'paged'"),
        ({}, {"notify": {"max_age_s": 10, "keep_delivered_s": 5}}, "keep_delivered_s"),
        (
            {},
            {
                "notify": {
                    "webhooks": [{"name": "a", "url_env": "X"}, {"name": "a", "url_env": "Y"}]
                }
            },
            "destination names must be unique",
        ),
        ({}, {"notify": {"webhooks": [{"name": "a", "url_env": " "}]}}, "url_env"),
        (
            {},
            {"notify": {"webhooks": [{"name": "a", "url_env": "X", "format": "pager"}]}},
            "format",
        ),
        (
            {},
            {"notify": {"email": [{"host": "h", "sender": "me@x", "to": ["nobody"]}]}},
            "alarms.notify.email[0].to",
        ),
        (
            {},
            {
                "notify": {
                    "email": [{"host": "h", "sender": "me@x", "to": ["a@x"], "username_env": "U"}]
                }
            },
            "both username_env and password_env",
        ),
        (
            {},
            {
                "notify": {
                    "email": [{"host": "h", "sender": "me@x", "to": ["a@x"], "password": "p"}]
                }
            },
            "credentials are never read",
        ),
    ],
)
def test_refused_values_name_their_key(tmp_path, rules, alarms, match):
    with pytest.raises(ConfigError) as err:
        _cfg(tmp_path, rules, **alarms)
    assert match in str(err.value)


def test_one_kind_of_process_sends_the_notifications(tmp_path):
    from coptwin.engine.alarms import sends_notifications

    hook = {"webhooks": [{"name": "ops", "url_env": "OPS_URL"}]}
    default = _cfg(tmp_path, notify=hook)
    assert default.alarms.notify.sender == "headless"
    assert sends_notifications(default, "headless") and not sends_notifications(default, "kit")
    kit = _cfg(tmp_path, notify={**hook, "sender": "kit"})
    assert sends_notifications(kit, "kit") and not sends_notifications(kit, "headless")
    nobody = _cfg(tmp_path, notify={**hook, "sender": "none"})
    assert not sends_notifications(nobody, "headless") and not sends_notifications(nobody, "kit")
    assert not sends_notifications(_cfg(tmp_path), "headless")  # no destination: nothing to send
    with pytest.raises(ConfigError, match="alarms.notify.sender"):
        _cfg(tmp_path, notify={"sender": "everyone"})
