"""The store on SQLite and PostgreSQL: migrations, outbox, forward-only receipts, pages."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from brandcast.orchestrator.change_feed import ChangeFeed
from brandcast.orchestrator.errors import InvalidCampaignError
from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.intake import SLICE, CampaignIntake
from brandcast.orchestrator.store import (
    STATUS_RANK,
    CampaignSettledError,
    FinalUpdate,
    IdempotencyKeyTakenError,
    NewDelivery,
    NewRecipient,
    QueryDeadlineError,
    Store,
    _retention,
    now_us,
)
from brandcast.orchestrator.store._engine import PING_IDLE_AFTER
from brandcast.orchestrator.store.schema import deliveries, metadata
from brandcast.orchestrator.watch import watch_campaign
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2
API = campaign_service_pb2


def add_campaign(
    store: Store, n: int, *, key: str = "", channel: int = S.CHANNEL_EMAIL, not_before: int = 0
) -> tuple[str, list[str]]:
    cid = str(uuid.uuid4())
    now = now_us()
    ids = [f"{cid[:8]}-{i:06d}" for i in range(n)]
    with store.campaign_writer() as writer:
        writer.insert_recipients(
            [
                NewRecipient(
                    cid,
                    f"r{i}",
                    S.Recipient(id=f"r{i}", email=f"r{i}@example.com").SerializeToString(),
                )
                for i in range(n)
            ]
        )
        writer.insert_deliveries(
            [
                NewDelivery(
                    id=ids[i],
                    campaign_id=cid,
                    channel=channel,
                    recipient_id=f"r{i}",
                    address=f"r{i}@example.com",
                    status=S.DELIVERY_STATUS_PENDING,
                    status_rank=STATUS_RANK[S.DELIVERY_STATUS_PENDING],
                    attempts=0,
                    provider="",
                    provider_message_id="",
                    error_code="",
                    error_message="",
                    public_url="",
                    idempotency_key=ids[i],
                    not_before_us=not_before or now,
                    created_us=now,
                    updated_us=now,
                    seq=1,
                )
                for i in range(n)
            ]
        )
        writer.insert_campaign(
            {
                "id": cid,
                "name": "spring",
                "spec": S.CampaignSpec(name="spring").SerializeToString(),
                "state": S.CAMPAIGN_STATE_DISPATCHING,
                "audience_size": n,
                "idempotency_key": key or None,
                "request_hash": "h",
                "trace_context": "{}",
                "created_us": now,
                "updated_us": now,
            }
        )
    return cid, ids


def add_queued_campaign(store: Store, n: int) -> tuple[str, list[str]]:
    """A campaign of ``n`` email deliveries, all claimed and marked QUEUED."""
    cid, ids = add_campaign(store, n)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids)
    return cid, ids


def receipt(
    cid: str, did: str, status: S.DeliveryStatus.ValueType, **kw: Any
) -> bus_pb2.DeliveryReceipt:
    return bus_pb2.DeliveryReceipt(
        delivery_id=did, campaign_id=cid, channel=S.CHANNEL_EMAIL, status=status, **kw
    )


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"campaigns", "recipients", "deliveries", "suppressions", "alembic_version"} <= tables
    # Running the migrations again is harmless.
    Store.open(str(store.engine.url.render_as_string(hide_password=False))).close()


def test_migrations_match_the_schema_module(store: Store) -> None:
    """The tables the code describes are the tables the migrations build
    (the ledger's partitions on PostgreSQL are the housekeeper's, not the
    schema module's)."""
    with store.engine.connect() as conn:
        parts = (
            {p.name for p in _retention.partitions(conn)} if _retention.partitioned(conn) else set()
        )
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, _parent: not (kind == "table" and name in parts)
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_a_flush_keeps_the_furthest_receipt_per_delivery(store: Store) -> None:
    cid, ids = add_queued_campaign(store, 2)
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT, provider_message_id="m-0"),
            receipt(cid, ids[0], S.DELIVERY_STATUS_DELIVERED, provider_message_id="m-0"),
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT, provider_message_id="late"),
            receipt(cid, ids[1], S.DELIVERY_STATUS_FAILED, error_code="550", attempts=2),
            receipt(cid, ids[1], S.DELIVERY_STATUS_BOUNCED, error_code="5.1.1"),
        ]
    )
    deliveries = {d.id: d for d in store.list_deliveries(cid, page_size=10)[0]}
    assert deliveries[ids[0]].status == S.DELIVERY_STATUS_DELIVERED
    assert deliveries[ids[0]].provider_message_id == "m-0"
    # Final states share a rank: the first one to arrive stays.
    assert (deliveries[ids[1]].status, deliveries[ids[1]].error_code) == (
        S.DELIVERY_STATUS_FAILED,
        "550",
    )
    assert deliveries[ids[1]].attempts == 2


