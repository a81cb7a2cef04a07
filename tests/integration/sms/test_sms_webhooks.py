"""Delivery reports and replies through the real webhooks app, published to RabbitMQ."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from kombu import Connection

from brandcast.shared import topology
from brandcast.shared.http_thread import serve_in_thread
from brandcast.sms.bootstrap import bootstrap
from brandcast.sms.emulator import EmulatorConfig, EmulatorServer, start_emulator
from brandcast.sms.settings import SmsSettings
from brandcast.sms.signature import SIGNATURE_HEADER, twilio_signature
from brandcast.sms.webhooks import create_webhooks_app
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

pytestmark = pytest.mark.rabbitmq

MOBILE = "+447400123456"
TOKEN = "sandbox-token"


class Feedback:
    """Receipts and suppression events on the test vhost's receipts queue."""

    def __init__(self, broker_url: str) -> None:
        self.connection = Connection(broker_url)
        self.queue = topology.receipts_queue()(self.connection.default_channel)
        self.queue.declare()
        self.receipts: list[bus_pb2.DeliveryReceipt] = []
        self.suppressions: list[bus_pb2.SuppressionEvent] = []

    def drain(self) -> Feedback:
        while (message := self.queue.get(no_ack=True)) is not None:
            if message.properties["type"] == topology.RECEIPT_BATCH_TYPE:
                self.receipts.extend(bus_pb2.ReceiptBatch.FromString(message.body).receipts)
            else:
                self.suppressions.append(bus_pb2.SuppressionEvent.FromString(message.body))
        return self


@pytest.fixture
def webhooks(broker_url: str, redis_namespace: str) -> Iterator[tuple[str, SmsSettings, Feedback]]:
    feedback = Feedback(broker_url)
    # The public URL is only known once bound; the app rebuilds signed URLs from it.
    holder: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    running = serve_in_thread(app)
    url = running.url
    settings = SmsSettings(
        broker_url=broker_url,
        sms_callback_base_url=url,
        sms_redis_namespace=redis_namespace,
        sms_help_text="Acme alerts: help at acme.example. Reply STOP to opt out & more",
        sms_providers=("twilio", "vonage"),
    )
    holder["app"] = create_webhooks_app(settings)
    try:
        yield url, settings, feedback
    finally:
        running.stop()
        feedback.connection.release()


@pytest.fixture
def linked_emulator(webhooks: tuple[str, SmsSettings, Feedback]) -> Iterator[EmulatorServer]:
    url, _, _ = webhooks
    config = EmulatorConfig(
        callback_delay=0.05,
        inbound_url=f"{url}/inbound",
        vonage_inbound_url=f"{url}/inbound/vonage",
    )
    server, _ = start_emulator(0, config=config)
    try:
        yield server
    finally:
        server.stop()


def signed_post(url: str, params: dict[str, str], token: str = TOKEN) -> httpx.Response:
    signature = twilio_signature(url, params.items(), token)
    return httpx.post(url, data=params, headers={SIGNATURE_HEADER: signature}, timeout=10)


def test_emulator_reports_become_sent_then_delivered_receipts(
    webhooks: tuple[str, SmsSettings, Feedback],
    linked_emulator: EmulatorServer,
    wait_for: Callable[..., Any],
) -> None:
    _, settings, feedback = webhooks
    deliver = bootstrap(
        settings.model_copy(
            update={"sms_twilio_base_url": linked_emulator.url, "sms_rate_limit": 0}
        )
    )
    item = bus_pb2.DispatchItem(
        delivery_id="d-42",
        idempotency_key="k-42",
        address=MOBILE,
        sms=variant_pb2.SmsVariant(text="Hi"),
    )
    batch = bus_pb2.DispatchBatch(campaign_id="c-7", channel=campaign_pb2.CHANNEL_SMS, items=[item])
    outcome = deliver(batch, item)

    def two_receipts() -> bool:
        feedback.drain()
        return len(feedback.receipts) >= 2

    wait_for(two_receipts, 10, "sent and delivered receipts")
    statuses = [r.status for r in feedback.receipts]
    assert statuses == [campaign_pb2.DELIVERY_STATUS_SENT, campaign_pb2.DELIVERY_STATUS_DELIVERED]
    for receipt in feedback.receipts:
        assert (receipt.delivery_id, receipt.campaign_id) == ("d-42", "c-7")
        assert receipt.provider_message_id == outcome.provider_message_id
        assert receipt.channel == campaign_pb2.CHANNEL_SMS
    first, second = feedback.receipts
    assert second.occurred_at.ToNanoseconds() >= first.occurred_at.ToNanoseconds()


