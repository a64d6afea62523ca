"""Message bodies for each destination format: generic JSON, Slack, Microsoft Teams, e-mail.

- **json**: the notice's fields flat, plus ``type``/``version``/``text``; for any
  receiver (a ticketing system, a SCADA gateway, a serverless function).
- **slack**: a Slack incoming-webhook payload - ``text`` (the notification and
  fallback line) plus Block Kit ``blocks`` (header, fields, context), as
  https://api.slack.com/messaging/webhooks describes;
  ``&``, ``<``, ``>`` in data are escaped as Slack requires.
- **teams**: a message with one Adaptive Card attachment (card version 1.4),
  the format Teams *Workflows* ("When a Teams webhook request is received")
  accept and the older Office 365 connector webhooks accept too; Workflows do
  not accept the legacy MessageCard any more
  (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using).
- **e-mail**: a plain-text message, the summary as subject.
"""

from __future__ import annotations

import json
from email.message import EmailMessage

from coptwin.alarms.model import iso_z
from coptwin.alarms.notices import Notice

#: Format version of the generic JSON body (bump on incompatible changes).
JSON_VERSION = 1


def facts(n: Notice) -> list[tuple[str, str]]:
    """The notice as label/value pairs, in reading order (empty values left out)."""
    rows = [
        ("Sensor", n.sensor_id),
        ("Layer", n.layer or ""),
        ("State", n.state),
        ("Status", n.status or ""),
        ("Value", f"{n.value:g}" if n.value is not None else ""),
        ("Reason", n.reason or ""),
        ("Raised", iso_z(n.raised_at)),
        ("Repeats", str(n.repeats) if n.repeats else ""),
        ("Acknowledged by", n.acked_by or ""),
        ("Alarm", n.alarm_id),
    ]
    return [(k, v) for k, v in rows if v]


def json_body(n: Notice) -> dict:
    return {"type": "coptwin.alarm", "version": JSON_VERSION, "text": n.summary, **n.to_dict()}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notice) -> dict:
    fields = [
        {"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(v)[:1900]}"}
        for k, v in facts(n)
        if k not in ("Alarm", "Reason")
    ][:10]  # Slack allows at most 10 fields per section
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": n.title[:150]}},
    ]
    if n.reason:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(n.reason)[:2900]}}
        )
    blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"coptwin alarm `{_slack_escape(n.alarm_id)[:200]}`"}
            ],
        }
    )
    return {"text": _slack_escape(n.summary)[:3000], "blocks": blocks}


_TEAMS_COLOR = {"raised": "Attention", "escalated": "Attention", "returned": "Good"}


def teams_body(n: Notice) -> dict:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": n.title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": _TEAMS_COLOR.get(n.kind, "Default"),
            },
            *([{"type": "TextBlock", "text": n.reason, "wrap": True}] if n.reason else []),
            {
                "type": "FactSet",
                "facts": [{"title": k, "value": v} for k, v in facts(n) if k != "Reason"],
            },
        ],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


BODIES = {"json": json_body, "slack": slack_body, "teams": teams_body}


def body_bytes(fmt: str, n: Notice) -> bytes:
    """The UTF-8 JSON body for a webhook format."""
    return json.dumps(BODIES[fmt](n), ensure_ascii=False, allow_nan=False).encode("utf-8")


def email_message(n: Notice, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    subject = " ".join(f"[coptwin] {n.summary}".split())  # no line breaks in a header
    msg["Subject"] = subject[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Coptwin-Event-Id"] = n.event_id
    width = max(len(k) for k, _ in facts(n))
    lines = [n.title, ""] + [f"{k.ljust(width)}  {v}" for k, v in facts(n)]
    msg.set_content("\n".join(lines) + "\n")
    return msg
