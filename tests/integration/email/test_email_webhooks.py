"""The feedback endpoints publishing to a real RabbitMQ vhost: one-click unsubscribe
(valid, forged, foreign) and Postmark webhooks behind basic auth."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from brandcast.email.sandbox.receipts import ReceiptsReader, receipts_reader
from brandcast.email.settings import EmailSettings
from brandcast.email.webhooks import create_webhooks_app
from brandcast.shared.devstack import free_port
from brandcast.shared.http_thread import serve_in_thread
from brandcast.shared.tokens import sign
from brandcast.v1 import bus_pb2, campaign_pb2

pytestmark = pytest.mark.rabbitmq

SECRET = "unsubscribe-secret"
AUTH = ("postmark", "hook-password")


def token_for(address: str, channel: str = "email", secret: str = SECRET) -> str:
    return sign({"c": channel, "a": address, "d": "d-77", "k": "c-77"}, secret)


@pytest.fixture
def reader(broker_url: str) -> Iterator[ReceiptsReader]:
    with receipts_reader(broker_url) as feedback:
        yield feedback


@contextmanager
def serving(settings: EmailSettings) -> Iterator[httpx.Client]:
    """The webhooks app on a real loopback port, and a client for it."""
    server = serve_in_thread(create_webhooks_app(settings))
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield http
    finally:
        server.stop()


@pytest.fixture
def client(broker_url: str, reader: ReceiptsReader) -> Iterator[httpx.Client]:
    settings = EmailSettings(
        broker_url=broker_url,
        unsubscribe_secret=SECRET,
        email_webhook_username=AUTH[0],
        email_webhook_password=AUTH[1],
    )
    with serving(settings) as http:
        yield http


def test_confirmation_page_posts_one_click_and_publishes_nothing(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    token = token_for("reader@example.org")
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'action="/unsubscribe/{token}"' in page.text
    assert "method=post" in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert reader.drain_now().suppressions == []


def test_one_click_post_publishes_a_suppression(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    response = client.post(
        f"/unsubscribe/{token_for('reader@example.org')}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    [event] = reader.wait(suppressions=1).suppressions
    assert (event.channel, event.address, event.reason, event.delivery_id) == (
        campaign_pb2.CHANNEL_EMAIL,
        "reader@example.org",
        "unsubscribe",
        "d-77",
    )
    assert event.action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS


def test_multipart_one_click_post_is_accepted(client: httpx.Client, reader: ReceiptsReader) -> None:
    # RFC 8058 says mail receivers SHOULD send multipart/form-data.
    response = client.post(
        f"/unsubscribe/{token_for('multi@example.org')}",
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert response.status_code == 200
    assert [e.address for e in reader.wait(suppressions=1).suppressions] == ["multi@example.org"]


def test_forged_foreign_and_malformed_requests_publish_nothing(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    one_click = {"List-Unsubscribe": "One-Click"}
    forged = token_for("victim@example.org", secret="guessed")
    assert client.get(f"/unsubscribe/{forged}").status_code == 403
    assert client.post(f"/unsubscribe/{forged}", data=one_click).status_code == 403
    assert client.post("/unsubscribe/not-a-token", data=one_click).status_code == 403
    sms = token_for("+15551234567", channel="sms")
    assert client.post(f"/unsubscribe/{sms}", data=one_click).status_code == 400
    valid = token_for("reader@example.org")
    assert client.post(f"/unsubscribe/{valid}", data={"something": "else"}).status_code == 400
    # A valid unsubscribe afterwards is the only thing on the bus.
    assert client.post(f"/unsubscribe/{valid}", data=one_click).status_code == 200
    reader.wait(suppressions=1)
    time.sleep(0.2)  # give a wrongly published event the chance to show up
    assert [e.address for e in reader.drain_now().suppressions] == ["reader@example.org"]


def test_postmark_bounce_and_delivery_reach_the_bus(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    metadata = {"delivery_id": "d-5", "campaign_id": "c-5", "idempotency_key": "k-5"}
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": "pm-5",
        "Email": "gone@example.org",
        "Description": "Unknown user",
        "BouncedAt": "2026-11-23T10:00:00Z",
        "Metadata": metadata,
    }
    delivered = {
        "RecordType": "Delivery",
        "MessageID": "pm-6",
        "Recipient": "ok@example.org",
        "DeliveredAt": "2026-11-23T10:00:01Z",
        "Metadata": {**metadata, "delivery_id": "d-6"},
    }
    assert client.post("/webhooks/postmark", json=bounce, auth=AUTH).json() == {
        "receipts": 1,
        "suppressions": 1,
    }
    assert client.post("/webhooks/postmark", json=delivered, auth=AUTH).status_code == 200
    seen = reader.wait(receipts=2, suppressions=1)
    assert [(r.delivery_id, r.status, r.provider) for r in seen.receipts] == [
        ("d-5", campaign_pb2.DELIVERY_STATUS_BOUNCED, "postmark"),
        ("d-6", campaign_pb2.DELIVERY_STATUS_DELIVERED, "postmark"),
    ]
    assert [(e.address, e.reason) for e in seen.suppressions] == [
        ("gone@example.org", "hard_bounce")
    ]


def test_an_unsubscribe_at_postmark_reaches_the_suppression_list(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    change = {
        "RecordType": "SubscriptionChange",
        "MessageID": "pm-7",
        "MessageStream": "broadcast",
        "ChangedAt": "2026-12-02T10:53:34Z",
        "Recipient": "leaving@example.org",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Metadata": {"delivery_id": "d-7", "campaign_id": "c-7", "idempotency_key": "k-7"},
    }
    answer = client.post("/webhooks/postmark", json=change, auth=AUTH)
    assert answer.json() == {"receipts": 0, "suppressions": 1}
    seen = reader.wait(suppressions=1)
    assert [(e.address, e.reason, e.delivery_id) for e in seen.suppressions] == [
        ("leaving@example.org", "unsubscribe", "d-7")
    ]


def test_postmark_webhook_requires_its_credentials(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    record = {"RecordType": "SpamComplaint", "Email": "x@example.org"}
    assert client.post("/webhooks/postmark", json=record).status_code == 401
    wrong = client.post("/webhooks/postmark", json=record, auth=("postmark", "guess"))
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    bad_body = client.post("/webhooks/postmark", content=b"{not json", auth=AUTH)
    assert bad_body.status_code == 400
    assert client.post("/webhooks/postmark", json=record, auth=AUTH).status_code == 200
    reader.wait(suppressions=1)
    time.sleep(0.2)
    assert [e.reason for e in reader.drain_now().suppressions] == ["complaint"]


def test_unconfigured_endpoints_refuse() -> None:
    # Nothing is published here, so no vhost is needed (kombu connects lazily).
    with serving(EmailSettings(broker_url="amqp://guest:guest@127.0.0.1:5672/unused")) as bare:
        assert bare.post("/webhooks/postmark", json={}, auth=AUTH).status_code == 503
        token = token_for("reader@example.org")
        assert bare.get(f"/unsubscribe/{token}").status_code == 503


@pytest.mark.slow
def test_webhooks_command_serves_unsubscribe(broker_url: str, reader: ReceiptsReader) -> None:
    port = free_port()
    env = {**os.environ, "BROKER_URL": broker_url, "UNSUBSCRIBE_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "brandcast.email.cli", "webhooks", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "webhooks server did not start"
            time.sleep(0.1)
        response = httpx.post(
            f"{base}/unsubscribe/{token_for('cli@example.org')}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        assert response.status_code == 200
        assert [e.address for e in reader.wait(suppressions=1).suppressions] == ["cli@example.org"]
    finally:
        process.terminate()
        process.wait(10)


def test_the_page_is_the_brands_shows_the_address_masked_and_offers_resubscribe(
    client: httpx.Client, reader: ReceiptsReader
) -> None:
    token = sign(
        {
            "c": "email",
            "a": "reader@example.org",
            "d": "d-9",
            "k": "c-9",
            "b": "Acme Coffee",
            "p": "#0a7d5a",
        },
        SECRET,
    )
    page = client.get(f"/unsubscribe/{token}")
    assert "Acme Coffee" in page.text
    assert "#0a7d5a" in page.text
    assert "r•••••@example.org" in page.text
    assert "reader@example.org" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"

    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "will not receive Acme Coffee emails" in done.text
    assert f'action="/unsubscribe/{token}/resubscribe"' in done.text
    [suppress] = reader.wait(suppressions=1).suppressions
    assert suppress.action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS

    again = client.post(f"/unsubscribe/{token}/resubscribe")
    assert again.status_code == 200
    assert "will receive Acme Coffee emails again" in again.text
    [resubscribe] = reader.wait(suppressions=2).suppressions[1:]
    assert (resubscribe.action, resubscribe.address, resubscribe.reason) == (
        bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS,
        "reader@example.org",
        "resubscribe",
    )
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(f"/unsubscribe/{forged}/resubscribe").status_code == 403


def test_a_hostile_colour_in_a_token_is_not_used(client: httpx.Client) -> None:
    token = sign(
        {"c": "email", "a": "x@example.org", "d": "d", "k": "k", "b": "B", "p": "red;}<x"},
        SECRET,
    )
    page = client.get(f"/unsubscribe/{token}")
    assert "red;}" not in page.text