@pytest.mark.parametrize(
    "text",
    [
        "NULL",
        "a,b {c} \"d\" \\e 'f'",
        "Zustellung fehlgeschlagen: Postfach voll ✉️",
        "",
        "line one\nline two\ttab",
    ],
    ids=["NULL", "array-syntax", "unicode", "empty", "control"],
)
def test_receipt_texts_are_stored_as_sent(store: Store, text: str) -> None:
    """A flush binds its receipts as arrays on PostgreSQL: no text an array's
    syntax gives meaning to may change on the way (``NULL`` stays a string)."""
    cid, ids = add_queued_campaign(store, 1)
    store.apply_receipts(
        [
            receipt(
                cid,
                ids[0],
                S.DELIVERY_STATUS_FAILED,
                provider=text[:100],
                provider_message_id=text,
                error_code=text[:100],
                error_message=text,
            )
        ]
    )
    stored = store.get_delivery(cid, ids[0])
    assert stored is not None
    assert stored.status == S.DELIVERY_STATUS_FAILED
    assert (stored.provider_message_id, stored.error_code, stored.error_message) == (
        text,
        text[:100],
        text,
    )
    event = [e for e in store.read_ledger(0, 100, campaign_id=cid) if e.delivery_id == ids[0]][-1]
    assert (event.provider_message_id, event.error_code, event.detail) == (text, text[:100], text)


def test_a_receipt_with_nul_in_its_texts_is_stored_without_it(store: Store) -> None:
    """PostgreSQL's text cannot hold NUL: a provider's answer carrying one must
    not fail the flush (it would be redelivered and fail forever)."""
    cid, ids = add_queued_campaign(store, 2)
    store.apply_receipts(
        [
            receipt(
                cid,
                ids[0],
                S.DELIVERY_STATUS_FAILED,
                error_code="4\x0000",
                error_message="mailbox\x00 full",
                provider_message_id="\x00m-1",
            ),
            receipt(cid, ids[1], S.DELIVERY_STATUS_SENT, provider_message_id="m-2"),
        ]
    )
    failed = store.get_delivery(cid, ids[0])
    sent = store.get_delivery(cid, ids[1])
    assert failed is not None
    assert sent is not None
    assert (failed.status, failed.error_code, failed.error_message, failed.provider_message_id) == (
        S.DELIVERY_STATUS_FAILED,
        "400",
        "mailbox full",
        "m-1",
    )
    assert sent.status == S.DELIVERY_STATUS_SENT


def test_receipts_never_cross_campaigns(store: Store) -> None:
    cid, ids = add_campaign(store, 1)
    other, _ = add_campaign(store, 1)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids)
    store.apply_receipts([receipt(other, ids[0], S.DELIVERY_STATUS_SENT)])
    (delivery,) = store.list_deliveries(cid, page_size=10)[0]
    assert delivery.status == S.DELIVERY_STATUS_QUEUED


def test_batched_insert_and_counters(store: Store) -> None:
    cid, _ = add_campaign(store, 2500)
    campaign = store.get_campaign(cid)
    assert campaign is not None
    assert campaign.audience_size == 2500
    (email,) = campaign.counters
    assert (email.channel, email.total, email.pending) == (S.CHANNEL_EMAIL, 2500, 2500)


def test_claim_marks_queued_and_skips_future(store: Store) -> None:
    cid, ids = add_campaign(store, 5)
    later, _ = add_campaign(store, 3, not_before=now_us() + 3_600_000_000)
    with store.claim_due(limit=100) as claim:
        assert {d.id for d in claim.deliveries} == set(ids)
        assert all(d.recipient for d in claim.deliveries)
        claim.mark_queued(cid, ids[:4])
        claim.mark_final(
            cid, [FinalUpdate(ids[4], S.DELIVERY_STATUS_FAILED, "render", "bad template")]
        )
    with store.claim_due(limit=100) as claim:
        assert claim.deliveries == []
    counters = store.counters(cid)[0]
    assert (counters.queued, counters.failed) == (4, 1)
    assert store.counters(later)[0].pending == 3