def test_undelivered_report_is_a_bounce_with_the_carrier_code(
    webhooks: tuple[str, SmsSettings, Feedback], wait_for: Callable[..., Any]
) -> None:
    url, _, feedback = webhooks
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert signed_post(f"{url}/status?d=d-1&c=c-1", params).status_code == 200
    wait_for(lambda: feedback.drain().receipts, 10, "a receipt")
    [receipt] = feedback.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_BOUNCED
    assert receipt.error_code == "30003"
    assert receipt.error_message == "Unreachable destination handset"


def test_forged_reports_and_replies_are_refused_and_publish_nothing(
    webhooks: tuple[str, SmsSettings, Feedback],
) -> None:
    url, _, feedback = webhooks
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert signed_post(f"{url}/status?d=d-1&c=c-1", params, token="wrong").status_code == 403
    # A valid signature for another delivery id does not cover this URL.
    signature = twilio_signature(f"{url}/status?d=d-2&c=c-1", params.items(), TOKEN)
    forged = httpx.post(
        f"{url}/status?d=d-1&c=c-1", data=params, headers={SIGNATURE_HEADER: signature}
    )
    assert forged.status_code == 403
    assert httpx.post(f"{url}/status?d=d-1", data=params).status_code == 403
    stop = {"From": MOBILE, "To": "+15005550006", "Body": "STOP"}
    assert signed_post(f"{url}/inbound", stop, token="wrong").status_code == 403
    # Give anything wrongly published time to show up through a published marker.
    assert signed_post(f"{url}/status?d=marker&c=c", {"MessageStatus": "sent"}).status_code == 200
    feedback.drain()
    assert [r.delivery_id for r in feedback.receipts] in ([], ["marker"])
    assert feedback.suppressions == []


def test_a_late_sent_after_delivered_is_not_emitted(
    webhooks: tuple[str, SmsSettings, Feedback], wait_for: Callable[..., Any]
) -> None:
    url, _, feedback = webhooks
    status_url = f"{url}/status?d=d-9&c=c-1"
    assert signed_post(status_url, {"MessageSid": "SM9", "MessageStatus": "delivered"}).text == "ok"
    assert signed_post(status_url, {"MessageSid": "SM9", "MessageStatus": "sent"}).text == "stale"
    assert (
        signed_post(status_url, {"MessageSid": "SM9", "MessageStatus": "delivered"}).text == "stale"
    )
    assert signed_post(f"{url}/status?d=marker&c=c", {"MessageStatus": "sent"}).text == "ok"
    wait_for(lambda: len(feedback.drain().receipts) >= 2, 10, "receipts")
    assert [(r.delivery_id, r.status) for r in feedback.receipts] == [
        ("d-9", campaign_pb2.DELIVERY_STATUS_DELIVERED),
        ("marker", campaign_pb2.DELIVERY_STATUS_SENT),
    ]


#: Case, whitespace and punctuation variants of every opt-out and opt-in keyword.
STOP_BODIES = ["STOP", " stop ", "Unsubscribe", "cancel.", "END", "QUIT", "stopall"]
START_BODIES = ["START", "yes", "Unstop"]


def test_stop_and_start_keywords_suppress_and_unsuppress(
    webhooks: tuple[str, SmsSettings, Feedback],
    linked_emulator: EmulatorServer,
    wait_for: Callable[..., Any],
) -> None:
    # One vhost for all variants: creating one per case costs seconds each.
    _, _, feedback = webhooks
    bodies = STOP_BODIES + START_BODIES
    for index, body in enumerate(bodies):
        answer = linked_emulator.inbound(f"+44740012{index:04d}", body)
        assert answer["status"] == 200, body
        assert "<Message>" not in answer["body"]
    wait_for(lambda: len(feedback.drain().suppressions) >= len(bodies), 10, "suppressions")
    by_number = {event.address: event for event in feedback.suppressions}
    assert len(by_number) == len(bodies)
    for index, body in enumerate(bodies):
        event = by_number[f"+44740012{index:04d}"]
        assert event.channel == campaign_pb2.CHANNEL_SMS
        if body in STOP_BODIES:
            assert event.action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS, body
            assert event.reason == "stop_reply"
        else:
            assert event.action == bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS, body


def test_help_answers_with_the_brands_text_and_publishes_nothing(
    webhooks: tuple[str, SmsSettings, Feedback], linked_emulator: EmulatorServer
) -> None:
    _, _, feedback = webhooks
    answer = linked_emulator.inbound(MOBILE, " help ")
    assert answer["status"] == 200
    assert answer["body"].endswith(
        "<Response><Message>Acme alerts: help at acme.example. Reply STOP to opt out &amp; more"
        "</Message></Response>"
    )
    other = linked_emulator.inbound(MOBILE, "stop please, what is this")
    assert other["body"].endswith("<Response />")
    feedback.drain()
    assert feedback.suppressions == []


