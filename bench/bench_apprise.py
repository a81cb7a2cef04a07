"""Apprise sending the same campaign to the same sinks, as a team that picked a
notification library would.

    uv run python bench/bench_apprise.py --recipients 1000 --threads 8

Each recipient's email and SMS are rendered by our renderer (same content) and
sent with Apprise: ``mailto://`` to the SMTP sink and ``form://`` to the SMS
emulator's Twilio endpoint (the Twilio form fields, Basic auth). Apprise keeps
no state, so there is nothing to store; the sends run on ``--threads`` threads
(Apprise calls block). Timed from the first render to the last answer.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import apprise
from harness import campaign_spec, recipient
from sinks import Sinks, running_sinks

from brandcast.orchestrator.rendering import CampaignRenderer

SENDER_NUMBER = "+14155550100"


@dataclass
class AppriseResult:
    deliveries: int
    failed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds


def email_url(sinks: Sinks, sender: str, to: str) -> str:
    return (
        f"mailto://127.0.0.1:{sinks.smtp_port}?from={quote(sender)}&to={quote(to)}"
        "&mode=insecure&user=&pass="
    )


def sms_url(sinks: Sinks, to: str) -> str:
    host = urlsplit(sinks.sms_url).netloc
    # Twilio's form fields: Apprise's "message" field renamed to Body, its own extra
    # fields emptied; the emulator checks Basic auth like Twilio does.
    return (
        f"form://ACsandbox:sandbox-token@{host}/2010-04-01/Accounts/ACsandbox/Messages.json"
        f"?:To={quote(to)}&:From={quote(SENDER_NUMBER)}&:message=Body"
        "&:title=&:type=&:version=&:attachments="
    )


def _send_one(renderer: CampaignRenderer, sinks: Sinks, i: int) -> int:
    person = recipient(i)
    email = renderer.email(person, unsubscribe_url=f"https://acme.example/u/{i}").variant
    sms = renderer.sms(person).variant
    failed = 0
    mail = apprise.Apprise()
    mail.add(email_url(sinks, email.from_address, person.email))
    if not mail.notify(title=email.subject, body=email.html, body_format=apprise.NotifyFormat.HTML):
        failed += 1
    text = apprise.Apprise()
    text.add(sms_url(sinks, person.phone))
    if not text.notify(body=sms.text, body_format=apprise.NotifyFormat.TEXT):
        failed += 1
    return failed


def measure(recipients: int, *, threads: int = 8) -> AppriseResult:
    with (
        tempfile.TemporaryDirectory(prefix="brandcast-apprise-") as tmp,
        running_sinks(Path(tmp)) as sinks,
    ):
        renderer = CampaignRenderer(campaign_spec(social=False), campaign_id=str(uuid.uuid4()))
        _send_one(renderer, sinks, 0)  # warm-up: imports, plugin discovery
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            failed = sum(pool.map(lambda i: _send_one(renderer, sinks, i), range(recipients)))
        elapsed = time.perf_counter() - started
        emails = len(list(sinks.mail_dir.rglob("*.eml")))
    if emails < recipients:
        raise RuntimeError(f"only {emails} of {recipients + 1} emails reached the sink")
    return AppriseResult(recipients * 2, failed, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    result = measure(args.recipients, threads=args.threads)
    print(
        f"apprise: {result.deliveries} deliveries in {result.seconds:.1f}s: "
        f"{result.per_second:,.0f}/s, {result.failed} failed"
    )


if __name__ == "__main__":
    main()