def test_receipts_only_move_forward_and_complete_the_campaign(store: Store) -> None:
    cid, ids = add_queued_campaign(store, 3)
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_DELIVERED, provider="smtp", attempts=1),
            receipt(cid, ids[1], S.DELIVERY_STATUS_SENT, provider_message_id="m-1"),
        ]
    )
    # Late SENT after DELIVERED, duplicate SENT, and a receipt for an unknown id.
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT),
            receipt(cid, ids[1], S.DELIVERY_STATUS_SENT, provider_message_id="m-2"),
            receipt(cid, "no-such-delivery", S.DELIVERY_STATUS_SENT),
        ]
    )
    deliveries = {d.id: d for d in store.list_deliveries(cid, page_size=10)[0]}
    assert deliveries[ids[0]].status == S.DELIVERY_STATUS_DELIVERED
    assert deliveries[ids[0]].provider == "smtp"
    assert deliveries[ids[1]].provider_message_id == "m-1"
    assert store.get_campaign(cid).state == S.CAMPAIGN_STATE_DISPATCHING  # type: ignore[union-attr]

    store.apply_receipts(
        [receipt(cid, ids[2], S.DELIVERY_STATUS_FAILED, error_code="550", error_message="no")]
    )
    campaign = store.get_campaign(cid)
    assert campaign is not None
    assert campaign.state == S.CAMPAIGN_STATE_COMPLETED
    assert campaign.HasField("completed_at")
    counters = campaign.counters[0]
    assert (counters.delivered, counters.sent, counters.failed) == (1, 1, 1)


def listed_ids(store: Store, cid: str, page_size: int) -> list[str]:
    """Every delivery id of the campaign, page by page as ``ListDeliveries`` goes."""
    seen: list[str] = []
    token = ""
    while True:
        page, token = store.list_deliveries(cid, page_size=page_size, page_token=token)
        seen += [d.id for d in page]
        if not token:
            return seen


def test_delivery_pages_and_watch_cursor(store: Store) -> None:
    cid, ids = add_campaign(store, 25)
    assert listed_ids(store, cid, page_size=10) == sorted(ids)
    assert store.list_deliveries(cid, status=S.DELIVERY_STATUS_SENT)[0] == []

    initial = store.changes_since(cid, (0, ""))
    assert len(initial) == 25
    cursor = initial[-1].cursor
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids[:2])
    changes = store.changes_since(cid, cursor)
    assert [c.delivery.id for c in changes] == sorted(ids[:2])
    assert all(c.delivery.status == S.DELIVERY_STATUS_QUEUED for c in changes)
    assert store.changes_since(cid, changes[-1].cursor) == []


def test_cancel_leaves_queued_deliveries_alone(store: Store) -> None:
    cid, ids = add_campaign(store, 4)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids[:1])
    result = store.cancel_campaign(cid)
    assert result is not None
    campaign, cancelled = result
    assert cancelled == 3
    assert campaign.state == S.CAMPAIGN_STATE_CANCELLED
    # A late receipt of the queued one is applied; cancelled ones never move.
    store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids])
    counters = store.counters(cid)[0]
    assert (counters.sent, counters.cancelled) == (1, 3)
    assert store.cancel_campaign("missing") is None


def test_idempotency_key_is_unique(store: Store) -> None:
    cid, _ = add_campaign(store, 1, key="k-1")
    assert store.find_by_idempotency_key("k-1") == (cid, "h")
    with pytest.raises(IdempotencyKeyTakenError):
        add_campaign(store, 1, key="k-1")
    assert [c.id for c in store.list_campaigns(10)[0]] == [cid]  # the loser left nothing


def test_suppressions(store: Store) -> None:
    first = store.add_suppression(S.CHANNEL_EMAIL, "a@example.com", "complaint")
    again = store.add_suppression(S.CHANNEL_EMAIL, "a@example.com", "unsubscribe")
    assert again.reason == "complaint" == first.reason
    store.add_suppression(S.CHANNEL_SMS, "+14155550101", "stop_reply")
    store.add_suppression(S.CHANNEL_EMAIL, "b@example.org", "hard_bounce")
    page, token = store.list_suppressions(page_size=2)
    rest, last = store.list_suppressions(page_size=2, page_token=token)
    assert [s.address for s in page + rest] == ["a@example.com", "b@example.org", "+14155550101"]
    assert last == ""
    assert [s.address for s in store.list_suppressions(query="example.org")[0]] == ["b@example.org"]
    assert store.remove_suppression(S.CHANNEL_EMAIL, "a@example.com") is True
    assert store.remove_suppression(S.CHANNEL_EMAIL, "a@example.com") is False