def test_callbacks_twilio_signs_with_the_port_are_accepted(
    webhooks: tuple[str, SmsSettings, Feedback], wait_for: Callable[..., Any]
) -> None:
    # Public address https://hooks.acme.example; Twilio signed it as ...example:443/...
    _, settings, feedback = webhooks
    public = settings.model_copy(update={"sms_callback_base_url": "https://hooks.acme.example"})
    params = {"MessageSid": "SM443", "From": MOBILE, "Body": "STOP"}
    signature = twilio_signature("https://hooks.acme.example:443/inbound", params.items(), TOKEN)
    with serve_in_thread(create_webhooks_app(public)) as running:
        answer = httpx.post(
            f"{running.url}/inbound",
            data=params,
            headers={SIGNATURE_HEADER: signature},
            timeout=10,
        )
    assert answer.status_code == 200
    wait_for(lambda: feedback.drain().suppressions, 10, "the STOP")
    assert [e.reason for e in feedback.suppressions] == ["stop_reply"]


def test_an_old_start_replayed_after_a_stop_does_not_resubscribe(
    webhooks: tuple[str, SmsSettings, Feedback], wait_for: Callable[..., Any]
) -> None:
    url, _, feedback = webhooks

    def reply(sid: str, body: str) -> dict[str, str]:
        return {"MessageSid": sid, "AccountSid": "ACsandbox", "From": MOBILE, "Body": body}

    start = reply("SMstart0001", "START")
    assert signed_post(f"{url}/inbound", start).status_code == 200
    assert signed_post(f"{url}/inbound", reply("SMstop00002", "STOP")).status_code == 200
    # The very same signed START, captured and sent again: valid signature, old message.
    replay = signed_post(f"{url}/inbound", start)

    assert replay.status_code == 200
    wait_for(lambda: len(feedback.drain().suppressions) >= 2, 10, "two suppression events")
    feedback.drain()
    actions = [event.action for event in feedback.suppressions]
    assert actions == [
        bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS,
        bus_pb2.SuppressionEvent.ACTION_SUPPRESS,
    ]
    stamps = [event.occurred_at.ToNanoseconds() for event in feedback.suppressions]
    assert stamps == sorted(stamps)


# -- Vonage: signed delivery reports and inbound messages ---------------------------------

VONAGE_SECRET = "sandbox-vonage-signature-secret-0123456789"


def vonage_signed(body: dict[str, Any], secret: str = VONAGE_SECRET) -> tuple[bytes, str]:
    """A body and the bearer JWT Vonage would sign it with."""
    content = json.dumps(body).encode()
    claims = {
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(content).hexdigest(),
        "api_key": "sandbox-key",
        "application_id": "app-1",
    }
    return content, jwt.encode(claims, secret, algorithm="HS256")


def test_vonage_sends_come_back_as_signed_reports_and_receipts(
    webhooks: tuple[str, SmsSettings, Feedback],
    linked_emulator: EmulatorServer,
    wait_for: Callable[..., Any],
) -> None:
    # Deliveries sent through Vonage used to stay SENT forever.
    _, settings, feedback = webhooks
    deliver = bootstrap(
        settings.model_copy(
            update={
                "sms_providers": ("vonage",),
                "sms_vonage_base_url": linked_emulator.url,
                "sms_rate_limit": 0,
            }
        )
    )
    linked_emulator.add_fault("+447400123457", "undelivered", provider="vonage")
    items = [
        bus_pb2.DispatchItem(
            delivery_id=f"d-{n}", idempotency_key=f"k-{n}", address=number,
            sms=variant_pb2.SmsVariant(text="Hi"),
        )
        for n, number in enumerate((MOBILE, "+447400123457"))
    ]  # fmt: skip
    batch = bus_pb2.DispatchBatch(campaign_id="c-8", channel=campaign_pb2.CHANNEL_SMS, items=items)
    sent = [deliver(batch, item) for item in items]

    wait_for(lambda: len(feedback.drain().receipts) >= 4, 10, "four receipts")
    by_delivery: dict[str, list[bus_pb2.DeliveryReceipt]] = {}
    for receipt in feedback.receipts:
        by_delivery.setdefault(receipt.delivery_id, []).append(receipt)
    assert [r.status for r in by_delivery["d-0"]] == [
        campaign_pb2.DELIVERY_STATUS_SENT,
        campaign_pb2.DELIVERY_STATUS_DELIVERED,
    ]
    bounced = by_delivery["d-1"][-1]
    assert (bounced.status, bounced.error_code) == (campaign_pb2.DELIVERY_STATUS_BOUNCED, "1320")
    assert {r.provider for r in feedback.receipts} == {"vonage"}
    assert by_delivery["d-0"][0].provider_message_id == sent[0].provider_message_id


