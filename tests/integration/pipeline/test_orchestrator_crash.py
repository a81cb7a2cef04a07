"""SIGKILL the orchestrator in the middle of dispatching 20,000 deliveries; lose none.

The whole stack runs as processes (``examples/local_stack.py``) on the test's
RabbitMQ vhost and a PostgreSQL database: orchestrator, email and SMS workers,
the SMTP sink and the SMS emulator. 10,000 recipients × (email + SMS) arrive
through ``SubmitCampaignStream``; once some but not all deliveries left the
outbox, the orchestrator is killed without warning and started again with the
same environment. Every delivery must end final, every address must have
reached its sandbox, and the duplicates the sandboxes saw are counted and
printed (at-least-once: a batch published but not yet marked queued is
published again; the idempotency keys keep most of those from being re-sent).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from brandcast.email.sandbox.smtp_sink import read_index
from brandcast.shared.devstack import Process
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc
from tests.redis_keys import forget_sms_namespace

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples"))
from local_stack import BIN, LocalStack, start_local_stack  # noqa: E402

S = campaign_pb2
API = campaign_service_pb2
pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq, pytest.mark.postgres]

#: 10,000 (20,000 deliveries) is the acceptance figure, but on this 2-core
#: machine the adapters' end-to-end rate at --concurrency 2 is ~20-25 SMS/s and
#: ~50 emails/s (one provider call at a time per worker process), so 20,000
#: takes 8-12 minutes; the suite runs 2,000 recipients (~2 minutes) and the
#: full size is one variable away: CRASH_TEST_RECIPIENTS=10000.
RECIPIENTS = int(os.environ.get("CRASH_TEST_RECIPIENTS", "2000"))
CHUNK = 1_000
DELIVERIES = 2 * RECIPIENTS
#: Small batches make the dispatch last long enough to be interrupted mid-way.
BATCH = 100
UNSETTLED = (
    S.DELIVERY_STATUS_PENDING,
    S.DELIVERY_STATUS_SCHEDULED,
    S.DELIVERY_STATUS_QUEUED,
)


@pytest.fixture
def stack(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[LocalStack]:
    local = start_local_stack(
        tmp_path / "stack",
        broker_url=broker_url,
        database_url=database_url,
        concurrency=2,
        extra_env={
            "DISPATCH_BATCH_SIZE": str(BATCH),
            "DISPATCH_POLL_INTERVAL": "0.2",
            "LOG_LEVEL": "WARNING",
            # The sandbox takes what we send as fast as it comes: no per-provider
            # rate limit or per-prefix cap (their own tests cover those).
            "SMS_RATE_LIMIT": "0",
            "SMS_PUMPING_GUARD": "false",
            "SMS_REDIS_NAMESPACE": f"crash-{uuid.uuid4().hex[:8]}",
        },
    )
    try:
        yield local
    finally:
        local.stop()
        forget_sms_namespace(local.env["SMS_REDIS_NAMESPACE"])


def spec() -> S.CampaignSpec:
    return S.CampaignSpec(
        name="Crash test",
        brand_kit=S.BrandKit(
            name="Acme Coffee",
            email_sender=S.EmailSender(name="Acme", address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(
            headline="Spring blend",
            body="Bright and floral.",
            cta_text="Order",
            cta_url="https://acme.example.com/spring",
        ),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True), sms=S.SmsSettings(enabled=True)
        ),
    )


def recipient(i: int) -> S.Recipient:
    return S.Recipient(id=f"r{i:05d}", email=f"r{i:05d}@example.com", phone=f"+1415555{i:04d}")


def submission() -> Iterator[API.SubmitCampaignStreamRequest]:
    yield API.SubmitCampaignStreamRequest(
        header=API.SubmitCampaignRequest(spec=spec(), idempotency_key="crash-test")
    )
    for start in range(0, RECIPIENTS, CHUNK):
        stop = min(start + CHUNK, RECIPIENTS)
        chunk = API.RecipientChunk(recipients=[recipient(i) for i in range(start, stop)])
        yield API.SubmitCampaignStreamRequest(chunk=chunk)
    yield API.SubmitCampaignStreamRequest(end=API.StreamEnd(recipient_count=RECIPIENTS))


def counters(stub: campaign_service_pb2_grpc.CampaignServiceStub, cid: str) -> S.Campaign:
    return stub.GetCampaign(API.GetCampaignRequest(campaign_id=cid), timeout=10).campaign


def dispatched(campaign: S.Campaign) -> int:
    """Deliveries that left the outbox (queued or further)."""
    return sum(int(c.total - c.pending - c.scheduled) for c in campaign.counters)


def all_deliveries(
    stub: campaign_service_pb2_grpc.CampaignServiceStub, cid: str
) -> list[S.Delivery]:
    found: list[S.Delivery] = []
    token = ""
    while True:
        page = stub.ListDeliveries(
            API.ListDeliveriesRequest(campaign_id=cid, page_size=1000, page_token=token),
            timeout=30,
        )
        found += page.deliveries
        token = page.next_page_token
        if not token:
            return found


# PostgreSQL only: the SQLite store has its own, faster dispatch tests, and this
# one takes a minute or more per database on the 2-core machine.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.timeout(240 + RECIPIENTS * 0.1)
def test_sigkill_mid_dispatch_loses_nothing(stack: LocalStack) -> None:
    started = time.monotonic()
    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        accepted = stub.SubmitCampaignStream(submission(), timeout=120)
        cid = accepted.campaign.id
        assert accepted.recipients_received == RECIPIENTS

        # Kill once a fifth or so, but not all, of the deliveries have been published.
        deadline = time.monotonic() + 60
        while True:
            left = dispatched(counters(stub, cid))
            if left >= DELIVERIES // 5:
                break
            assert time.monotonic() < deadline, "dispatch never started"
            time.sleep(0.02)
    stack.stack.signal("orchestrator", signal.SIGKILL)
    killed = stack.stack.processes["orchestrator"].popen
    assert killed is not None
    killed.wait(10)
    assert killed.returncode == -signal.SIGKILL
    print(f"\nSIGKILL after {left} of {DELIVERIES} deliveries left the outbox")
    assert left < DELIVERIES, "the dispatch finished before the kill: nothing was tested"

    stack.stack.start(
        Process(
            "orchestrator",
            [str(BIN / "brandcast-orchestrator")],
            stack.env,
            port=stack.ports["grpc"],
        )
    )

    with grpc.insecure_channel(stack.grpc_address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        deadline = time.monotonic() + 120 + RECIPIENTS * 0.08
        while True:
            campaign = counters(stub, cid)
            if campaign.state == S.CAMPAIGN_STATE_COMPLETED:
                break
            assert time.monotonic() < deadline, f"not completed: {campaign.counters}"
            time.sleep(0.5)
        deliveries = all_deliveries(stub, cid)

    statuses = Counter(d.status for d in deliveries)
    final = sum(n for status, n in statuses.items() if status not in UNSETTLED)

    # What the sandboxes received.
    mail = read_index(stack.mail_dir)
    mail_ids = Counter(entry["message_id"] for entry in mail)
    mailed = {rcpt.lower() for entry in mail for rcpt in entry["rcpt_tos"]}
    sms_url = stack.url("sms_emulator")
    texts = httpx.get(f"{sms_url}/_emulator/messages", timeout=30).json()
    stats = httpx.get(f"{sms_url}/_emulator/stats", timeout=10).json()
    texted = {m["to"] for m in texts}

    expected_mail = {recipient(i).email for i in range(RECIPIENTS)}
    expected_sms = {recipient(i).phone for i in range(RECIPIENTS)}
    lost = len(expected_mail - mailed) + len(expected_sms - texted)
    duplicate_mail = sum(n - 1 for n in mail_ids.values() if n > 1)
    duplicate_sms = int(stats["duplicates"]) + (len(texts) - len(texted))
    duplicates = duplicate_mail + duplicate_sms
    print(
        f"final={final} lost={lost} duplicates_at_provider={duplicates} "
        f"(email {duplicate_mail}, sms {duplicate_sms}) "
        f"statuses={ {S.DeliveryStatus.Name(s): n for s, n in statuses.items()} } "
        f"in {time.monotonic() - started:.0f}s"
    )
    assert len(deliveries) == DELIVERIES
    assert final == DELIVERIES
    assert lost == 0
    assert statuses[S.DELIVERY_STATUS_FAILED] == 0, [
        (d.address, d.error_code) for d in deliveries if d.status == S.DELIVERY_STATUS_FAILED
    ][:5]
    # Duplicates are expected to be rare: at most what was in flight at the kill.
    assert duplicates <= left
