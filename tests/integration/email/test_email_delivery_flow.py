"""Dispatch items through the wired adapter (bootstrap) and the shared batch runtime to
the loopback SMTP sink and Postmark emulator: retries, permanent failures, failover,
Retry-After, timeouts and the shared rate limit."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.email.bootstrap import EmailService, bootstrap
from brandcast.email.providers.base import EmailProvider, RateLimitedProvider
from brandcast.email.providers.postmark import PostmarkProvider
from brandcast.email.providers.smtp import SmtpProvider
from brandcast.email.sandbox.postmark_emulator import PostmarkEmulator
from brandcast.email.sandbox.samples import sample_batch, sample_item
from brandcast.email.sandbox.smtp_sink import SinkController, start_sink, wait_for_messages
from brandcast.email.settings import EmailSettings
from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.shared.devstack import free_port, wait_until
from brandcast.shared.http_thread import BackgroundServer, serve_in_thread
from brandcast.shared.ratelimit import rate_limiter
from brandcast.v1 import campaign_pb2

SENT = campaign_pb2.DELIVERY_STATUS_SENT
FAILED = campaign_pb2.DELIVERY_STATUS_FAILED
POLICY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkController]:
    controller, _ = start_sink(tmp_path / "mail")
    yield controller
    controller.stop()


@pytest.fixture
def emulator() -> Iterator[tuple[PostmarkEmulator, BackgroundServer]]:
    fake = PostmarkEmulator("pm-token", retry_after=3, delay=2.0)
    server = serve_in_thread(fake.app)
    yield fake, server
    server.stop()


def wired(*providers: EmailProvider) -> EmailService:
    return bootstrap(EmailSettings(email_rate_limit=0), providers=list(providers))


def test_451_is_retried_then_sent(sink: SinkController) -> None:
    sink.handler.fail("greylisted@example.org", 451, times=1)
    service = wired(SmtpProvider("127.0.0.1", sink.port, timeout=5))
    batch = sample_batch(
        [sample_item("greylisted@example.org", 1), sample_item("ok@example.org", 2)]
    )

    first = process_batch(batch, service.deliver, POLICY)
    assert [(r.status, r.attempts) for r in first.receipts] == [(SENT, 1)]
    assert first.retry is not None
    assert [(i.address, i.attempt) for i in first.retry.items] == [("greylisted@example.org", 1)]
    assert first.retry_delay > 0

    second = process_batch(first.retry, service.deliver, POLICY)
    assert [(r.status, r.attempts, r.provider) for r in second.receipts] == [(SENT, 2, "smtp")]
    assert second.retry is None
    assert sorted(e["rcpt_tos"][0] for e in wait_for_messages(sink.handler.directory, 2)) == [
        "greylisted@example.org",
        "ok@example.org",
    ]
    service.close()


def test_550_is_a_failed_receipt_with_the_smtp_code(sink: SinkController) -> None:
    service = wired(SmtpProvider("127.0.0.1", sink.port, timeout=5))
    item = sample_item("nobody+550@example.org")
    outcome = process_batch(sample_batch([item]), service.deliver, POLICY)
    [receipt] = outcome.receipts
    assert (receipt.status, receipt.error_code, receipt.provider) == (FAILED, "550", "smtp")
    assert receipt.delivery_id == item.delivery_id
    assert "Mailbox unavailable" in receipt.error_message
    assert outcome.retry is None
    assert outcome.exhausted is None
    service.close()


def test_invalid_item_is_a_failed_receipt_not_a_crash(sink: SinkController) -> None:
    service = wired(SmtpProvider("127.0.0.1", sink.port, timeout=5))
    bad = sample_item("reader@example.org", 1, subject="x\r\nBcc: victim@evil.example")
    outcome = process_batch(sample_batch([bad]), service.deliver, POLICY)
    [receipt] = outcome.receipts
    assert (receipt.status, receipt.error_code) == (FAILED, "invalid_message")
    assert "email.subject" in receipt.error_message
    service.close()


def test_transient_failures_give_up_after_max_attempts(sink: SinkController) -> None:
    service = wired(SmtpProvider("127.0.0.1", sink.port, timeout=5))
    batch = sample_batch([sample_item("always+451@example.org")])
    for _ in range(POLICY.max_attempts - 1):
        outcome = process_batch(batch, service.deliver, POLICY)
        assert outcome.receipts == []
        assert outcome.retry is not None
        batch = outcome.retry
    final = process_batch(batch, service.deliver, POLICY)
    [receipt] = final.receipts
    assert (receipt.status, receipt.error_code, receipt.attempts) == (FAILED, "451", 3)
    assert receipt.error_message.startswith("gave up after 3 attempts")
    assert final.exhausted is not None
    service.close()


def test_smtp_down_fails_over_to_postmark(
    emulator: tuple[PostmarkEmulator, BackgroundServer],
) -> None:
    fake, server = emulator
    service = wired(
        SmtpProvider("127.0.0.1", free_port(), timeout=2),
        PostmarkProvider(server.url, "pm-token", timeout=2),
    )
    item = sample_item("reader@example.org", 4)
    outcome = process_batch(sample_batch([item]), service.deliver, POLICY)
    [receipt] = outcome.receipts
    assert (receipt.status, receipt.provider) == (SENT, "postmark")
    [sent] = fake.sent
    assert receipt.provider_message_id
    assert receipt.provider_message_id != item.idempotency_key
    assert sent.token == "pm-token"
    assert sent.payload["Metadata"]["delivery_id"] == item.delivery_id
    assert sent.payload["Metadata"]["idempotency_key"] == item.idempotency_key
    service.close()


def test_postmark_429_is_retried_no_sooner_than_retry_after(
    emulator: tuple[PostmarkEmulator, BackgroundServer],
) -> None:
    fake, server = emulator
    fake.fail("busy@example.org", 429, times=1)
    service = wired(PostmarkProvider(server.url, "pm-token", timeout=2))
    outcome = process_batch(
        sample_batch([sample_item("busy@example.org")]), service.deliver, POLICY
    )
    assert outcome.receipts == []
    assert outcome.retry is not None
    assert outcome.retry_delay >= 3.0  # the emulator's Retry-After, above the policy's max
    again = process_batch(outcome.retry, service.deliver, POLICY)
    assert [(r.status, r.provider) for r in again.receipts] == [(SENT, "postmark")]
    assert len(fake.requests) == 2
    service.close()


def test_postmark_timeout_is_retried(emulator: tuple[PostmarkEmulator, BackgroundServer]) -> None:
    _, server = emulator
    service = wired(PostmarkProvider(server.url, "pm-token", timeout=0.3))
    outcome = process_batch(
        sample_batch([sample_item("sleepy+timeout@example.org")]), service.deliver, POLICY
    )
    assert outcome.receipts == []
    assert outcome.retry is not None
    service.close()


def test_a_postmark_retry_after_a_lost_answer_finds_the_message_instead_of_sending_again(
    emulator: tuple[PostmarkEmulator, BackgroundServer],
) -> None:
    # Postmark has no idempotency key; its search by our Metadata finds what it took.
    fake, server = emulator
    fake.fail("late@example.org", 0, times=1)  # accepted, answered after the client gave up
    service = wired(PostmarkProvider(server.url, "pm-token", timeout=0.5))
    first = process_batch(sample_batch([sample_item("late@example.org")]), service.deliver, POLICY)
    assert first.retry is not None
    wait_until(lambda: bool(fake.sent), 10, "Postmark to take the first attempt")

    again = process_batch(first.retry, service.deliver, POLICY)

    [receipt] = again.receipts
    [sent] = fake.sent
    assert (receipt.status, receipt.provider_message_id) == (SENT, sent.message_id)
    assert len([r for r in fake.requests if r.payload]) == 1  # no second send
    service.close()


def test_postmark_inactive_recipient_fails_with_its_error_code(
    emulator: tuple[PostmarkEmulator, BackgroundServer],
) -> None:
    _, server = emulator
    service = wired(PostmarkProvider(server.url, "pm-token", timeout=2))
    outcome = process_batch(
        sample_batch([sample_item("inactive+406@example.org")]), service.deliver, POLICY
    )
    [receipt] = outcome.receipts
    assert (receipt.status, receipt.error_code, receipt.provider) == (FAILED, "406", "postmark")
    service.close()


def test_rate_limit_is_shared_between_senders(sink: SinkController) -> None:
    # Two independent senders (think: two worker processes) share one Redis limit.
    key = f"test:{uuid.uuid4().hex}"
    per_second = 10.0
    #: Per send: when it asked, and when it was let through.
    granted: list[tuple[float, float]] = []
    lock = threading.Lock()

    class RecordingLimiter:
        """The real Redis limiter, noting when each send asked and was let through."""

        def __init__(self) -> None:
            self._limiter = rate_limiter("redis://127.0.0.1:6379/0", key, per_second)

        def acquire(self) -> None:
            asked = time.monotonic()
            self._limiter.acquire()
            with lock:
                granted.append((asked, time.monotonic()))

    senders = [
        RateLimitedProvider(SmtpProvider("127.0.0.1", sink.port, timeout=5), RecordingLimiter())
        for _ in range(2)
    ]
    services = [wired(sender) for sender in senders]

    def run(service: EmailService, offset: int) -> None:
        items = [sample_item(f"r{offset + n}@example.org", offset + n) for n in range(4)]
        outcome = process_batch(sample_batch(items), service.deliver, POLICY)
        assert [r.status for r in outcome.receipts] == [SENT] * 4

    threads = [threading.Thread(target=run, args=(s, 10 * i)) for i, s in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(wait_for_messages(sink.handler.directory, 8)) == 8
    assert len(granted) == 8
    # Redis lets the eight sends through 1/rate apart on its own clock, so they span at
    # least 7/rate. Each send was let through between its asking and its return here,
    # so first asked to last returned holds that span, however late a thread heard
    # back (the gaps between returns, measured before, shrank when one did). Senders
    # limited each on its own would span about half of it, unlimited ones far less.
    span = max(returned for _, returned in granted) - min(asked for asked, _ in granted)
    assert span >= 0.9 * 7 / per_second, sorted(granted)
    for service in services:
        service.close()
