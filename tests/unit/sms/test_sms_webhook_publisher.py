"""The webhooks' shared publisher: reports that arrive during a publish go out together,
and each caller returns only once its own receipts are confirmed (or with the error);
a report the broker refused is answered 503 and not remembered as seen."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest

from brandcast.shared.webhook_publisher import WebhookPublisher
from brandcast.sms import feedback
from brandcast.sms.settings import SmsSettings
from brandcast.sms.signature import SIGNATURE_HEADER, twilio_signature
from brandcast.sms.webhooks import create_webhooks_app
from brandcast.v1 import bus_pb2


class SlowBroker:
    """Holds the first publish until released; can refuse publishes."""

    def __init__(self) -> None:
        self.published: list[list[str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.refuse = False

    def publish_receipts(self, batch: bus_pb2.ReceiptBatch, channel: str) -> None:
        if not self.published and not self.first_started.is_set():
            self.first_started.set()
            assert self.release.wait(5)
        if self.refuse:
            raise ConnectionError("broker gone")
        self.published.append([r.delivery_id for r in batch.receipts])

    def publish_suppression(self, event: bus_pb2.SuppressionEvent) -> None:
        raise AssertionError("not used")


def receipts(delivery_id: str) -> bus_pb2.ReceiptBatch:
    return bus_pb2.ReceiptBatch(receipts=[bus_pb2.DeliveryReceipt(delivery_id=delivery_id)])


def burst(refuse: bool) -> tuple[SlowBroker, list[Future[None]]]:
    broker = SlowBroker()
    publisher = WebhookPublisher(lambda: broker)
    pool = ThreadPoolExecutor(4)
    first = pool.submit(publisher.publish_receipts, receipts("d0"), "sms")
    assert broker.first_started.wait(5)
    later = [pool.submit(publisher.publish_receipts, receipts(f"d{i}"), "sms") for i in (1, 2, 3)]
    deadline = time.monotonic() + 5
    while len(publisher._pending) < 3:  # the three are queued behind the publish in flight
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not any(f.done() for f in later), "nobody returns before its receipts are confirmed"
    broker.refuse = refuse
    broker.release.set()
    pool.shutdown(wait=True)
    return broker, [first, *later]


def test_reports_queued_behind_a_publish_go_out_together() -> None:
    broker, calls = burst(refuse=False)
    assert [f.result() for f in calls] == [None] * 4
    assert broker.published[0] == ["d0"]
    assert sorted(broker.published[1]) == ["d1", "d2", "d3"]
    assert len(broker.published) == 2


def test_every_caller_of_a_refused_publish_gets_the_error() -> None:
    broker, calls = burst(refuse=True)
    for call in calls:
        with pytest.raises(ConnectionError):
            call.result()
    assert broker.published == []


def test_a_report_the_broker_refused_is_answered_503_and_published_on_the_retry() -> None:
    # The real app and ledger; the broker refuses the first publish. The ledger must not
    # remember a report that was never confirmed, or the provider's retry would be "stale".

    broker = SlowBroker()
    broker.first_started.set()  # no holding: refuse, then accept
    broker.release.set()
    broker.refuse = True
    settings = SmsSettings(sms_callback_base_url="http://testserver")
    app = create_webhooks_app(
        settings, publisher=WebhookPublisher(lambda: broker), ledger=feedback.LocalStatusLedger()
    )
    url = "http://testserver/status?d=d-7&c=c-1"
    params = {"MessageSid": "SM7", "MessageStatus": "delivered"}
    headers = {SIGNATURE_HEADER: twilio_signature(url, params.items(), "sandbox-token")}

    async def report_three_times() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            first = await client.post(url, data=params, headers=headers)
            broker.refuse = False
            return [first] + [await client.post(url, data=params, headers=headers) for _ in "12"]

    # On a thread of its own: the browser tests' Playwright keeps an event loop
    # running on the main thread for the rest of the session.
    with ThreadPoolExecutor(1) as runner:
        first, retry, again = runner.submit(asyncio.run, report_three_times()).result()
    assert (first.status_code, retry.text, again.text) == (503, "ok", "stale")
    assert broker.published == [["d-7"]]