def test_suppression_changes_are_kept_in_the_audit_trail(store: Store) -> None:
    store.add_suppression(S.CHANNEL_EMAIL, "a@example.com", "unsubscribe", "recipient")
    store.add_suppression(S.CHANNEL_EMAIL, "a@example.com", "unsubscribe", "ops")  # no change
    store.add_suppression(S.CHANNEL_SMS, "+14155550101", "stop_reply", "recipient")
    assert store.remove_suppression(
        S.CHANNEL_EMAIL, "a@example.com", reason="asked by phone", actor="alice"
    )
    assert not store.remove_suppression(S.CHANNEL_EMAIL, "a@example.com", reason="x", actor="bob")
    page, token = store.list_suppression_audit(page_size=2)
    rest, last = store.list_suppression_audit(page_size=2, page_token=token)
    assert last == ""
    entries = [(e.action, e.address, e.actor, e.reason) for e in page + rest]
    assert entries == [
        (API.SUPPRESSION_ACTION_REMOVED, "a@example.com", "alice", "asked by phone"),
        (API.SUPPRESSION_ACTION_ADDED, "+14155550101", "recipient", "stop_reply"),
        (API.SUPPRESSION_ACTION_ADDED, "a@example.com", "recipient", "unsubscribe"),
    ]
    assert all(e.at.seconds > 0 for e in page + rest)
    only = store.list_suppression_audit(channel=S.CHANNEL_EMAIL, address="a@example.com")[0]
    assert [e.action for e in only] == [
        API.SUPPRESSION_ACTION_REMOVED,
        API.SUPPRESSION_ACTION_ADDED,
    ]


def test_list_campaigns_newest_first(store: Store) -> None:
    made = [add_campaign(store, 1)[0] for _ in range(5)]
    listed: list[str] = []
    token = ""
    while True:
        page, token = store.list_campaigns(2, token)
        listed += [c.id for c in page]
        if not token:
            break
    assert listed == list(reversed(made))


def test_a_read_stops_at_its_deadline(store: Store) -> None:
    cid, _ = add_campaign(store, 20_000)
    # No delivery is delivered: the filter makes the database look at every row.
    with pytest.raises(QueryDeadlineError):
        store.list_deliveries(cid, status=S.DELIVERY_STATUS_DELIVERED, timeout=0.001)
    # The connection is usable again and a generous deadline changes nothing.
    page, token = store.list_deliveries(cid, status=S.DELIVERY_STATUS_DELIVERED, timeout=30)
    assert (page, token) == ([], "")
    page, _ = store.list_deliveries(cid, page_size=10, timeout=30)
    assert len(page) == 10


def test_a_busy_watch_counts_progress_at_most_every_interval(store: Store) -> None:
    """Counting a campaign's deliveries grows with it: a watch does it for the
    first event, at most once per interval while receipts pour in, and last."""
    cid, ids = add_campaign(store, 12)
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids)
    events = CampaignEvents()
    stop = threading.Event()

    def receipts_one_by_one() -> None:
        for delivery_id in ids:
            store.apply_receipts([receipt(cid, delivery_id, S.DELIVERY_STATUS_SENT)])
            events.publish([cid])
            stop.wait(0.05)

    sender = threading.Thread(target=receipts_one_by_one)
    seen = []
    request = campaign_service_pb2.WatchCampaignRequest(campaign_id=cid, include_deliveries=True)
    for event in watch_campaign(store, events, request, progress_interval=0.3):
        seen.append(event)
        if event.WhichOneof("event") == "progress" and sender.ident is None:
            sender.start()
    sender.join()
    kinds = [e.WhichOneof("event") for e in seen]
    sent = [e for e in seen if e.delivery.status == S.DELIVERY_STATUS_SENT]
    assert kinds.count("delivery") == 24  # each delivery queued, then sent
    assert len(sent) == 12
    # 12 receipts over ~0.6 s: the first count, one or two while busy, the last.
    assert 2 <= kinds.count("progress") <= 5
    assert kinds[-1] == "progress"
    final = seen[-1].progress
    assert final.state == S.CAMPAIGN_STATE_COMPLETED
    assert sum(c.sent for c in final.counters) == 12


