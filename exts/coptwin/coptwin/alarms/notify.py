"""Delivering alarm notices to people: webhooks (JSON, Slack, Teams) and e-mail over SMTP.

Guarantees:

- **at least once, each message once per destination**: a notice stays pending
  until its destination accepted it; its ``event_id`` is remembered after
  delivery (``keep_delivered_s``) so the same notice submitted again - by a
  restart re-deriving it from the alarms table, or a second submit - is not
  sent twice;
- **retries with backoff** (``retry_initial_s`` doubling to ``retry_max_s``,
  with jitter; a ``Retry-After`` is honoured), **rate-limited** per destination
  (``rate_per_minute``), in order per destination;
- **never blocks the caller**: :meth:`Notifier.submit` only queues; delivery runs
  on the notifier's own thread and asyncio loop, one task per destination, so
  a destination that is down delays only itself;
- **survives restarts**: pending, delivered and failed notices are kept in a
  small JSON state file (``alarms.notify.state_path``) written atomically
  after every change;
- **queryable**: :meth:`Notifier.status` (status line, ``coptwin doctor``).

A destination's answer decides: 2xx is delivered; 408, 429, 5xx, timeouts and
connection errors are retried; any other 4xx (and SMTP 5xx other than
authentication) will not get better by retrying - the notice moves to the
destination's ``failed`` list, stays visible in the status and is not lost.

Webhook URLs are secrets (Slack and Teams URLs embed their key): they come
from environment variables named in the config, are never logged, and error
texts are redacted.  SMTP credentials likewise come from environment variables.

HTTP is aiohttp (the web server uses it too, and Kit bundles it); SMTP is the
standard library's smtplib in a worker thread (STARTTLS, login), which needs no
extra package inside Kit - e-mail volume is far too low for an async client
to matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import smtplib
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from coptwin.alarms.messages import body_bytes, email_message
from coptwin.alarms.model import iso_z, utc_now
from coptwin.alarms.notices import Notice
from coptwin.config import ALARM_NOTICES, Config, NotifyConfig

log = logging.getLogger(__name__)

STATE_VERSION = 1


class DeliveryError(Exception):
    """A destination did not take a notice; ``permanent``: retrying will not help."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


# ---- destinations ---------------------------------------------------------------------------
class Destination:
    """Somewhere notices go; subclasses implement :meth:`send`."""

    kind = "destination"

    def __init__(self, name: str, events: Iterable[str] = ALARM_NOTICES) -> None:
        self.name = name
        self.events = frozenset(events)
        #: Why this destination cannot work as configured (None: fine).
        self.problem: str | None = None

    def describe(self) -> str:
        return self.kind

    def redact(self, text: str) -> str:
        return text

    async def send(self, notice: Notice, session) -> None:
        raise NotImplementedError


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date; the backoff applies


class WebhookDestination(Destination):
    """POST a JSON body (``json``, ``slack`` or ``teams`` format) to a secret URL."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str | None,
        fmt: str = "json",
        events: Iterable[str] = ALARM_NOTICES,
        *,
        timeout_s: float = 10.0,
        url_env: str = "",
    ) -> None:
        super().__init__(name, events)
        self.format = fmt
        self._url = url or ""
        self.timeout_s = timeout_s
        if not self._url:
            self.problem = f"environment variable {url_env or '(url_env)'} is not set"
        elif urlsplit(self._url).scheme not in ("http", "https"):
            self.problem = f"the URL in {url_env or 'url_env'} is not an http(s) URL"
            self._url = ""

    def describe(self) -> str:
        parts = urlsplit(self._url)
        where = f"{parts.scheme}://{parts.hostname}/..." if self._url else "(no URL)"
        return f"{self.format} webhook {where}"

    def redact(self, text: str) -> str:
        """``text`` without the URL's path and query (where Slack and Teams keep the key)."""
        if not self._url:
            return text
        parts = urlsplit(self._url)
        secrets = sorted({self._url, parts.path, parts.query} - {"", "/"}, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "<redacted>")
        return text

    async def send(self, notice: Notice, session) -> None:
        import aiohttp

        body = body_bytes(self.format, notice)
        try:
            async with session.post(
                self._url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                allow_redirects=False,
            ) as resp:
                text = (await resp.content.read(2048)).decode("utf-8", "replace")
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise DeliveryError(self.redact(f"{type(exc).__name__}: {exc}")) from None
        if 200 <= status < 300:
            # Teams' connector webhooks answer throttling with 200 and this text.
            if self.format == "teams" and "HTTP error 429" in text:
                raise DeliveryError("HTTP 429 (Teams throttling)", retry_after=retry_after)
            return
        detail = self.redact(" ".join(text.split())[:200])
        message = f"HTTP {status}" + (f": {detail}" if detail else "")
        permanent = 400 <= status < 500 and status not in (408, 425, 429)
        raise DeliveryError(message, permanent=permanent, retry_after=retry_after)


