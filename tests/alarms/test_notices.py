"""NoticeSource: which alarm milestones become notices, once each; and the whole chain
evaluator -> book -> notices -> notifier -> a real webhook receiver, on a fake clock."""

from __future__ import annotations

from coptwin.alarms.fold import AlarmBook
from coptwin.alarms.notices import NoticeSource
from coptwin.alarms.notify import Notifier, WebhookDestination
from coptwin.config import RuleConfig

from .conftest import at, operator, system
from .receivers import HttpReceiver
from .test_evaluator import Engine

A = "W-12@2025-03-01T12:00:00Z"


def _kinds(notices):
    return [(n.kind, n.alarm_id) for n in notices]


def test_raise_return_clear_once_each_and_repeats_are_not_sent():
    book, src = AlarmBook(), NoticeSource(max_age_s=3600)

    def feed(*events, now=60):
        return _kinds(src.changes(book, book.apply_events(events), at(now)))

    assert feed(system("raised", "W-12", 0)) == [("raised", A)]
    assert feed(system("returned", "W-12", 5, raised=0)) == [("returned", A)]
    assert feed(system("repeated", "W-12", 6, raised=0)) == []
    assert feed(system("returned", "W-12", 7, raised=0)) == []  # chattering: counted, not sent
    assert feed(operator("acknowledged", A, 8)) == [("cleared", A)]
    assert feed(operator("acknowledged", A, 9, author="bob")) == []


def test_first_sight_of_an_already_closed_alarm_tells_the_whole_story_in_order():
    book, src = AlarmBook(), NoticeSource()
    changed = book.apply_events(
        [
            operator("acknowledged", A, 30),
            system("returned", "W-12", 20, raised=0),
            system("raised", "W-12", 0),
        ]
    )
    notices = src.changes(book, changed, at(40))
    assert [(n.kind, n.at) for n in notices] == [
        ("raised", at(0)),
        ("returned", at(20)),
        ("cleared", at(30)),
    ]
    assert [n.event_id for n in notices] == [f"{A}/raised", f"{A}/returned", f"{A}/cleared"]


def test_old_events_and_muted_alarms_are_not_sent_but_counted():
    book, src = AlarmBook(), NoticeSource(max_age_s=600)
    changed = book.apply_events([system("raised", "OLD", 0)])
    assert src.changes(book, changed, at(3600)) == []
    book.apply_events([operator("out_of_service", None, 10, layer="water", reason="works")])
    changed = book.apply_events([system("raised", "W-12", 20)])
    assert src.changes(book, changed, at(30)) == []
    assert src.dropped == {"muted": 1, "too_old": 1}


def test_escalation_once_when_unacknowledged_and_not_while_shelved():
    book, src = AlarmBook(), NoticeSource(escalate_after_s=900)
    book.apply_events([system("raised", "W-12", 0), system("raised", "T-1", 0, layer="air")])
    t1 = "T-1@2025-03-01T12:00:00Z"
    book.apply_events([operator("shelved", t1, 10, reason="night", until=1200)])
    assert src.escalations(book, at(899)) == []
    assert _kinds(src.escalations(book, at(900))) == [("escalated", A)]
    assert src.escalations(book, at(1000)) == []
    # The shelving ended at 1200 s and it is still unacknowledged: now it escalates.
    assert _kinds(src.escalations(book, at(1200))) == [("escalated", t1)]
    book.apply_events(
        [system("raised", "X", 2000), operator("acknowledged", "X@2025-03-01T12:33:20Z", 2001)]
    )
    assert src.escalations(book, at(5000)) == []


def test_whole_chain_to_a_real_receiver():
    receiver = HttpReceiver().start()
    try:
        eng = Engine(level=RuleConfig(alarm_delay_s=10, clear_delay_s=30))
        src = NoticeSource(escalate_after_s=120, max_age_s=3600)
        notifier = Notifier(
            [WebhookDestination("ops", receiver.url(), "json")],
            retry_initial_s=0.05,
            retry_max_s=0.2,
            rate_per_minute=60_000,
        ).start()
        try:
            script = {0: "alarm", 5: "ok", 8: "alarm", 30: "ok", 32: "alarm", 200: "ok"}
            for t in range(0, 300):
                rows = [("W", script[t], 5.0)] if t in script else []
                before = eng.book.revision
                eng.tick(t, *rows)
                changed = [a.alarm_id for a in eng.book] if eng.book.revision != before else []
                notifier.submit(src.changes(eng.book, changed, at(t)))
                notifier.submit(src.escalations(eng.book, at(t)))
            assert notifier.wait_idle(20)
        finally:
            notifier.stop()
        kinds = [b["kind"] for b in receiver.bodies()]
        # Raised once (the 0..8 s wavering stayed inside the 10 s delay), escalated at
        # 138 s, returned once normal for 30 s; never acknowledged, so not cleared.
        assert kinds == ["raised", "escalated", "returned"]
        assert len(eng.book) == 1 and next(iter(eng.book)).repeats == 0
    finally:
        receiver.stop()