def test_a_watch_round_reads_its_changes_and_progress_in_one_transaction(
    store: Store,
) -> None:
    """The first round reports deliveries and progress; the queued batch's
    round reports both again. Each reads the store once (it was three
    transactions: changes, state with counters, report window)."""
    cid, ids = add_campaign(store, 3)
    events = CampaignEvents()
    transactions: list[int] = []
    sa_event.listen(store.engine, "begin", lambda conn: transactions.append(1))
    request = campaign_service_pb2.WatchCampaignRequest(campaign_id=cid, include_deliveries=True)
    stream = watch_campaign(store, events, request, progress_interval=0.0)
    first = [next(stream) for _ in range(4)]
    assert [e.WhichOneof("event") for e in first] == ["delivery"] * 3 + ["progress"]
    assert sum(c.pending for c in first[-1].progress.counters) == 3
    assert len(transactions) == 1

    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids)
    events.publish([cid])
    transactions.clear()
    second = [next(stream) for _ in range(4)]
    assert [e.delivery.status for e in second[:3]] == [S.DELIVERY_STATUS_QUEUED] * 3
    assert sum(c.queued for c in second[-1].progress.counters) == 3
    assert len(transactions) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_statistics_are_refreshed_after_a_large_load(store: Store) -> None:
    add_campaign(store, 3000)
    store.refresh_statistics()
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'deliveries'"
        ).scalar_one()
    # The planner's row estimate now knows the rows the load just wrote.
    assert rows >= 3000


def intake_request(n: int) -> tuple[campaign_service_pb2.SubmitCampaignRequest, list[Any]]:
    """An email campaign whose ``n`` recipients arrive as streamed chunks of 700."""
    spec = S.CampaignSpec(
        name="sliced",
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco",
        ),
        core_message=S.CoreMessage(
            headline="Hello", body="Hi", cta_text="Go", cta_url="https://acme.example.com"
        ),
        channels=S.ChannelSettings(email=S.EmailSettings(enabled=True)),
    )
    people = [S.Recipient(id=f"r{i}", email=f"r{i}@example.com") for i in range(n)]
    chunks = [
        campaign_service_pb2.RecipientChunk(recipients=people[start : start + 700])
        for start in range(0, n, 700)
    ]
    return campaign_service_pb2.SubmitCampaignRequest(spec=spec), chunks


def test_a_sliced_audience_is_written_whole_and_in_order(store: Store) -> None:
    # Slices are written while the next is validated (in the background on
    # PostgreSQL): every one must land, once.
    request, chunks = intake_request(3 * SLICE + 500)
    result = CampaignIntake(store).submit(request, chunks)
    counters = store.counters(result.campaign.id)
    assert [(c.total, c.pending) for c in counters] == [(3 * SLICE + 500, 3 * SLICE + 500)]
    assert result.campaign.audience_size == 3 * SLICE + 500
    # Delivery ids are time-ordered: in id order they follow the audience, so
    # the indexes on them grow at one end (UUIDv7).
    with store.engine.connect() as conn:
        in_id_order = conn.execute(
            select(deliveries.c.recipient_id, deliveries.c.id)
            .where(deliveries.c.campaign_id == result.campaign.id)
            .order_by(deliveries.c.id)
        ).all()
    assert [row.recipient_id for row in in_id_order] == [f"r{i}" for i in range(3 * SLICE + 500)]
    assert {uuid.UUID(row.id).version for row in in_id_order} == {7}


def test_suppressed_addresses_are_found_in_every_slice(store: Store) -> None:
    # Rows are built while validating and suppressed while writing (on another
    # thread on PostgreSQL): the suppressed ones of every slice, and only they,
    # are written SUPPRESSED, counted so and recorded in the ledger.
    suppressed = {5, SLICE + 7, 3 * SLICE + 499}
    for i in suppressed:
        store.add_suppression(S.CHANNEL_EMAIL, f"r{i}@example.com", "unsubscribe")
    request, chunks = intake_request(3 * SLICE + 500)
    result = CampaignIntake(store).submit(request, chunks)
    total = 3 * SLICE + 500
    assert [(c.total, c.pending, c.suppressed) for c in store.counters(result.campaign.id)] == [
        (total, total - 3, 3)
    ]
    assert [(c.total, c.pending, c.suppressed) for c in result.campaign.counters] == [
        (total, total - 3, 3)
    ]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.recipient_id, deliveries.c.status, deliveries.c.status_rank)
            .where(deliveries.c.campaign_id == result.campaign.id)
            .where(deliveries.c.status == S.DELIVERY_STATUS_SUPPRESSED)
        ).all()
        events = conn.execute(
            text("SELECT count(*) FROM ledger WHERE campaign_id = :c AND event = :e"),
            {"c": result.campaign.id, "e": S.LEDGER_EVENT_TYPE_SUPPRESSED},
        ).scalar_one()
    assert sorted(r.recipient_id for r in rows) == sorted(f"r{i}" for i in suppressed)
    assert {r.status_rank for r in rows} == {STATUS_RANK[S.DELIVERY_STATUS_SUPPRESSED]}
    assert events == 3


