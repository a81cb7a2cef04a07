"""Operations end to end: after a real campaign, every service's ``/metrics`` agrees
with the store, and the JSON logs carry campaign ids but no recipient address.

The example campaign runs through the whole stack as processes (orchestrator,
three adapter workers, two webhook apps, loopback sandboxes) on a throwaway
RabbitMQ vhost and a SQLite store.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families

from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from local_stack import LocalStack, start_local_stack  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

Samples = list[tuple[str, dict[str, str], float]]
WORKERS = ("email-worker", "sms-worker", "social-worker")
CHANNELS = {
    "email": campaign_pb2.CHANNEL_EMAIL,
    "sms": campaign_pb2.CHANNEL_SMS,
    "social": campaign_pb2.CHANNEL_SOCIAL,
}


@pytest.fixture
def stack(broker_url: str, tmp_path: Path, own_redis_keys: dict[str, str]) -> Iterator[LocalStack]:
    local = start_local_stack(
        tmp_path / "stack",
        broker_url=broker_url,
        database_url=f"sqlite:///{tmp_path / 'brandcast.db'}",
        extra_env={"LOG_FORMAT": "json", **own_redis_keys},
    )
    try:
        yield local
    finally:
        local.stop()


def scrape(stack: LocalStack, process: str) -> Samples:
    text = httpx.get(stack.metrics_url(process), timeout=10).text
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def wait_for_completion(
    stub: campaign_service_pb2_grpc.CampaignServiceStub, campaign_id: str
) -> campaign_pb2.Campaign:
    deadline = time.monotonic() + 90
    while True:
        campaign = stub.GetCampaign(
            campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id), timeout=10
        ).campaign
        if campaign.state == campaign_pb2.CAMPAIGN_STATE_COMPLETED:
            return campaign
        assert time.monotonic() < deadline, f"campaign stuck: {campaign.counters}"
        time.sleep(0.2)


def test_metrics_match_the_store_and_logs_hide_recipients(stack: LocalStack) -> None:
    spec = json_format.ParseDict(
        yaml.safe_load((ROOT / "examples" / "spring-launch.yaml").read_text()),
        campaign_pb2.CampaignSpec(),
    )
    with grpc.insecure_channel(stack.grpc_address) as connection:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(connection)
        campaign_id = stub.SubmitCampaign(
            campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key="metrics-1"),
            timeout=30,
        ).campaign.id
        campaign = wait_for_completion(stub, campaign_id)
        counters = {c.channel: c for c in campaign.counters}
        assert all(counters[number].total > 0 for number in CHANNELS.values())

        # The SMS emulator reports delivery shortly after sending (through the SMS
        # webhooks): wait until the collector applied every receipt published.
        deadline = time.monotonic() + 20
        while True:
            hooks = scrape(stack, "sms-webhooks")
            workers = [sample for name in WORKERS for sample in scrape(stack, name)]
            orchestrator = scrape(stack, "orchestrator")
            published = total(workers, "brandcast_deliveries_total") + total(
                hooks, "brandcast_webhook_published_total", kind="receipt"
            )
            received = total(orchestrator, "brandcast_receipts_received_total")
            sms = next(
                c
                for c in stub.GetCampaign(
                    campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id), timeout=10
                ).campaign.counters
                if c.channel == campaign_pb2.CHANNEL_SMS
            )
            if received == published and sms.delivered == sms.total:
                break
            assert time.monotonic() < deadline, (received, published, sms)
            time.sleep(0.2)
        counters[campaign_pb2.CHANNEL_SMS] = sms

    assert total(hooks, "brandcast_webhook_published_total", kind="receipt") >= sms.delivered
    for channel, number in CHANNELS.items():
        store = counters[number]
        settled = store.sent + store.delivered
        assert store.failed == 0
        # Adapters count what they sent; the store has it as sent (or delivered since).
        assert total(workers, "brandcast_deliveries_total", channel=channel, status="sent") == (
            settled
        ), channel
        assert (
            total(workers, "brandcast_provider_latency_seconds_count", channel=channel) == settled
        )
        assert total(orchestrator, "brandcast_dispatched_deliveries_total", channel=channel) == (
            store.total
        )
        assert total(orchestrator, "brandcast_dispatch_batches_total", channel=channel) >= 1
        # Every receipt an adapter or its webhooks published was received, per
        # channel; applied counts only those that moved a delivery: once to sent
        # (or straight to delivered) and once to delivered.
        published_here = total(workers, "brandcast_deliveries_total", channel=channel) + total(
            hooks, "brandcast_webhook_published_total", channel=channel, kind="receipt"
        )
        assert (
            total(orchestrator, "brandcast_receipts_received_total", channel=channel)
            == published_here
        )
        applied = total(orchestrator, "brandcast_receipts_applied_total", channel=channel)
        assert store.total <= applied <= store.total + store.delivered, channel
    assert total(orchestrator, "brandcast_receipts_applied_total", status="delivered") == (
        counters[campaign_pb2.CHANNEL_SMS].delivered
    )
    assert total(orchestrator, "brandcast_campaigns_accepted_total") == 1
    assert total(orchestrator, "brandcast_outbox_backlog") == 0
    assert total(orchestrator, "brandcast_grpc_requests_total", method="SubmitCampaign") == 1
    assert total(orchestrator, "brandcast_grpc_requests_total", method="GetCampaign") >= 2
    assert total(workers, "brandcast_queue_lag_seconds_count") >= len(CHANNELS)
    # Each process serves only its own metrics: no worker reports a backlog of 0.
    names = {name for name, _, _ in workers + hooks}
    assert not {n for n in names if n.startswith(("brandcast_outbox", "brandcast_receipts"))}
    assert not {n for n, _, _ in orchestrator if n.startswith("brandcast_deliveries")}

    # Logs: JSON lines with the campaign id, and no recipient address anywhere.
    logs = {path.stem: path.read_text() for path in (stack.data_dir / "logs").glob("*")}
    secrets = [r.email for r in spec.audience if r.email] + [
        r.phone for r in spec.audience if r.phone
    ]
    for name, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"{secret} in the {name} log"
    lines = [json.loads(line) for line in logs["orchestrator"].splitlines() if line.startswith("{")]
    assert any(line.get("campaign_id") == campaign_id for line in lines)
    for worker in WORKERS:
        records = [json.loads(line) for line in logs[worker].splitlines() if line.startswith("{")]
        assert any(r.get("campaign_id") == campaign_id and r.get("batch_id") for r in records), (
            worker
        )