class EmailDestination(Destination):
    """E-mail over SMTP: STARTTLS, then login when credentials are given."""

    kind = "email"

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        sender: str,
        to: list[str],
        events: Iterable[str] = ALARM_NOTICES,
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        ca_bundle: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(name, events)
        self.host, self.port, self.sender, self.to = host, port, sender, list(to)
        self.starttls = starttls
        self._username, self._password = username, password
        self.ca_bundle = ca_bundle
        self.timeout_s = timeout_s

    def describe(self) -> str:
        tls = "STARTTLS" if self.starttls else "no TLS"
        return f"e-mail via {self.host}:{self.port} ({tls}) to {len(self.to)} recipient(s)"

    def redact(self, text: str) -> str:
        for secret in (self._password, self._username):
            if secret:
                text = text.replace(secret, "***")
        return text

    async def send(self, notice: Notice, session) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, notice)
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            # Authentication problems (530, 535) are fixed by an operator: keep retrying.
            permanent = code >= 500 and code not in (530, 534, 535)
            raise DeliveryError(self.redact(f"SMTP {code}"), permanent=permanent) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({c for c, _ in exc.recipients.values()})
            raise DeliveryError(
                f"SMTP recipients refused ({codes})", permanent=all(c >= 500 for c in codes)
            ) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(self.redact(f"{type(exc).__name__}: {exc}")) from None

    def _send_blocking(self, notice: Notice) -> None:
        msg = email_message(notice, self.sender, self.to)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.ca_bundle))
                smtp.ehlo()
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(msg)


def destinations_from_config(
    notify: NotifyConfig, environ: Mapping[str, str] | None = None, base: Config | None = None
) -> list[Destination]:
    """Destinations with their secrets read from the environment (never from the file)."""
    env = os.environ if environ is None else environ
    out: list[Destination] = []
    for hook in notify.webhooks:
        out.append(
            WebhookDestination(
                hook.name,
                env.get(hook.url_env, "").strip() or None,
                hook.format,
                hook.events or notify.events,
                timeout_s=notify.timeout_s,
                url_env=hook.url_env,
            )
        )
    for mail in notify.email:
        user = env.get(mail.username_env) if mail.username_env else None
        password = env.get(mail.password_env) if mail.password_env else None
        dest = EmailDestination(
            mail.name,
            mail.host,
            mail.port,
            mail.sender,
            mail.to,
            mail.events or notify.events,
            starttls=mail.starttls,
            username=user,
            password=password,
            ca_bundle=(
                str(base.resolve_path(mail.ca_bundle))
                if base is not None and mail.ca_bundle
                else mail.ca_bundle
            ),
            timeout_s=notify.timeout_s,
        )
        if mail.username_env and not (user and password):
            dest.problem = (
                f"environment variables {mail.username_env} / {mail.password_env} are not set"
            )
        out.append(dest)
    return out


# ---- per-destination bookkeeping ---------------------------------------------------------------
@dataclass(frozen=True)
class DestinationStatus:
    """What the status line shows of one destination (``coptwin doctor`` reads the
    state file the sender keeps)."""

    name: str
    healthy: bool
    pending: int
    failed: int
    #: Delivered event ids remembered (this and earlier runs), and sent by this run.
    delivered: int
    sent: int
    #: Why it cannot send (configuration), or its latest error.
    problem: str | None
    last_error: str | None


@dataclass
class _Queue:
    pending: dict[str, Notice] = field(default_factory=dict)
    delivered: dict[str, datetime] = field(default_factory=dict)
    failed: dict[str, tuple[Notice, str]] = field(default_factory=dict)
    sent: int = 0
    streak: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_ok_at: datetime | None = None
    next_attempt_at: datetime | None = None
    next_allowed: float = 0.0
    wake: asyncio.Event | None = None