def test_suppressions_are_looked_up_per_channel(store: Store) -> None:
    # E-mail and SMS are looked up together on PostgreSQL: an address
    # suppressed on one channel must not suppress the other's deliveries.
    request, chunks = intake_request(2 * SLICE)
    request.spec.channels.sms.enabled = True
    request.spec.brand_kit.sms_sender = "+14155550100"
    for chunk in chunks:
        for person in chunk.recipients:
            person.phone = f"+1415555{int(person.id[1:]):04d}"
    store.add_suppression(S.CHANNEL_EMAIL, "r3@example.com", "unsubscribe")
    store.add_suppression(S.CHANNEL_SMS, "+14155551500", "stop_reply")
    # Each on the other channel: neither matches any delivery.
    store.add_suppression(S.CHANNEL_SMS, "r4@example.com", "stop_reply")
    store.add_suppression(S.CHANNEL_EMAIL, "+14155550005", "unsubscribe")
    result = CampaignIntake(store).submit(request, chunks)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.channel, deliveries.c.address)
            .where(deliveries.c.campaign_id == result.campaign.id)
            .where(deliveries.c.status == S.DELIVERY_STATUS_SUPPRESSED)
        ).all()
    assert sorted((r.channel, r.address) for r in rows) == [
        (S.CHANNEL_EMAIL, "r3@example.com"),
        (S.CHANNEL_SMS, "+14155551500"),
    ]
    counted = {c.channel: (c.total, c.suppressed) for c in store.counters(result.campaign.id)}
    assert counted == {S.CHANNEL_EMAIL: (2 * SLICE, 1), S.CHANNEL_SMS: (2 * SLICE, 1)}


def test_an_earlier_slice_error_is_reported_before_a_later_one(store: Store) -> None:
    request, chunks = intake_request(3 * SLICE)
    # Slice 2 repeats an id of slice 1 (found by the store while writing it);
    # slice 3 has an invalid address (found while validating it).
    chunks[2].recipients[0].id = "r0"  # recipient 1400: the second slice
    chunks[4].recipients[0].email = "not an address"  # recipient 2800: the third slice
    with pytest.raises(InvalidCampaignError) as caught:
        CampaignIntake(store).submit(request, chunks)
    assert [v.field for v in caught.value.violations] == ["chunks[2].recipients[0].id"]
    assert store.list_campaigns(10)[0] == []  # nothing of it was kept

    request, chunks = intake_request(3 * SLICE)
    chunks[4].recipients[0].email = "not an address"
    with pytest.raises(InvalidCampaignError) as caught:
        CampaignIntake(store).submit(request, chunks)
    assert [v.field for v in caught.value.violations] == ["chunks[4].recipients[0].email"]
    assert store.list_campaigns(10)[0] == []


