"""Notifier against real local receivers (aiohttp on 127.0.0.1, aiosmtpd with STARTTLS): formats,
outages, restarts, permanent failures, rate limit, secrets.  No mocks."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest

from coptwin.alarms.model import alarm_id_for
from coptwin.alarms.notices import Notice
from coptwin.alarms.notify import EmailDestination, Notifier, WebhookDestination
from coptwin.config import ConfigError, config_from_dict

from .conftest import T0, at
from .receivers import HttpReceiver, SmtpReceiver, free_port

SECRET = "xoxSECRETKEY"


def notice(i: int, kind: str = "raised", sensor: str = "W-12") -> Notice:
    raised = at(i)
    return Notice(
        event_id=f"{alarm_id_for(sensor, raised)}/{kind}",
        kind=kind,
        alarm_id=alarm_id_for(sensor, raised),
        sensor_id=sensor,
        layer="water",
        state="unacknowledged-active",
        status="alarm",
        value=4.25 + i,
        reason="level 4.25 m >= alarm_high 4 m",
        at=raised,
        raised_at=raised,
    )


def fast(dests, path=None, **kw) -> Notifier:
    opts = {"retry_initial_s": 0.05, "retry_max_s": 0.2, "rate_per_minute": 60_000}
    opts.update(kw)
    return Notifier(dests, path, **opts)


@pytest.fixture()
def receiver():
    r = HttpReceiver().start()
    yield r
    r.stop()


def test_generic_json_slack_and_teams_formats(receiver):
    dests = [
        WebhookDestination("plain", receiver.url("/json"), "json"),
        WebhookDestination("slack", receiver.url("/slack"), "slack"),
        WebhookDestination("teams", receiver.url("/teams"), "teams"),
    ]
    with fast(dests) as n:
        n.submit([notice(0)])
        assert n.wait_idle(20)
    by_path = {p.path: p for p in receiver.accepted}
    plain = by_path["/json"].body
    assert plain["type"] == "coptwin.alarm" and plain["version"] == 1
    assert (plain["kind"], plain["sensor_id"], plain["value"]) == ("raised", "W-12", 4.25)
    assert plain["event_id"] == "W-12@2025-03-01T12:00:00Z/raised" and plain["at"].endswith("Z")
    assert by_path["/json"].headers["Content-Type"].startswith("application/json")
    slack = by_path["/slack"].body
    assert slack["text"].startswith("ALARM (alarm): sensor W-12")
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "context"]
    assert slack["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "ALARM (alarm): sensor W-12",
    }
    assert 0 < len(slack["blocks"][2]["fields"]) <= 10
    assert slack["blocks"][1]["text"]["text"] == "level 4.25 m &gt;= alarm_high 4 m"  # escaped
    teams = by_path["/teams"].body
    assert teams["type"] == "message" and len(teams["attachments"]) == 1
    att = teams["attachments"][0]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert att["contentUrl"] is None
    card = att["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    facts = {f["title"]: f["value"] for f in card["body"][-1]["facts"]}
    assert facts["Sensor"] == "W-12" and facts["Value"] == "4.25"


def test_a_receiver_down_for_a_while_gets_each_message_once_when_back(caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    r = HttpReceiver(port)  # not started: connection refused
    dest = WebhookDestination("ops", r.url(), "json")
    n = fast([dest]).start()
    try:
        assert n.submit([notice(i) for i in range(5)]) == 5
        st = _first_error(n)
        assert not st.healthy and st.pending == 5 and st.sent == 0
        assert "Connect" in st.last_error and SECRET not in st.last_error
        # Back, but overloaded for its first answers.
        answers = iter([(503, "busy", {}), (503, "busy", {})])
        r.answer = lambda post: next(answers, (200, "ok", {}))
        r.start()
        assert n.wait_idle(30)
        [st] = n.status()
        assert st.healthy and st.pending == 0 and st.sent == 5 and st.delivered == 5
    finally:
        n.stop()
        r.stop()
    got = [b["event_id"] for b in r.bodies()]
    assert got == [notice(i).event_id for i in range(5)]  # each once, in order
    assert len(r.posts) == 7
    assert SECRET not in caplog.text and "T0SECRET" not in caplog.text


def test_restart_neither_loses_nor_resends(tmp_path, receiver):
    state = tmp_path / "out" / "notify.json"
    down = WebhookDestination("ops", f"http://127.0.0.1:{free_port()}/hook/{SECRET}", "json")
    first = fast([down], state).start()
    first.submit([notice(i) for i in range(3)])
    first.stop()
    saved = json.loads(state.read_text())
    assert len(saved["destinations"]["ops"]["pending"]) == 3
    assert SECRET not in state.read_text()  # the file holds notices, never the URL
    # Restart with the receiver reachable: the pending notices go out once.
    up = WebhookDestination("ops", receiver.url(), "json")
    second = fast([up], state).start()
    assert second.wait_idle(20)
    # The engine re-derives the same notices after its restart: nothing is sent again.
    assert second.submit([notice(i) for i in range(3)]) == 0
    second.stop()
    third = fast([up], state).start()
    assert third.submit([notice(i) for i in range(4)]) == 1
    assert third.wait_idle(20)
    third.stop()
    assert sorted(b["event_id"] for b in receiver.bodies()) == sorted(
        notice(i).event_id for i in range(4)
    )


def test_refused_notice_moves_to_failed_and_the_queue_goes_on(receiver):
    bad = notice(1).event_id
    receiver.answer = lambda post: (
        (404, "no_service", {}) if post.body["event_id"] == bad else (200, "ok", {})
    )
    with fast([WebhookDestination("ops", receiver.url(), "json")]) as n:
        n.submit([notice(i) for i in range(3)])
        assert n.wait_idle(20)
        [st] = n.status()
    assert (st.pending, st.failed, st.sent) == (0, 1, 2)
    assert st.last_error == "HTTP 404: no_service"
    assert len(receiver.accepted) == 2


def test_throttling_is_retried_retry_after_and_teams_200_with_429(receiver):
    answers = iter(
        [
            (429, "slow down", {"Retry-After": "0"}),
            (200, "Microsoft Teams endpoint returned HTTP error 429", {}),
        ]
    )
    receiver.answer = lambda post: next(answers, (202, "", {}))
    with fast([WebhookDestination("teams", receiver.url(), "teams")]) as n:
        n.submit([notice(0)])
        assert n.wait_idle(20)
    assert len(receiver.posts) == 3 and len(receiver.accepted) == 1


def test_rate_limit_spaces_messages_per_destination(receiver):
    with fast([WebhookDestination("ops", receiver.url(), "json")], rate_per_minute=600) as n:
        n.submit([notice(i) for i in range(4)])
        assert n.wait_idle(20)
    arrivals = [p.arrived for p in receiver.accepted]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.1 - 0.005  # 600/min: one per 0.1 s at most


def test_a_hanging_destination_never_blocks_the_caller(receiver):
    release = threading.Event()

    def slow(post):
        release.wait(10)
        return (200, "ok", {})

    receiver.answer = slow
    with fast([WebhookDestination("ops", receiver.url(), "json")]) as n:
        n.submit([notice(0)])
        caller = threading.Thread(target=lambda: n.submit([notice(i) for i in range(1, 50)]))
        caller.start()
        caller.join(5)
        assert not caller.is_alive(), "submit waited for the network"
        assert n.pending() == 50
        release.set()
        assert n.wait_idle(30)


def test_missing_webhook_env_keeps_notices_pending_and_says_why(tmp_path):
    cfg = _config(tmp_path, webhooks=[{"name": "ops", "url_env": "COPTWIN_TEST_UNSET_URL"}])
    n = Notifier.from_config(cfg, environ={})
    with n:
        n.submit([notice(0)])
        assert not n.wait_idle(0.3)
        [st] = n.status()
    assert st.problem == "environment variable COPTWIN_TEST_UNSET_URL is not set"
    assert not st.healthy and st.pending == 1
    assert "ops: environment variable" in n.summary()


def test_webhook_url_in_the_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="webhooks\\[0\\].url: webhook URLs embed their secret"):
        _config(tmp_path, webhooks=[{"name": "o", "url_env": "X", "url": "https://hooks/x"}])


def test_email_over_starttls_with_login_from_env_after_an_outage(tmp_path):
    port = free_port()
    smtp = SmtpReceiver(tmp_path, port)
    cfg = _config(
        tmp_path,
        email=[
            {
                "host": "127.0.0.1",
                "port": port,
                "sender": "coptwin@example.org",
                "to": ["ops@example.org", "duty@example.org"],
                "username_env": "SMTP_USER",
                "password_env": "SMTP_PASS",
                "ca_bundle": str(smtp.ca_file),
            }
        ],
    )
    env = {"SMTP_USER": SmtpReceiver.USER, "SMTP_PASS": SmtpReceiver.PASSWORD}
    n = Notifier.from_config(cfg, environ=env, retry_initial_s=0.05, retry_max_s=0.2)
    with n:
        n.submit([notice(0), notice(1, "cleared")])
        st = _first_error(n)  # server down: retried, kept
        assert st.pending == 2 and ("Connection" in st.last_error or "Errno" in st.last_error)
        smtp.start()
        try:
            assert n.wait_idle(30)
        finally:
            smtp.stop()
        [st] = n.status()
    assert SmtpReceiver.PASSWORD not in (st.last_error or "")
    assert len(smtp.messages) == 2
    msg = smtp.messages[0]
    assert msg["Subject"].startswith("[coptwin] ALARM (alarm): sensor W-12")
    assert msg["To"] == "ops@example.org, duty@example.org"
    assert msg["X-Coptwin-Event-Id"] == notice(0).event_id
    assert "level 4.25 m >= alarm_high 4 m" in msg.get_content()
    assert smtp.messages[1]["Subject"].startswith("[coptwin] cleared: sensor W-12")


def test_wrong_smtp_password_is_retried_not_dropped(tmp_path):
    smtp = SmtpReceiver(tmp_path).start()
    try:
        dest = EmailDestination(
            "mail",
            "127.0.0.1",
            smtp.port,
            "coptwin@example.org",
            ["ops@example.org"],
            username=SmtpReceiver.USER,
            password="wrong-password",
            ca_bundle=str(smtp.ca_file),
        )
        with fast([dest]) as n:
            n.submit([notice(0)])
            st = _first_error(n)
        assert st.pending == 1 and st.failed == 0 and st.last_error.startswith("SMTP 535")
        assert "wrong-password" not in st.last_error
    finally:
        smtp.stop()


def _first_error(n: Notifier, timeout_s: float = 20.0):
    """The destination's status once an attempt has failed (bounded wait)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        [st] = n.status()
        if st.last_error:
            return st
        time.sleep(0.02)
    raise AssertionError("no delivery attempt failed in time")


def _config(tmp_path, **notify):
    return config_from_dict(
        {
            "storage": {"uri": str(tmp_path)},
            "tables": {"readings": {"path": "r"}, "sensors": {"path": "s"}},
            "alarms": {"notify": {"state_path": str(tmp_path / "notify.json"), **notify}},
        },
        base_dir=tmp_path,
    )


def test_notice_round_trips_through_json():
    n = notice(3)
    assert Notice.from_dict(json.loads(json.dumps(n.to_dict()))) == n
    assert n.at == T0 + timedelta(seconds=3)