def test_forged_vonage_reports_and_messages_are_refused(
    webhooks: tuple[str, SmsSettings, Feedback],
) -> None:
    url, _, feedback = webhooks
    report = {"message_uuid": "m-1", "status": "delivered", "timestamp": "2026-12-02T10:00:00Z"}
    content, wrong = vonage_signed(report, secret="guessed-" + "x" * 32)
    status_url = f"{url}/status/vonage?d=d-1&c=c-1"
    headers = {"Content-Type": "application/json"}
    answer = httpx.post(status_url, content=content, headers=headers | auth(wrong), timeout=10)
    assert answer.status_code == 403
    # A genuine token on another body: its payload_hash gives it away.
    _, genuine = vonage_signed(report)
    other = json.dumps({**report, "status": "rejected"}).encode()
    answer = httpx.post(status_url, content=other, headers=headers | auth(genuine), timeout=10)
    assert answer.status_code == 403
    inbound = {"from": "447400123456", "text": "START", "message_uuid": "m-2",
               "timestamp": "2026-12-02T10:00:00Z"}  # fmt: skip
    content, wrong = vonage_signed(inbound, secret="guessed-" + "x" * 32)
    answer = httpx.post(
        f"{url}/inbound/vonage", content=content, headers=headers | auth(wrong), timeout=10
    )
    assert answer.status_code == 403
    assert httpx.post(status_url, content=other, headers=headers, timeout=10).status_code == 403
    feedback.drain()
    assert (feedback.receipts, feedback.suppressions) == ([], [])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_vonage_stop_start_and_help(
    webhooks: tuple[str, SmsSettings, Feedback],
    linked_emulator: EmulatorServer,
    wait_for: Callable[..., Any],
) -> None:
    url, _, feedback = webhooks
    assert linked_emulator.inbound(MOBILE, "STOP", provider="vonage")["status"] == 200
    assert linked_emulator.inbound(MOBILE, "start", provider="vonage")["status"] == 200
    wait_for(lambda: len(feedback.drain().suppressions) >= 2, 10, "two suppression events")
    assert [(e.address, e.action, e.reason) for e in feedback.suppressions] == [
        (MOBILE, bus_pb2.SuppressionEvent.ACTION_SUPPRESS, "stop_reply"),
        (MOBILE, bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS, "start_reply"),
    ]
    # A STOP Vonage received before that last change (a late retry) changes nothing.
    late = {
        "channel": "sms",
        "message_uuid": "m-late",
        "to": "15005550006",
        "from": MOBILE.lstrip("+"),
        "text": "STOP",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    content, token = vonage_signed(late)
    headers = {"Content-Type": "application/json"} | auth(token)
    answer = httpx.post(f"{url}/inbound/vonage", content=content, headers=headers, timeout=10)
    assert answer.status_code == 200
    time.sleep(0.2)  # give a wrongly published event the chance to show up
    assert len(feedback.drain().suppressions) == 2


def test_vonage_help_is_answered_by_a_message(
    webhooks: tuple[str, SmsSettings, Feedback], linked_emulator: EmulatorServer
) -> None:
    # Vonage takes no reply in the webhook's answer: the help text is sent through it.
    _, settings, feedback = webhooks
    app = create_webhooks_app(
        settings.model_copy(update={"sms_vonage_base_url": linked_emulator.url})
    )
    with serve_in_thread(app) as running:
        message = {
            "channel": "sms",
            "message_uuid": "m-help",
            "to": "15005550006",
            "from": MOBILE.lstrip("+"),
            "text": " Help ",
            "timestamp": "2026-12-02T10:00:00Z",
        }
        content, token = vonage_signed(message)
        answer = httpx.post(
            f"{running.url}/inbound/vonage",
            content=content,
            headers={"Content-Type": "application/json"} | auth(token),
            timeout=10,
        )
    assert answer.status_code == 200
    [sent] = linked_emulator.messages()
    assert (sent["provider"], sent["to"], sent["from"]) == ("vonage", MOBILE, "15005550006")
    assert sent["body"] == settings.sms_help_text
    assert feedback.drain().suppressions == []
