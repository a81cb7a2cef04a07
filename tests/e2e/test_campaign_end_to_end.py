"""One real campaign all the way through: gRPC in, RabbitMQ, three adapter worker
processes, loopback sandbox providers, receipts back in the store.

Runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from google.protobuf import json_format

from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from local_stack import LocalStack, start_local_stack  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

FINAL = {
    campaign_pb2.DELIVERY_STATUS_SENT,
    campaign_pb2.DELIVERY_STATUS_DELIVERED,
    campaign_pb2.DELIVERY_STATUS_FAILED,
    campaign_pb2.DELIVERY_STATUS_BOUNCED,
    campaign_pb2.DELIVERY_STATUS_SUPPRESSED,
    campaign_pb2.DELIVERY_STATUS_CANCELLED,
}


def load_spec(path: Path) -> campaign_pb2.CampaignSpec:
    return json_format.ParseDict(yaml.safe_load(path.read_text()), campaign_pb2.CampaignSpec())


@pytest.fixture
def stack(
    broker_url: str, database_url: str, tmp_path: Path, own_redis_keys: dict[str, str]
) -> Iterator[LocalStack]:
    local = start_local_stack(
        tmp_path / "stack",
        broker_url=broker_url,
        database_url=database_url,
        # As docker-compose.yml deploys it; the other stack tests keep the defaults.
        extra_env={
            **own_redis_keys,
            "BUS_COMPRESSION": "zstd",
            "BUS_SHARED_EMAIL_LAYOUTS": "true",
        },
    )
    try:
        yield local
    finally:
        local.stop()


def _all_deliveries(
    stub: campaign_service_pb2_grpc.CampaignServiceStub, campaign_id: str
) -> list[campaign_pb2.Delivery]:
    deliveries: list[campaign_pb2.Delivery] = []
    token = ""
    while True:
        page = stub.ListDeliveries(
            campaign_service_pb2.ListDeliveriesRequest(
                campaign_id=campaign_id, page_size=100, page_token=token
            )
        )
        deliveries += page.deliveries
        token = page.next_page_token
        if not token:
            return deliveries


def test_example_campaign_reaches_every_sandbox(stack: LocalStack) -> None:
    spec = load_spec(ROOT / "examples" / "spring-launch.yaml")
    emails = [r for r in spec.audience if r.email]
    phones = [r for r in spec.audience if r.phone]
    accounts = list(spec.brand_kit.social_accounts)
    assert emails, "the example must exercise every channel"
    assert phones
    assert accounts

    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        response = stub.SubmitCampaign(
            campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key="e2e-1"),
            timeout=30,
        )
        campaign_id = response.campaign.id

        deadline = time.monotonic() + 90
        while True:
            campaign = stub.GetCampaign(
                campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id), timeout=10
            ).campaign
            if campaign.state == campaign_pb2.CAMPAIGN_STATE_COMPLETED:
                break
            assert time.monotonic() < deadline, f"campaign stuck: {campaign.counters}"
            time.sleep(0.2)

        deliveries = _all_deliveries(stub, campaign_id)

    assert len(deliveries) == len(emails) + len(phones) + len(accounts)
    assert all(d.status in FINAL for d in deliveries)
    failed = [
        d
        for d in deliveries
        if d.status != campaign_pb2.DELIVERY_STATUS_SENT
        and d.status != campaign_pb2.DELIVERY_STATUS_DELIVERED
    ]
    assert not failed, [(d.address, d.error_code, d.error_message) for d in failed]
    assert all(d.provider and d.provider_message_id for d in deliveries)
    counters = {c.channel: c for c in campaign.counters}
    assert counters[campaign_pb2.CHANNEL_EMAIL].total == len(emails)
    assert counters[campaign_pb2.CHANNEL_SMS].total == len(phones)
    assert counters[campaign_pb2.CHANNEL_SOCIAL].total == len(accounts)

    # Every email arrived at the SMTP sink as a parseable multipart message.
    messages = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted(stack.mail_dir.rglob("*.eml"))
    ]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == sorted(
        r.email for r in emails
    )
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        plain, html = message.get_body(("plain",)), message.get_body(("html",))
        assert plain is not None
        assert html is not None
        assert message["Subject"]
        # One-click (RFC 8058) is only offered for https links; the local stack serves http.
        assert message["List-Unsubscribe"].startswith(f"<{stack.url('email_webhooks')}/")
        # Each body carries its own recipient's link (put together from the batch's
        # layout by the adapter), not another's.
        token = message["List-Unsubscribe"].strip("<>").split(">")[0].rsplit("/", 1)[1]
        assert token in html.get_content()
        assert token in plain.get_content()

    # A recipient unsubscribes: the adapter's endpoint feeds the orchestrator's list.
    first = messages[0]
    link = first["List-Unsubscribe"].strip("<>").split(">")[0]
    answer = httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert answer.status_code == 200
    address = first["To"].addresses[0].addr_spec.lower()
    with grpc.insecure_channel(stack.grpc_address) as channel:
        suppressions = campaign_service_pb2_grpc.SuppressionServiceStub(channel)
        deadline = time.monotonic() + 20
        while True:
            found = suppressions.ListSuppressions(
                campaign_service_pb2.ListSuppressionsRequest(
                    channel=campaign_pb2.CHANNEL_EMAIL, query=address
                ),
                timeout=10,
            ).suppressions
            if found:
                break
            assert time.monotonic() < deadline, "the unsubscribe never reached the store"
            time.sleep(0.2)
    assert found[0].reason == "unsubscribe"

    # Every SMS and every post reached its emulator.
    sms = httpx.get(f"{stack.url('sms_emulator')}/_emulator/messages", timeout=10).json()
    assert sorted(m["to"] for m in sms) == sorted(r.phone for r in phones)
    posts = httpx.get(f"{stack.url('social_emulator')}/_emulator/posts", timeout=10).json()
    assert len(posts) == len(accounts)
    assert all(post["text"] for post in posts)