def _terminate_other_backends(database_url: str) -> int:
    """Have PostgreSQL close every other session of the database, as a restart would."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        )


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_connections_the_server_closed_are_replaced(store: Store, database_url: str) -> None:
    assert store.get_campaign("none") is None  # the pool now holds a connection
    assert _terminate_other_backends(database_url) >= 1
    time.sleep(PING_IDLE_AFTER + 0.2)
    # Idle past the threshold: pinged at checkout, found dead, replaced.
    assert store.get_campaign("none") is None

    assert _terminate_other_backends(database_url) >= 1
    # Used a moment ago: not pinged, so this one operation fails, as a lost
    # connection mid-call would, and the pool is refreshed for the next.
    with pytest.raises(DBAPIError) as caught:
        store.get_campaign("none")
    assert caught.value.connection_invalidated
    assert store.get_campaign("none") is None


def test_concurrent_submissions_with_one_key_create_one_campaign(store: Store) -> None:
    request, chunks = intake_request(50)
    request.idempotency_key = "launch-1"
    intake = CampaignIntake(store)
    start = threading.Barrier(4)
    results: list[Any] = []

    def submit() -> None:
        start.wait()
        results.append(intake.submit(request, list(chunks)))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    assert len({r.campaign.id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert [c.id for c in store.list_campaigns(10)[0]] == [results[0].campaign.id]


def test_pause_holds_the_outbox_and_handed_back_deliveries_return_to_it(store: Store) -> None:
    cid, ids = add_campaign(store, 4)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids[:3])
    paused = store.pause_campaign(cid)
    assert paused is not None
    assert paused.state == S.CAMPAIGN_STATE_PAUSED
    assert store.open_campaigns() == [(cid, S.CAMPAIGN_STATE_PAUSED)]

    # The adapter sent one, handed two back unsent; a late duplicate changes nothing.
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT),
            receipt(cid, ids[1], S.DELIVERY_STATUS_DEFERRED),
            receipt(cid, ids[2], S.DELIVERY_STATUS_DEFERRED),
            receipt(cid, ids[0], S.DELIVERY_STATUS_DEFERRED),
        ]
    )
    counters = store.counters(cid)[0]
    assert (counters.sent, counters.queued, counters.pending) == (1, 0, 3)
    assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_PAUSED, False)

    resumed = store.resume_campaign(cid)
    assert resumed is not None
    assert resumed.state == S.CAMPAIGN_STATE_DISPATCHING
    with store.claim_due(limit=10, campaign_id=cid) as claim:
        assert sorted(d.id for d in claim.deliveries) == sorted(ids[1:])
    assert store.pause_campaign("missing") is None


# SQLite only: on PostgreSQL the claim holds its rows locked until the mark
# commits, so the receipt waits for it (and here, in one thread, forever).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_delivery_handed_back_before_its_mark_stays_in_the_outbox(store: Store) -> None:
    cid, ids = add_campaign(store, 2)
    with store.claim_due(limit=10) as claim:
        # The adapter was quicker than the dispatcher's mark.
        store.apply_receipts([receipt(cid, ids[0], S.DELIVERY_STATUS_DEFERRED)])
        claim.mark_queued(cid, ids)
    counters = store.counters(cid)[0]
    assert (counters.pending, counters.queued) == (1, 1)


def test_deliveries_handed_back_after_a_cancel_end_cancelled(store: Store) -> None:
    cid, ids = add_queued_campaign(store, 2)
    store.cancel_campaign(cid)
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_DEFERRED),
            receipt(cid, ids[1], S.DELIVERY_STATUS_CANCELLED),
        ]
    )
    assert store.counters(cid)[0].cancelled == 2
    with pytest.raises(CampaignSettledError):
        store.pause_campaign(cid)


def test_a_recipients_opt_in_lifts_only_their_own_opt_out(store: Store) -> None:
    from brandcast.orchestrator.store import RECIPIENT_OPT_OUT_REASONS as OWN

    store.add_suppression(S.CHANNEL_EMAIL, "left@example.com", "unsubscribe", "recipient")
    store.add_suppression(S.CHANNEL_EMAIL, "gone@example.com", "hard_bounce", "provider")
    store.add_suppression(S.CHANNEL_EMAIL, "held@example.com", "legal hold", "alice")
    store.add_suppression(S.CHANNEL_SMS, "+14155550101", "stop_reply", "recipient")
    # Unsubscribed first, then the mailbox bounced: the bounce is what stands now.
    store.add_suppression(S.CHANNEL_EMAIL, "both@example.com", "unsubscribe", "recipient")
    escalated = store.add_suppression(S.CHANNEL_EMAIL, "both@example.com", "hard_bounce", "x")
    assert escalated.reason == "hard_bounce"

    lifted = {
        address: store.remove_suppression(
            channel, address, reason="resubscribe", actor="recipient", only_reasons=OWN
        )
        for channel, address in [
            (S.CHANNEL_EMAIL, "left@example.com"),
            (S.CHANNEL_EMAIL, "gone@example.com"),
            (S.CHANNEL_EMAIL, "held@example.com"),
            (S.CHANNEL_SMS, "+14155550101"),
            (S.CHANNEL_EMAIL, "both@example.com"),
        ]
    }
    assert lifted == {
        "left@example.com": True,
        "gone@example.com": False,
        "held@example.com": False,
        "+14155550101": True,
        "both@example.com": False,
    }
    remaining = {s.address: s.reason for s in store.list_suppressions()[0]}
    assert remaining == {
        "gone@example.com": "hard_bounce",
        "held@example.com": "legal hold",
        "both@example.com": "hard_bounce",
    }
    # An operator still can, on the record.
    assert store.remove_suppression(S.CHANNEL_EMAIL, "gone@example.com", reason="fixed", actor="a")
    trail = store.list_suppression_audit(address="both@example.com")[0]
    assert [(e.action, e.reason) for e in trail] == [
        (API.SUPPRESSION_ACTION_ADDED, "hard_bounce"),
        (API.SUPPRESSION_ACTION_ADDED, "unsubscribe"),
    ]


def test_an_export_misses_nothing_and_repeats_nothing_while_deliveries_change(
    store: Store,
) -> None:
    """Pages follow the deliveries' ids, which no write changes: a delivery
    that moves behind the export is not listed again, one that moves ahead of
    it is listed once, as it stands when its page is read."""
    cid, ids = add_campaign(store, 10)
    ids.sort()
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids[:6])
    pages = store.iter_delivery_rows(cid, page_size=3)
    exported: list[Any] = []
    # Between pages: one delivery already exported and one still ahead move.
    for behind, ahead in ((ids[0], ids[9]), (ids[1], ids[8])):
        exported += next(pages)
        store.apply_receipts(
            [
                receipt(cid, behind, S.DELIVERY_STATUS_SENT),
                receipt(cid, ahead, S.DELIVERY_STATUS_FAILED),
            ]
        )
    for page in pages:
        exported += page
    assert [r.id for r in exported] == ids
    status = {r.id: r.status for r in exported}
    assert status[ids[0]] == status[ids[1]] == S.DELIVERY_STATUS_QUEUED  # as read
    assert status[ids[8]] == status[ids[9]] == S.DELIVERY_STATUS_FAILED


def test_the_change_feed_wakes_watchers_of_a_campaign_whose_ledger_moved(store: Store) -> None:
    """Another replica's changes show only in the store: the feed sees the
    campaign's newest ledger position move (and its state), nothing else."""
    cid, ids = add_campaign(store, 3)
    other, _ = add_campaign(store, 1)
    events = CampaignEvents()
    watches = [events.watch(cid, "a"), events.watch(other, "b")]
    feed = ChangeFeed(store, events, interval=60)
    assert sorted(feed.poll_once()) == sorted([cid, other])  # first seen
    assert feed.poll_once() == []
    with store.claim_due(limit=1, campaign_id=cid) as claim:
        claim.mark_queued(cid, [d.id for d in claim.deliveries])
    assert feed.poll_once() == [cid]
    assert feed.poll_once() == []
    store.apply_receipts([receipt(cid, "no-such-delivery", S.DELIVERY_STATUS_SENT)])
    assert feed.poll_once() == []
    store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids])
    assert feed.poll_once() == [cid]
    store.pause_campaign(other)  # a state change alone, no ledger event
    assert feed.poll_once() == [other]
    for watch in watches:
        events.release(watch)


# SQLite only: on PostgreSQL the cancel waits for the claim's rows, so it
# cannot commit between a claim and its marks.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deliveries_deferred_after_a_cancel_end_cancelled(store: Store) -> None:
    cid, ids = add_campaign(store, 3)
    with store.claim_due(limit=10) as claim:
        store.cancel_campaign(cid)  # cancels all three, claimed or not
        claim.defer(cid, [(i, now_us() + 3_600_000_000) for i in ids])
    assert store.counters(cid)[0].cancelled == 3
    assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_CANCELLED, True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_defer_racing_a_cancel_never_leaves_a_delivery_in_the_outbox(store: Store) -> None:
    """The claim defers deliveries the cancel has not reached (SQLite: a cancel
    between two marks of one claim): they end cancelled, not scheduled."""
    cid, ids = add_campaign(store, 2)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids[:1])
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE campaigns SET state = :s WHERE id = :c"),
                {"s": S.CAMPAIGN_STATE_CANCELLED, "c": cid},
            )
        claim.defer(cid, [(ids[1], now_us() + 3_600_000_000)])
    counters = store.counters(cid)[0]
    assert (counters.queued, counters.cancelled, counters.scheduled) == (1, 1, 0)
