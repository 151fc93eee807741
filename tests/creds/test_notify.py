"""Notices over real channels on loopback: an aiosmtpd server, a webhook receiver, SNS on moto;
dedupe, and re-leak detection at the same source."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from honeyguard.clock import FakeClock
from honeyguard.config import CredsNotifySettings
from honeyguard.creds import Scanner
from honeyguard.creds.exposures import ExposureBook, exposure_from
from honeyguard.creds.finding import Finding
from honeyguard.creds.notify import Notifier, SnsChannel, Templates, channels_from
from honeyguard.creds.quarantine import QuarantineResult
from honeyguard.store.creds import CredsStore
from honeyguard.store.state import StateStore
from tests.creds.keys import account, key_id, secret
from tests.creds.mailbox import Inbox
from tests.creds.motoserver import moto_server


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append({"content_type": self.headers.get("Content-Type"),
                             "body": json.loads(self.rfile.read(length))})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/creds", received
    finally:
        server.shutdown()
        server.server_close()


def _finding(tmp_path: Path, name: str, kid: str, sec: str) -> Finding:
    folder = tmp_path / name
    folder.mkdir()
    (folder / ".env").write_text(f"APP_ENV=production\nAWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sec}\n")
    (hit,) = Scanner().scan_paths([str(folder / ".env")]).hits
    finding = hit.finding
    return Finding(**{**{f: getattr(finding, f) for f in finding.__struct_fields__}, "file": "config/.env",
                      "commit": "4f2a9c0d1e2b3c4d5e6f708192a3b4c5d6e7f809"})


def _quarantined(kid: str) -> QuarantineResult:
    return QuarantineResult(key_id=kid, user_name="billing-app", policy_name="HoneyguardQuarantine",
                            status="attached")


def test_email_and_webhook_dedupe_and_releak(tmp_path: Path, smtp: tuple[int, Inbox],
                                             webhook: tuple[str, list[dict[str, Any]]]) -> None:
    port, inbox = smtp
    url, received = webhook
    rng = random.Random(11)
    owner = account(rng)
    first_key, first_secret = key_id(rng, owner), secret(rng)
    settings = CredsNotifySettings(smtp_host="127.0.0.1", smtp_port=port, mail_from="hg@example.test",
                                   mail_to=["owner@example.test"], webhook_url=url)
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    store = CredsStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    book = ExposureBook(store)
    notifier = Notifier(channels_from(settings), store=store, clock=clock)
    repo = "https://git.example.test/acme/billing.git"

    exposure = exposure_from(_finding(tmp_path, "a", first_key, first_secret), clock.now(), repository=repo)
    assessment = book.record(exposure)
    assert assessment.new and not assessment.releak
    outcome = notifier.notify(assessment, _quarantined(first_key))
    assert outcome.sent == ["email", "webhook"] and not outcome.errors

    (mail,) = inbox.messages
    body = mail.get_content()
    assert mail["To"] == "owner@example.test" and exposure.key_id_masked in mail["Subject"]
    for expected in ("config/.env in repository " + repo, "line 2", "4f2a9c0d1e2b", f"account {owner}",
                     "HOW IT WAS EXPOSED", "WHAT IS AT RISK", "WHAT TO DO NOW",
                     "Attached the deny policy HoneyguardQuarantine to IAM user billing-app",
                     f"aws iam update-access-key --user-name billing-app --access-key-id {first_key}",
                     exposure.excerpt.strip()):
        assert expected in body, expected
    assert first_secret not in body and "still leaking" not in body
    (hook,) = received
    assert hook["content_type"] == "application/json"
    payload = hook["body"]
    assert payload["blocks"][0]["type"] == "header" and exposure.key_id_masked in payload["blocks"][0]["text"]["text"]
    assert "WHAT TO DO NOW" in payload["text"] and first_secret not in json.dumps(payload)

    # the same key at the same source, an hour later: nothing sent
    clock.advance(3600)
    again = notifier.notify(book.record(exposure_from(exposure_finding := _finding(tmp_path, "b", first_key,
                                                                                  first_secret),
                                                      clock.now(), repository=repo)))
    assert again.suppressed and len(inbox.messages) == 1 and len(received) == 1
    assert exposure_finding.key_id == first_key

    # the owner rotated; the new key leaks from the same file: a re-leak, said explicitly
    store.mark_rotated(first_key, clock.now())
    clock.advance(86400)
    second_key, second_secret = key_id(rng, owner), secret(rng)
    releak = book.record(exposure_from(_finding(tmp_path, "c", second_key, second_secret), clock.now(),
                                       repository=repo))
    assert releak.releak and [p.key_id for p in releak.prior_keys] == [first_key]
    assert notifier.notify(releak, None, quarantine_reason="quarantine is off").sent == ["email", "webhook"]
    body = inbox.messages[-1].get_content()
    assert "the application itself is still leaking its secrets" in body.lower()
    assert f"{exposure.key_id_masked}, first exposed" in body and "(marked rotated)" in body
    assert "RE-LEAK" in inbox.messages[-1]["Subject"] and "quarantine is off" in body
    assert "still leaking" in received[-1]["body"]["text"].lower()

    # another owner's key at the same source is not a re-leak of this one
    other = book.record(exposure_from(_finding(tmp_path, "d", key_id(rng, account(rng)), secret(rng)),
                                      clock.now(), repository=repo))
    assert not other.releak


def test_renotify_after_window_and_template_override(tmp_path: Path, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    rng = random.Random(12)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "exposure-subject.txt").write_text("LEAK ${key_id_masked} at ${source} __import__('os')")
    settings = CredsNotifySettings(smtp_host="127.0.0.1", smtp_port=port, mail_to=["sec@example.test"])
    clock = FakeClock()
    store = CredsStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    notifier = Notifier(channels_from(settings), store=store, clock=clock, templates=Templates(custom))
    assessment = ExposureBook(store).record(exposure_from(_finding(tmp_path, "a", kid, sec), clock.now(),
                                                          url="https://shop.example.test/.env?x=1"))
    assert notifier.notify(assessment).sent == ["email"]
    clock.advance(8 * 86400)  # past the 7-day window
    assert notifier.notify(assessment).sent == ["email"]
    assert len(inbox.messages) == 2
    subject = str(inbox.messages[0]["Subject"]).strip()  # a long header may fold before its first word
    assert subject.startswith("LEAK AKIA") and "https://shop.example.test/.env" in subject
    assert "__import__('os')" in subject  # text, never evaluated
    assert "https://shop.example.test/.env?x=1" in inbox.messages[0].get_content()


def test_sns_publish_on_moto(tmp_path: Path) -> None:
    rng = random.Random(13)
    kid, sec = key_id(rng, account(rng)), secret(rng)
    with moto_server(auth=False) as moto:
        sns, sqs = moto.client("sns"), moto.client("sqs")
        topic = sns.create_topic(Name="key-exposures")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        store = CredsStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}"))
        channel = SnsChannel(topic, endpoint_url=moto.endpoint)
        channel.client = moto.client("sns")  # same endpoint, with the test's credentials
        assessment = ExposureBook(store).record(exposure_from(_finding(tmp_path, "a", kid, sec), FakeClock().now(),
                                                              host="build-07"))
        assert Notifier([channel], store=store).notify(assessment, _quarantined(kid)).sent == ["sns"]
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5).get("Messages", [])
        (message,) = messages
        envelope = json.loads(message["Body"])
        assert kid[:8] in envelope["Subject"] and "config/.env on build-07" in envelope["Message"]
        assert "HoneyguardQuarantine" in envelope["Message"] and sec not in envelope["Message"]