class Notifier:
    """Queues notices per destination and delivers them on its own thread."""

    def __init__(
        self,
        destinations: Iterable[Destination],
        state_path: str | Path | None = None,
        *,
        retry_initial_s: float = 2.0,
        retry_max_s: float = 300.0,
        rate_per_minute: float = 20.0,
        keep_delivered_s: float = 7 * 86400.0,
        clock=utc_now,
    ) -> None:
        self.destinations = {d.name: d for d in destinations}
        self.state_path = Path(state_path) if state_path is not None else None
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.min_interval_s = 60.0 / rate_per_minute if rate_per_minute > 0 else 0.0
        self.keep_delivered = timedelta(seconds=keep_delivered_s)
        self._clock = clock
        self._lock = threading.RLock()
        self._queues = {name: _Queue() for name in self.destinations}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._load()

    @classmethod
    def from_config(
        cls, config: Config, environ: Mapping[str, str] | None = None, **kwargs
    ) -> Notifier:
        n = config.alarms.notify
        options = {
            "retry_initial_s": n.retry_initial_s,
            "retry_max_s": n.retry_max_s,
            "rate_per_minute": n.rate_per_minute,
            "keep_delivered_s": n.keep_delivered_s,
            **kwargs,
        }
        return cls(
            destinations_from_config(n, environ, config),
            config.resolve_path(n.state_path),
            **options,
        )

    # ---- the caller's side (any thread, never blocks on the network) ------------------
    def submit(self, notices: Iterable[Notice]) -> int:
        """Queue notices for every destination that wants them; returns how many were
        queued (already delivered, pending or failed ones are skipped)."""
        queued = 0
        with self._lock:
            for notice in notices:
                for name, dest in self.destinations.items():
                    if notice.kind not in dest.events:
                        continue
                    q = self._queues[name]
                    eid = notice.event_id
                    if eid in q.pending or eid in q.delivered or eid in q.failed:
                        continue
                    q.pending[eid] = notice
                    queued += 1
        if queued:
            self._changed()
        return queued

    def status(self) -> list[DestinationStatus]:
        with self._lock:
            return [
                DestinationStatus(
                    name=name,
                    healthy=d.problem is None and q.streak == 0,
                    pending=len(q.pending),
                    failed=len(q.failed),
                    delivered=len(q.delivered),
                    sent=q.sent,
                    problem=d.problem,
                    last_error=q.last_error,
                )
                for name, d in self.destinations.items()
                for q in (self._queues[name],)
            ]

    def summary(self) -> str:
        """One line for a status bar, e.g. ``notify: 1/2 ok, 3 pending, teams: HTTP 503``."""
        states = self.status()
        if not states:
            return "notify: off"
        ok = sum(s.healthy for s in states)
        pending = sum(s.pending for s in states)
        text = f"notify: {ok}/{len(states)} ok"
        if pending:
            text += f", {pending} pending"
        bad = next((s for s in states if not s.healthy), None)
        if bad is not None:
            text += f", {bad.name}: {bad.problem or bad.last_error}"
        return text

    def pending(self) -> int:
        with self._lock:
            return sum(len(q.pending) for q in self._queues.values())

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is pending (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> Notifier:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="coptwin-notify", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop delivering (pending notices stay in the state file for the next start)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None
        self._save()

    def __enter__(self) -> Notifier:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the notifier's thread ------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        for q in self._queues.values():
            q.wake = asyncio.Event()
            q.wake.set()
        self._loop = loop
        self._ready.set()
        async with aiohttp.ClientSession(trust_env=True) as session:
            tasks = [
                asyncio.create_task(self._deliver(d, self._queues[d.name], session))
                for d in self.destinations.values()
            ]
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    def _changed(self) -> None:
        """Wake the workers and persist (on the notifier thread when it runs)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            self._save()
            return

        def wake() -> None:
            for q in self._queues.values():
                if q.wake is not None:
                    q.wake.set()
            self._save()

        loop.call_soon_threadsafe(wake)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))

    async def _deliver(self, dest: Destination, q: _Queue, session) -> None:
        assert q.wake is not None and self._stop is not None
        while not self._stop.is_set():
            with self._lock:
                notice = next(iter(q.pending.values()), None)
            if notice is None:
                q.wake.clear()
                await q.wake.wait()
                continue
            if dest.problem is not None:
                self._failed_attempt(dest, q, dest.problem, None)
                await self._sleep(self.retry_max_s)
                continue
            wait = q.next_allowed - time.monotonic()
            if wait > 0:  # rate limit: at most rate_per_minute per destination
                await self._sleep(wait)
                continue
            try:
                await dest.send(notice, session)
            except DeliveryError as exc:
                if exc.permanent:
                    self._give_up(dest, q, notice, str(exc))
                    continue
                delay = self._failed_attempt(dest, q, str(exc), exc.retry_after)
                await self._sleep(delay)
                continue
            except Exception as exc:  # a bug in a destination must not stop the others
                log.error("notify %s: unexpected %s", dest.name, type(exc).__name__)
                delay = self._failed_attempt(dest, q, type(exc).__name__, None)
                await self._sleep(delay)
                continue
            now = self._clock()
            with self._lock:
                q.pending.pop(notice.event_id, None)
                q.delivered[notice.event_id] = now
                q.sent += 1
                q.streak = 0
                q.last_ok_at = now
                q.next_attempt_at = None
            q.next_allowed = time.monotonic() + self.min_interval_s
            log.info("notify %s: delivered %s", dest.name, notice.event_id)
            self._save()

    def _failed_attempt(
        self, dest: Destination, q: _Queue, error: str, retry_after: float | None
    ) -> float:
        with self._lock:
            q.streak += 1
            delay = min(self.retry_max_s, self.retry_initial_s * 2 ** min(q.streak - 1, 20))
            delay *= 0.8 + 0.4 * random.random()
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.retry_max_s))
            now = self._clock()
            q.last_error, q.last_error_at = error, now
            q.next_attempt_at = now + timedelta(seconds=delay)
        self._save()
        log.warning(
            "notify %s: attempt failed (%s); %d pending, retrying in %.1fs",
            dest.name,
            error,
            len(q.pending),
            delay,
        )
        return delay

    def _give_up(self, dest: Destination, q: _Queue, notice: Notice, error: str) -> None:
        with self._lock:
            q.pending.pop(notice.event_id, None)
            q.failed[notice.event_id] = (notice, error)
            q.last_error, q.last_error_at = error, self._clock()
        log.error(
            "notify %s: %s refused (%s); kept as failed, not retried",
            dest.name,
            notice.event_id,
            error,
        )
        self._save()

    # ---- state file -------------------------------------------------------------------
    def _save(self) -> None:
        if self.state_path is None:
            return
        now = self._clock()
        with self._lock:
            data = {"version": STATE_VERSION, "saved_at": iso_z(now), "destinations": {}}
            for name, q in self._queues.items():
                old = [k for k, t in q.delivered.items() if now - t > self.keep_delivered]
                for k in old:
                    del q.delivered[k]
                data["destinations"][name] = {
                    "pending": [n.to_dict() for n in q.pending.values()],
                    "delivered": {k: iso_z(t) for k, t in q.delivered.items()},
                    "failed": [{"notice": n.to_dict(), "error": e} for n, e in q.failed.values()],
                    # how the destination is doing, for `coptwin doctor` and the next start
                    "health": {
                        "streak": q.streak,
                        "last_error": q.last_error,
                        **{
                            key: iso_z(when) if when is not None else None
                            for key, when in (
                                ("last_error_at", q.last_error_at),
                                ("last_ok_at", q.last_ok_at),
                                ("next_attempt_at", q.next_attempt_at),
                            )
                        },
                    },
                }
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.error("notify: cannot write state file %s (%s)", path, exc.strerror or exc)

    def _load(self) -> None:
        path = self.state_path
        if path is None or not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"unknown state version {data.get('version')!r}")
            for name, saved in data.get("destinations", {}).items():
                q = self._queues.get(name)
                if q is None:
                    if saved.get("pending"):
                        log.warning(
                            "notify: destination %r is no longer configured; its %d pending "
                            "notices are dropped",
                            name,
                            len(saved["pending"]),
                        )
                    continue
                for item in saved.get("pending", []):
                    n = Notice.from_dict(item)
                    q.pending[n.event_id] = n
                for eid, when in saved.get("delivered", {}).items():
                    q.delivered[eid] = datetime.fromisoformat(when.replace("Z", "+00:00"))
                for item in saved.get("failed", []):
                    n = Notice.from_dict(item["notice"])
                    q.failed[n.event_id] = (n, item.get("error", ""))
                health = saved.get("health") or {}
                q.streak = int(health.get("streak") or 0)
                q.last_error = health.get("last_error")
                q.last_error_at = _time_or_none(health.get("last_error_at"))
                q.last_ok_at = _time_or_none(health.get("last_ok_at"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(path.name + ".unreadable")
            log.error(
                "notify: state file %s is unreadable (%s); moved to %s and starting empty",
                path,
                exc,
                aside.name,
            )
            self._queues = {name: _Queue() for name in self.destinations}
            with contextlib.suppress(OSError):
                os.replace(path, aside)
        total = sum(len(q.pending) for q in self._queues.values())
        if total:
            log.info("notify: %d notices pending from the last run", total)


def _time_or_none(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def read_state(path: str | Path) -> dict[str, dict]:
    """What a notifier's state file says per destination (``coptwin doctor``): counts of
    pending, delivered and failed notices, the failed ones' errors and the health record;
    ``{}`` when there is no file.  Raises ValueError for an unreadable one."""
    p = Path(path)
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {p} ({exc})") from None
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"{p}: unknown state version {data.get('version')!r}")
    out = {}
    for name, saved in (data.get("destinations") or {}).items():
        failed = saved.get("failed") or []
        out[name] = {
            "pending": len(saved.get("pending") or []),
            "delivered": len(saved.get("delivered") or {}),
            "failed": len(failed),
            "failed_errors": sorted({str(f.get("error", "")) for f in failed}),
            "saved_at": data.get("saved_at"),
            **(saved.get("health") or {}),
        }
    return out


@dataclass(frozen=True)
class Diagnosis:
    """One ``coptwin doctor`` line about notifications."""

    name: str
    ok: bool | None  # None: skipped
    detail: str
    remedy: str = ""


def _reachable(host: str, port: int, timeout_s: float) -> str | None:
    """None when a TCP connection opens, else why not (nothing is sent)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def diagnose(
    config: Config, environ: Mapping[str, str] | None = None, timeout_s: float = 5.0
) -> list[Diagnosis]:
    """What ``coptwin doctor`` says of the notifications: who sends, each destination's
    configuration and reachability (a TCP connection, no message is sent), and what the
    sending process's state file records (failing, refused and pending notices)."""
    notify = config.alarms.notify
    destinations = destinations_from_config(notify, environ, config)
    if not destinations:
        return [Diagnosis("notify", None, "no destinations configured (alarms.notify)")]
    sender = {
        "headless": "the headless engine (coptwin run / coptwin serve)",
        "kit": "Kit sessions",
        "none": "nobody (alarms.notify.sender = none)",
    }[notify.sender]
    out = [
        Diagnosis(
            "notify: sender",
            notify.sender != "none",
            f"notices are sent by {sender}",
            "set alarms.notify.sender to headless or kit",
        )
    ]
    path = config.resolve_path(notify.state_path)
    try:
        saved = read_state(path)
    except ValueError as exc:
        saved = {}
        out.append(Diagnosis("notify: state file", False, str(exc), "move the file aside"))
    for dest in destinations:
        name = f"notify: {dest.name}"
        if dest.problem is not None:
            out.append(
                Diagnosis(
                    name,
                    False,
                    dest.problem,
                    "set it in the sending process's "
                    "environment (the URL and credentials are never in the file)",
                )
            )
            continue
        if isinstance(dest, WebhookDestination):
            parts = urlsplit(dest._url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
        else:
            host, port = dest.host, dest.port
        why = _reachable(host, port, timeout_s)
        if why is not None:
            out.append(
                Diagnosis(
                    name,
                    False,
                    f"{dest.describe()}: cannot connect ({why})",
                    "check the address, the proxy and the firewall",
                )
            )
            continue
        record = saved.get(dest.name, {})
        problems = []
        if record.get("failed"):
            errors = "; ".join(record.get("failed_errors", []))[:200]
            problems.append(f"{record['failed']} notice(s) refused ({errors})")
        if record.get("streak"):
            problems.append(
                f"failing since {record.get('last_error_at')}: {record.get('last_error')}"
            )
        pending = record.get("pending", 0)
        detail = f"{dest.describe()}: reachable"
        if record:
            detail += f"; {record.get('delivered', 0)} delivered, {pending} pending"
        if problems:
            out.append(
                Diagnosis(
                    name,
                    False,
                    f"{detail}; {'; '.join(problems)}",
                    f"see {path}; fix the destination, then the pending notices go",
                )
            )
        else:
            out.append(Diagnosis(name, True, detail))
    return out
