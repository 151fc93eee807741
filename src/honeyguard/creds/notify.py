"""Notices to a key's owner: how it was exposed, what is at risk, what honeyguard did, how to rotate.

Text comes from template files (content/creds/templates, overridable file by file from a folder of
the user's), filled with ``string.Template.safe_substitute``: placeholders only, nothing evaluated,
an unknown placeholder stays as written. Channels: email (SMTP, optional STARTTLS and login), a
Slack-compatible webhook (``{"text", "blocks"}``) and AWS SNS. The same key at the same source is
notified once per re-notify window (a dedupe record in the state store), so a scan that runs every
hour does not send a mail every hour.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import string
import urllib.request
from datetime import timedelta
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import msgspec

from honeyguard.clock import Clock, SystemClock
from honeyguard.config import CredsNotifySettings
from honeyguard.creds.exposures import Assessment
from honeyguard.creds.quarantine import QuarantineResult
from honeyguard.errors import HoneyguardError
from honeyguard.store.creds import CredsStore

TEMPLATES = ("exposure-subject.txt", "exposure-body.txt", "releak.txt", "action-quarantined.txt",
             "action-none.txt")
_TIMEOUT = 20.0


class NotifyError(HoneyguardError):
    """A channel is misconfigured or refused the notice."""


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    source: str
    subject: str
    text: str
    releak: bool


class Templates:
    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self._cache: dict[str, string.Template] = {}

    def get(self, name: str) -> string.Template:
        if name not in self._cache:
            custom = self.override_dir / name if self.override_dir else None
            if custom is not None and custom.is_file():
                text = custom.read_text(encoding="utf-8")
            else:
                text = (resources.files("honeyguard") / "content" / "creds" / "templates" / name).read_text("utf-8")
            self._cache[name] = string.Template(text)
        return self._cache[name]

    def render(self, name: str, values: dict[str, str]) -> str:
        return self.get(name).safe_substitute(values)


def _one_line(value: str) -> str:
    return " ".join(value.split())


def compose(assessment: Assessment, quarantine: QuarantineResult | None, templates: Templates,
            *, user: str | None = None, quarantine_reason: str = "not enabled for this exposure") -> Notice:
    e = assessment.exposure
    where = e.source.describe() + (f", line {e.line}" if e.line else "")
    values = {
        "key_id": e.key_id, "key_id_masked": e.key_id_masked, "account": e.account_id or "(unknown)",
        "source": _one_line(e.source.describe())[:120], "where": where, "commit": e.commit or "-",
        "url": e.url or "-", "found_at": e.found_at.isoformat(timespec="seconds"),
        "excerpt": _one_line(e.excerpt)[:300] or "-",
        "secret_state": "" if e.secret_paired else " (id only: its secret was not found next to it)",
        "user": (quarantine.user_name if quarantine else user) or "<the key's IAM user>",
        "policy": quarantine.policy_name if quarantine else "-",
        "quarantine_status": (quarantine.status if quarantine else "-"), "quarantine_reason": quarantine_reason,
    }
    prior = "\n".join(f"    - {p.key_id_masked}, first exposed {p.first_seen.isoformat(timespec='seconds')}"
                      + (" (marked rotated)" if p.rotated else " (replaced by the new key)")
                      for p in assessment.prior_keys)
    values["prior_keys"] = prior
    values["releak"] = templates.render("releak.txt", values) if assessment.releak else ""
    values["releak_tag"] = "RE-LEAK: " if assessment.releak else ""
    action = "action-quarantined.txt" if quarantine and quarantine.status in ("attached", "already-attached") \
        else "action-none.txt"
    values["action"] = templates.render(action, values).strip()
    subject = _one_line(templates.render("exposure-subject.txt", values))[:200]
    return Notice(key_id=e.key_id, source=e.source.key, subject=subject,
                  text=templates.render("exposure-body.txt", values), releak=assessment.releak)


def slack_payload(notice: Notice) -> dict[str, Any]:
    """Slack's incoming-webhook shape: ``text`` is the fallback, ``blocks`` the layout."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": notice.subject[:150]}}]
    for paragraph in notice.text.strip().split("\n\n")[:45]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{paragraph[:2900]}```"}})
    return {"text": f"{notice.subject}\n\n{notice.text}"[:39000], "blocks": blocks}


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None: ...


class EmailChannel:
    name = "email"

    def __init__(self, settings: CredsNotifySettings) -> None:
        if not settings.smtp_host or not settings.mail_to:
            raise NotifyError("email: creds.notify.smtp_host and mail_to are required")
        self.settings = settings

    def send(self, notice: Notice) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.mail_from, ", ".join(s.mail_to), notice.subject
        message["X-Honeyguard-Key"] = notice.key_id
        message.set_content(notice.text)
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=_TIMEOUT) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                password = os.environ.get(s.smtp_password_env or "", "")
                smtp.login(s.smtp_user, password)
            smtp.send_message(message)


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotifyError(f"webhook: {url!r} is not an http(s) URL")
        self.url = url

    def send(self, notice: Notice) -> None:
        body = json.dumps(slack_payload(notice)).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "honeyguard-notify"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            if not 200 <= response.status < 300:
                raise NotifyError(f"webhook answered {response.status}")


class SnsChannel:
    name = "sns"

    def __init__(self, topic_arn: str, *, endpoint_url: str | None = None, region: str = "us-east-1") -> None:
        import boto3

        region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 and topic_arn.split(":")[3] else region
        self.topic_arn = topic_arn
        self.client = boto3.client("sns", endpoint_url=endpoint_url, region_name=region)

    def send(self, notice: Notice) -> None:
        # SNS subjects: ASCII, no line breaks, at most 100 characters
        subject = notice.subject.encode("ascii", "replace").decode()[:100]
        self.client.publish(TopicArn=self.topic_arn, Subject=subject, Message=notice.text,
                            MessageAttributes={"key_id": {"DataType": "String", "StringValue": notice.key_id}})


def channels_from(settings: CredsNotifySettings, region: str = "us-east-1") -> list[Channel]:
    out: list[Channel] = []
    if settings.smtp_host:
        out.append(EmailChannel(settings))
    if settings.webhook_url:
        out.append(WebhookChannel(settings.webhook_url))
    if settings.sns_topic_arn:
        out.append(SnsChannel(settings.sns_topic_arn, endpoint_url=settings.sns_endpoint_url, region=region))
    return out


class NotifyOutcome(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    source: str
    sent: list[str] = []
    errors: list[str] = []
    suppressed: bool = False  # already notified within the window


class Notifier:
    def __init__(self, channels: list[Channel], *, store: CredsStore | None = None,
                 templates: Templates | None = None, clock: Clock | None = None,
                 renotify: timedelta = timedelta(days=7)) -> None:
        self.channels = channels
        self.store = store
        self.templates = templates or Templates()
        self.clock = clock or SystemClock()
        self.renotify = renotify

    def notify(self, assessment: Assessment, quarantine: QuarantineResult | None = None,
               **compose_args: Any) -> NotifyOutcome:
        e = assessment.exposure
        now = self.clock.now()
        if self.store is not None:
            last = self.store.last_notice(e.key_id, e.source.key)
            if last is not None and now - last < self.renotify:
                return NotifyOutcome(key_id=e.key_id, source=e.source.key, suppressed=True)
        notice = compose(assessment, quarantine, self.templates, **compose_args)
        sent, errors = [], []
        for channel in self.channels:
            try:
                channel.send(notice)
                sent.append(channel.name)
            except Exception as exc:  # one broken channel must not silence the others
                errors.append(f"{channel.name}: {exc.__class__.__name__}: {str(exc)[:200]}")
        if sent and self.store is not None:
            self.store.record_notice(e.key_id, e.source.key, now)
        return NotifyOutcome(key_id=e.key_id, source=e.source.key, sent=sent, errors=errors)
