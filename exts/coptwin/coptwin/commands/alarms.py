"""``coptwin alarms``: operators' alarms from the command line.

``list`` shows alarms (open ones by default: active first, oldest
unacknowledged first; ``--as-of`` for the alarms as they were); ``ack``,
``shelve``, ``unshelve`` act on alarms; ``out-of-service`` / ``in-service``
take a sensor or a layer out of service for maintenance and back; ``history``
is one alarm's audit trail (who, when, why); ``export`` writes the list or
every transition as CSV or JSON lines.

Every action is validated first: an invalid transition (acknowledging a
closed alarm, unshelving what is not shelved, shelving without a reason or
until a time in the past) is refused with a clear message and nothing is
written.  Text is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta

from coptwin.commands import _common
from coptwin.commands._common import terminal_safe
from coptwin.config import Config

_STATE_CHOICES = (
    "open",
    "all",
    "unacknowledged-active",
    "acknowledged-active",
    "unacknowledged-returned",
    "shelved",
    "out-of-service",
    "closed",
)


def parse_duration(text: str) -> timedelta:
    """``--for``: ``8h``, ``30m``, ``1h30m``, ``2d``, ``90s`` -> a positive duration."""
    from coptwin.alarms.model import AlarmError, duration

    try:
        return duration(text)
    except AlarmError as exc:
        raise argparse.ArgumentTypeError(f"--for: {exc}") from None


def _time(text: str) -> datetime:
    """``--until``: an ISO-8601 time ahead (UTC if no zone); the store refuses the past."""
    from coptwin.engine.time_travel import parse_time

    when = parse_time(text)
    if when is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time")
    return when


HELP = "list, acknowledge, shelve and export operators' alarms"


def register(p: argparse.ArgumentParser) -> None:
    verb = _common.add_verbs(p, _VERBS)

    ls = verb("list", "list alarms (open ones by default)")
    ls.add_argument("--state", choices=_STATE_CHOICES, default="open")
    ls.add_argument("--sensor", help="only this sensor's alarms")
    ls.add_argument("--layer", help="only this layer's alarms")
    _common.add_as_of_arg(ls)
    ls.add_argument("--json", action="store_true", help="print JSON lines")

    ack = verb("ack", "acknowledge alarms: 'I have seen it, I am on it'")
    ack.add_argument("alarm_ids", nargs="*", metavar="ALARM_ID")
    ack.add_argument("--sensor", action="append", default=[], help="the sensor's open alarm")
    ack.add_argument("--note", help="optional note (kept in the history)")
    _common.add_author_arg(ack)

    sh = verb("shelve", "mute alarms until a time, with a reason")
    sh.add_argument("alarm_ids", nargs="*", metavar="ALARM_ID")
    sh.add_argument("--sensor", action="append", default=[], help="the sensor's open alarm")
    until = sh.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", type=_time, help="ISO-8601 time (UTC if no zone)")
    until.add_argument("--for", dest="duration", type=parse_duration, help="e.g. 8h, 30m, 1h30m")
    sh.add_argument("--reason", required=True, help="why (required)")
    _common.add_author_arg(sh)

    un = verb("unshelve", "end a shelving before its time")
    un.add_argument("alarm_ids", nargs="*", metavar="ALARM_ID")
    un.add_argument("--sensor", action="append", default=[], help="the sensor's open alarm")
    un.add_argument("--reason", help="optional")
    _common.add_author_arg(un)

    for name, help_ in (
        ("out-of-service", "take a sensor or a layer out of service (maintenance): no alarms"),
        ("in-service", "return a sensor or a layer to service"),
    ):
        v = verb(name, help_)
        which = v.add_mutually_exclusive_group(required=True)
        which.add_argument("--sensor")
        which.add_argument("--layer")
        v.add_argument("--reason", required=name == "out-of-service", help="why")
        _common.add_author_arg(v)

    hist = verb("history", "one alarm's transitions: who, when, why")
    hist.add_argument("alarm_id")
    _common.add_as_of_arg(hist)
    hist.add_argument("--json", action="store_true", help="print JSON lines")

    ex = verb("export", "export alarms or every transition as CSV or JSON lines")
    ex.add_argument("--what", choices=("alarms", "events"), default="alarms")
    ex.add_argument("--state", choices=_STATE_CHOICES, default="all")
    _common.add_as_of_arg(ex)
    _common.add_export_args(ex, ("csv", "json"))


def _store(cfg: Config):
    from coptwin.alarms import AlarmStore

    return AlarmStore.from_config(cfg)


def _book(store, as_of):
    """The book and the time its states are shown at: now; as of a table version (Delta
    time travel: what the table held then); or as of a time (the events up to then, the
    way the engine and the page show the past)."""
    if isinstance(as_of, datetime):
        return store.book().as_of(as_of), as_of
    if isinstance(as_of, int):
        return store.load(as_of), store.as_of_time(as_of)
    return store.book(), store.now()


def _states(choice: str):
    from coptwin.alarms.model import OPEN_STATES

    if choice == "open":
        return OPEN_STATES
    return None if choice == "all" else (choice,)


def _iso(when: datetime | None) -> str | None:
    from coptwin.alarms.model import iso_z

    return iso_z(when) if when is not None else None


# ---- verbs --------------------------------------------------------------------------------
def _list(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.ui.format import format_time

    store = _store(cfg)
    book, now = _book(store, args.as_of)
    rows = [
        (a, s)
        for a, s in book.listing(now, _states(args.state))
        if (args.sensor is None or a.sensor_id == args.sensor)
        and (args.layer is None or a.layer == args.layer)
    ]
    for alarm, state in rows:
        if args.json:
            record = {
                "alarm_id": alarm.alarm_id,
                "state": state,
                "sensor_id": alarm.sensor_id,
                "layer": alarm.layer,
                "status": alarm.status,
                "value": alarm.value,
                "reason": alarm.reason,
                "raised_at": _iso(alarm.raised_at),
                "returned_at": _iso(alarm.returned_at),
                "repeats": alarm.repeats,
                "acked_by": alarm.acked_by,
                "acked_at": _iso(alarm.acked_at),
                "shelved_until": _iso(alarm.shelved_until) if state == "shelved" else None,
                "shelve_reason": alarm.shelve_reason if state == "shelved" else None,
                "closed_at": _iso(alarm.closed_at),
            }
            print(json.dumps(record, ensure_ascii=True))
            continue
        extra = []
        if alarm.repeats:
            extra.append(f"repeated {alarm.repeats}x")
        if alarm.acked_by:
            extra.append(f"acknowledged by {alarm.acked_by}")
        if state == "shelved":
            extra.append(
                f"shelved until {format_time(alarm.shelved_until)} by {alarm.shelved_by}: "
                f"{alarm.shelve_reason or ''}"
            )
        print(
            f"[{state}] {terminal_safe(alarm.alarm_id)}  {format_time(alarm.raised_at)}  "
            f"{terminal_safe(alarm.layer or '-')}  {alarm.status or '-'}"
            + (f"  ({terminal_safe('; '.join(extra))})" if extra else "")
        )
        if alarm.reason:
            print(f"    {terminal_safe(alarm.reason)}")
    if not args.json:
        counts = book.counts(now)
        badge = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        print(f"{len(rows)} alarm(s); open: {badge or 'none'}", file=sys.stderr)
        scopes = book.scopes()
        if scopes:
            names = ", ".join(f"{s.kind} {s.name}" for s in scopes)
            print(f"out of service: {terminal_safe(names)}", file=sys.stderr)
    return 0


def _targets(store, args: argparse.Namespace) -> list[str]:
    """Alarm ids from the arguments plus the open alarm of each ``--sensor``."""
    from coptwin.alarms import AlarmError

    ids = list(args.alarm_ids)
    if args.sensor:
        book = store.book()
        for sensor in args.sensor:
            alarm = book.open_for(sensor)
            if alarm is None:
                raise AlarmError(f"sensor {sensor!r} has no open alarm")
            ids.append(alarm.alarm_id)
    if not ids:
        raise AlarmError("name the alarms (ALARM_ID ...) or --sensor")
    return ids


def _act(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg)
    ids = _targets(store, args)
    if args.verb == "ack":
        events = store.acknowledge(ids, args.author, args.note)
    elif args.verb == "shelve":
        until = args.until if args.until is not None else store.now() + args.duration
        events = store.shelve(ids, args.author, args.reason, until)
    else:
        events = store.unshelve(ids, args.author, args.reason)
    for e in events:
        print(e.alarm_id)
    return 0


def _service(cfg: Config, args: argparse.Namespace) -> int:
    store = _store(cfg)
    out = args.verb == "out-of-service"
    store.set_service(out, args.author, args.reason, sensor_id=args.sensor, layer=args.layer)
    what = f"sensor {args.sensor}" if args.sensor else f"layer {args.layer}"
    state = "out of service" if out else "back in service"
    print(f"{terminal_safe(what)} {state}", file=sys.stderr)
    return 0


def _history(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.alarms import AlarmError
    from coptwin.ui.format import format_time

    book, _ = _book(_store(cfg), args.as_of)
    if book.get(args.alarm_id) is None:
        raise AlarmError(f"unknown alarm {args.alarm_id!r}")
    for e in book.history(args.alarm_id):
        if args.json:
            record = {
                "event_id": e.event_id,
                "event": e.event,
                "ts": _iso(e.ts),
                "author": e.author,
                "status": e.status,
                "value": e.value,
                "reason": e.reason,
                "until": _iso(e.until),
            }
            print(json.dumps(record, ensure_ascii=True))
            continue
        why = f"  {terminal_safe(e.reason)}" if e.reason else ""
        until = f" until {format_time(e.until)}" if e.until else ""
        print(f"{format_time(e.ts)}  {e.event:<12}  {terminal_safe(e.author)}{until}{why}")
    return 0


def _export(cfg: Config, args: argparse.Namespace) -> int:
    from coptwin.alarms.export import events_frame, to_csv, to_json_lines

    book, now = _book(_store(cfg), args.as_of)
    frame = events_frame(book) if args.what == "events" else book.frame(now, _states(args.state))
    text = to_csv(frame, safe=not args.raw_csv) if args.format == "csv" else to_json_lines(frame)
    _common.write_export(args.output, text, f"{frame.height} {args.what}")
    return 0


_VERBS = {
    "list": _list,
    "ack": _act,
    "shelve": _act,
    "unshelve": _act,
    "out-of-service": _service,
    "in-service": _service,
    "history": _history,
    "export": _export,
}
