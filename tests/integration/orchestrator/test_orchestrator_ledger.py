"""The delivery ledger and the counters beside it, on SQLite and PostgreSQL:
every move is an event in commit order, the counters always equal a count of
the deliveries, positions are a cursor that misses nothing, and a database of
the previous schema migrates forward with its history."""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, func, inspect, select, text

from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import (
    STATUS_RANK,
    FinalUpdate,
    NewDelivery,
    NewRecipient,
    Store,
    _ledger,
    now_us,
)
from brandcast.orchestrator.store import _store as store_module
from brandcast.orchestrator.store._engine import MIGRATIONS, migrate, open_engine
from brandcast.orchestrator.store.schema import DELIVERIES_FILLFACTOR, deliveries
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc
from tests.integration.orchestrator.test_orchestrator_store import listed_ids

S = campaign_pb2
L = campaign_pb2


def _row(cid: str, i: int, status: int, error: str = "") -> NewDelivery:
    delivery_id = f"{cid[:8]}-{i:04d}"
    now = now_us()
    return NewDelivery(
        id=delivery_id,
        campaign_id=cid,
        channel=S.CHANNEL_EMAIL,
        recipient_id=f"r{i}",
        address=f"r{i}@example.com",
        status=status,
        status_rank=STATUS_RANK[status],
        attempts=0,
        provider="",
        provider_message_id="",
        error_code="invalid_address" if error else "",
        error_message=error,
        public_url="",
        idempotency_key=delivery_id,
        not_before_us=now,
        created_us=now,
        updated_us=now,
        seq=1,
    )


def add_campaign(store: Store, statuses: Sequence[int]) -> tuple[str, list[str]]:
    cid = str(uuid.uuid4())
    rows = [
        _row(cid, i, status, "no mailbox" if status == S.DELIVERY_STATUS_SKIPPED else "")
        for i, status in enumerate(statuses)
    ]
    with store.campaign_writer() as writer:
        writer.insert_recipients(
            [
                NewRecipient(
                    cid,
                    f"r{i}",
                    S.Recipient(id=f"r{i}", email=f"r{i}@example.com").SerializeToString(),
                )
                for i in range(len(statuses))
            ],
            first=True,
        )
        writer.insert_deliveries(rows)
        now = now_us()
        writer.insert_campaign(
            {
                "id": cid,
                "name": "ledger",
                "spec": S.CampaignSpec(name="ledger").SerializeToString(),
                "state": S.CAMPAIGN_STATE_DISPATCHING,
                "idempotency_key": None,
                "request_hash": None,
                "audience_size": len(statuses),
                "trace_context": "{}",
                "send_at_us": None,
                "created_us": now,
                "updated_us": now,
            }
        )
    return cid, [r.id for r in rows]


def counted(store: Store, cid: str) -> dict[tuple[int, int], int]:
    """What the counters table must say: a count over the deliveries."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.channel, deliveries.c.status, func.count())
            .where(deliveries.c.campaign_id == cid)
            .group_by(deliveries.c.channel, deliveries.c.status)
        )
        return {(r[0], r[1]): r[2] for r in rows}


def read_counters(store: Store, cid: str) -> dict[tuple[int, int], int]:
    names = {
        S.DELIVERY_STATUS_PENDING: "pending",
        S.DELIVERY_STATUS_SCHEDULED: "scheduled",
        S.DELIVERY_STATUS_QUEUED: "queued",
        S.DELIVERY_STATUS_SENT: "sent",
        S.DELIVERY_STATUS_DELIVERED: "delivered",
        S.DELIVERY_STATUS_FAILED: "failed",
        S.DELIVERY_STATUS_BOUNCED: "bounced",
        S.DELIVERY_STATUS_SUPPRESSED: "suppressed",
        S.DELIVERY_STATUS_CANCELLED: "cancelled",
        S.DELIVERY_STATUS_SKIPPED: "skipped",
    }
    found: dict[tuple[int, int], int] = {}
    for c in store.counters(cid):
        for status, name in names.items():
            if getattr(c, name):
                found[(c.channel, status)] = getattr(c, name)
        assert c.total == sum(getattr(c, name) for name in names.values())
    return found


def receipt(cid: str, delivery_id: str, status: int, **fields: Any) -> bus_pb2.DeliveryReceipt:
    r = bus_pb2.DeliveryReceipt(
        delivery_id=delivery_id,
        campaign_id=cid,
        channel=S.CHANNEL_EMAIL,
        status=status,  # type: ignore[arg-type]
        **fields,
    )
    r.occurred_at.GetCurrentTime()
    return r


def test_every_move_is_a_ledger_event_and_the_counters_equal_a_count(store: Store) -> None:
    pending = S.DELIVERY_STATUS_PENDING
    cid, ids = add_campaign(
        store, [pending] * 8 + [S.DELIVERY_STATUS_SKIPPED, S.DELIVERY_STATUS_SUPPRESSED]
    )
    other, _ = add_campaign(store, [pending])
    assert (
        read_counters(store, cid)
        == counted(store, cid)
        == {
            (S.CHANNEL_EMAIL, pending): 8,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SKIPPED): 1,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SUPPRESSED): 1,
        }
    )
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(
            cid,
            ids[:5],
            [("batch-a", S.CHANNEL_EMAIL, ids[:3]), ("batch-b", S.CHANNEL_EMAIL, ids[3:5])],
        )
        claim.defer(cid, [(ids[5], now_us() + 3_600_000_000)])
        claim.mark_final(cid, [FinalUpdate(ids[6], S.DELIVERY_STATUS_FAILED, "render_error", "x")])
        # Already queued: a second mark moves nothing and records nothing.
        claim.mark_queued(cid, ids[:1])
    assert read_counters(store, cid) == counted(store, cid)

    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT, attempts=1, provider="smtp"),
            receipt(cid, ids[1], S.DELIVERY_STATUS_BOUNCED, error_code="550"),
        ]
    )
    store.apply_receipts(
        [
            receipt(cid, ids[0], S.DELIVERY_STATUS_DELIVERED),
            receipt(cid, ids[0], S.DELIVERY_STATUS_SENT),  # late: on record, not applied
            receipt(cid, "no-such-delivery", S.DELIVERY_STATUS_SENT),  # not recorded
        ]
    )
    assert read_counters(store, cid) == counted(store, cid)
    cancelled = store.cancel_campaign(cid)
    assert cancelled is not None
    assert cancelled[1] == 2  # the deferred one and ids[7]
    assert read_counters(store, cid) == counted(store, cid)
    assert counted(store, cid)[(S.CHANNEL_EMAIL, S.DELIVERY_STATUS_CANCELLED)] == 2

    events = store.read_ledger(0, 1000, campaign_id=cid)
    kinds = [(e.type, e.delivery_id, e.applied, e.source) for e in events]
    assert kinds == [
        (L.LEDGER_EVENT_TYPE_SKIPPED, ids[8], True, "intake"),
        (L.LEDGER_EVENT_TYPE_SUPPRESSED, ids[9], True, "intake"),
        (L.LEDGER_EVENT_TYPE_QUEUED, "", True, "dispatcher"),
        (L.LEDGER_EVENT_TYPE_QUEUED, "", True, "dispatcher"),
        (L.LEDGER_EVENT_TYPE_DEFERRED, ids[5], True, "dispatcher"),
        (L.LEDGER_EVENT_TYPE_FAILED, ids[6], True, "dispatcher"),
        (L.LEDGER_EVENT_TYPE_SENT, ids[0], True, "receipt"),
        (L.LEDGER_EVENT_TYPE_BOUNCED, ids[1], True, "receipt"),
        (L.LEDGER_EVENT_TYPE_DELIVERED, ids[0], True, "receipt"),
        (L.LEDGER_EVENT_TYPE_SENT, ids[0], False, "receipt"),
        (L.LEDGER_EVENT_TYPE_CANCELLED, "", True, "cancel"),
        (L.LEDGER_EVENT_TYPE_CANCELLED, "", True, "cancel"),
    ]
    # Cancelled per channel and status left in the outbox, the ids listed.
    assert [list(e.delivery_ids) for e in events[-2:]] == [[ids[7]], [ids[5]]]
    queued = [e for e in events if e.type == L.LEDGER_EVENT_TYPE_QUEUED]
    assert [(e.batch_id, list(e.delivery_ids)) for e in queued] == [
        ("batch-a", ids[:3]),
        ("batch-b", ids[3:5]),
    ]
    assert events[6].provider == "smtp"
    assert events[6].attempt == 1
    assert events[7].error_code == "550"
    positions = [e.position for e in events]
    assert positions == sorted(set(positions))
    assert all(e.campaign_id == cid for e in events)

    # Read in pages from any position: the same events, none twice.
    everything = store.read_ledger(0, 1000)
    assert {e.campaign_id for e in everything} == {cid}  # the other campaign has no events
    for start in range(len(everything)):
        after = everything[start].position
        paged: list[int] = []
        while page := store.read_ledger(after, 3):
            paged += [e.position for e in page]
            after = page[-1].position
        assert paged == [e.position for e in everything[start + 1 :]]
    assert store.read_ledger(0, 10, campaign_id=other) == []

    history = store.get_delivery(cid, ids[0])
    assert history is not None
    assert [(h.source, h.status, h.applied) for h in history.history] == [
        ("intake", S.DELIVERY_STATUS_PENDING, True),
        ("receipt", S.DELIVERY_STATUS_SENT, True),
        ("receipt", S.DELIVERY_STATUS_DELIVERED, True),
        ("receipt", S.DELIVERY_STATUS_SENT, False),
    ]


def test_a_merged_duplicate_leaves_no_count_and_no_event(store: Store) -> None:
    cid = str(uuid.uuid4())
    rows = [_row(cid, i, S.DELIVERY_STATUS_PENDING) for i in range(3)]
    rows.append(_row(cid, 3, S.DELIVERY_STATUS_SUPPRESSED))
    rows[1] = rows[1]._replace(address=rows[0].address)
    rows[3] = rows[3]._replace(address=rows[0].address)
    with store.campaign_writer() as writer:
        writer.insert_deliveries(rows)
        assert sorted(writer.merge_duplicate_addresses(cid)) == [
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_PENDING),
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SUPPRESSED),
        ]
    with store.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT channel, status, count FROM delivery_counters WHERE campaign_id = :c"),
            {"c": cid},
        ).all()
    assert (
        {(r[0], r[1]): r[2] for r in stored if r[2]}
        == counted(store, cid)
        == {(S.CHANNEL_EMAIL, S.DELIVERY_STATUS_PENDING): 2}
    )
    assert store.read_ledger(0, 100, campaign_id=cid) == []


def _waiting_for_advisory_lock(store: Store) -> bool:
    with store.engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
        )


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("with_counts", [False, True], ids=["events only", "with counters"])
def test_positions_follow_commit_order_on_postgresql(database_url: str, with_counts: bool) -> None:
    """A transaction that appends while another's append is not yet committed
    waits for it, so no reader ever sees a higher position before a lower one;
    also when its append moves counters, where the lock and the counters are
    one statement. (SQLite's single writer lock gives this order by construction.)"""
    store = Store.open(database_url)
    try:

        def event(name: str) -> _ledger.Pending:
            pending = _ledger.Pending()
            if with_counts:
                pending.moved(
                    "c", S.CHANNEL_EMAIL, S.DELIVERY_STATUS_PENDING, S.DELIVERY_STATUS_SENT
                )
            pending.events.append(
                _ledger.event_row(
                    "c",
                    S.CHANNEL_EMAIL,
                    L.LEDGER_EVENT_TYPE_OPENED,
                    now_us(),
                    _ledger.Source.RECEIPT,
                    delivery_id=name,
                )
            )
            return pending

        first = store.engine.connect()
        first.begin()
        _ledger.append(first, event("first"))
        done = threading.Event()

        def second() -> None:
            with store.engine.begin() as conn:
                _ledger.append(conn, event("second"))
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_advisory_lock(store):
            assert time.monotonic() < deadline, "the second append never waited"
            time.sleep(0.01)
        assert not done.is_set()
        assert store.read_ledger(0, 10) == []  # nothing visible, nothing skipped past
        first.commit()
        first.close()
        thread.join(10)
        assert done.is_set()
        events = store.read_ledger(0, 10)
        assert [e.delivery_id for e in events] == ["first", "second"]
        assert events[0].position < events[1].position
        if with_counts:
            with store.engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT channel, status, count FROM delivery_counters")
                ).all()
            assert sorted(tuple(r) for r in stored) == [
                (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_PENDING, -2),
                (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT, 2),
            ]
    finally:
        store.close()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_receipt_flushes_of_one_campaign_do_not_queue_on_its_row_on_postgresql(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush holds no lock on its campaign's row while it moves deliveries:
    with a first flush of a campaign held open after its updates, a second
    flush of other deliveries of that campaign updates them, settles the
    campaign and commits. The ledger shows the commit order (second, first)."""
    store = Store.open(database_url)
    try:
        cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 4)
        with store.claim_due(limit=100) as claim:
            claim.mark_queued(cid, ids, [("batch", S.CHANNEL_EMAIL, ids)])
        updated, release = threading.Event(), threading.Event()
        record = store_module._record_receipts

        def held_open(*args: Any, **kwargs: Any) -> None:
            # Called after the flush's row updates, before its commit.
            if threading.current_thread().name == "first-flush":
                updated.set()
                release.wait(30)
            record(*args, **kwargs)

        monkeypatch.setattr(store_module, "_record_receipts", held_open)
        sent = S.DELIVERY_STATUS_SENT
        first = threading.Thread(
            target=store.apply_receipts,
            args=([receipt(cid, i, sent) for i in ids[:2]],),
            name="first-flush",
        )
        second = threading.Thread(
            target=store.apply_receipts, args=([receipt(cid, i, sent) for i in ids[2:]],)
        )
        first.start()
        try:
            assert updated.wait(10)
            second.start()
            second.join(5)
            second_committed_first = not second.is_alive()
        finally:
            release.set()
            first.join(30)
            if second.ident is not None:
                second.join(30)
        assert second_committed_first, "the second flush waited for the first"
        assert read_counters(store, cid) == counted(store, cid) == {(S.CHANNEL_EMAIL, sent): 4}
        receipts = [e for e in store.read_ledger(0, 100, cid) if e.source == "receipt"]
        assert [e.delivery_id for e in receipts] == ids[2:] + ids[:2]
        # Whichever flush ended the last queued delivery, the campaign settled.
        assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_COMPLETED, True)
    finally:
        store.close()


def _waiting_for_a_row(store: Store) -> bool:
    with store.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE locktype IN ('transactionid', 'tuple') AND NOT granted"
                )
            ).scalar()
        )


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_flushes_ending_a_campaign_together_settle_it_on_postgresql(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of two concurrent flushes sees the other's deliveries still queued
    until it commits; the second checks whether the campaign settled only
    once the first committed (the campaign's row, locked for that check and
    the commit), so the campaign does not stay DISPATCHING."""
    store = Store.open(database_url)
    try:
        cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 2)
        with store.claim_due(limit=100) as claim:
            claim.mark_queued(cid, ids, [("batch", S.CHANNEL_EMAIL, ids)])
        checked, release = threading.Event(), threading.Event()
        append = _ledger.append

        def held_open(conn: Any, pending: _ledger.Pending) -> None:
            # After the first flush's settle check, before its commit.
            if threading.current_thread().name == "first-flush":
                checked.set()
                release.wait(30)
            append(conn, pending)

        monkeypatch.setattr(_ledger, "append", held_open)
        sent = S.DELIVERY_STATUS_SENT
        first = threading.Thread(
            target=store.apply_receipts, args=([receipt(cid, ids[0], sent)],), name="first-flush"
        )
        second = threading.Thread(target=store.apply_receipts, args=([receipt(cid, ids[1], sent)],))
        first.start()
        try:
            assert checked.wait(10)
            assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_DISPATCHING, False)
            second.start()
            deadline = time.monotonic() + 10
            # It either waits for the first (as it should) or runs through.
            while second.is_alive() and not _waiting_for_a_row(store):
                assert time.monotonic() < deadline, "the second flush hung"
                time.sleep(0.01)
        finally:
            release.set()
            first.join(30)
            if second.ident is not None:
                second.join(30)
        assert read_counters(store, cid) == {(S.CHANNEL_EMAIL, sent): 2}
        assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_COMPLETED, True)
    finally:
        store.close()


# -- migration from the previous schema (0005) ---------------------------------


def alembic_to(engine: Engine, action: str, revision: str) -> None:
    """``alembic upgrade|downgrade revision`` on ``engine``'s database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)


def _insert(conn: Any, table: str, **values: Any) -> None:
    names = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({params})"), values)


def _insert_old_counters(conn: Any, cid: str, statuses: Iterable[int]) -> None:
    """The email counters of deliveries in ``statuses``, as earlier schemas kept them."""
    for status, count in collections.Counter(statuses).items():
        _insert(
            conn,
            "delivery_counters",
            campaign_id=cid,
            channel=S.CHANNEL_EMAIL,
            status=status,
            count=count,
        )


def _insert_old_campaign(conn: Any, cid: str, t0: int, audience: int, event_seq: int) -> None:
    """A campaign row as an earlier schema wrote it (columns every revision has)."""
    _insert(
        conn,
        "campaigns",
        id=cid,
        name="old",
        spec=b"",
        state=S.CAMPAIGN_STATE_DISPATCHING,
        audience_size=audience,
        trace_context="{}",
        created_us=t0,
        updated_us=t0,
        event_seq=event_seq,
    )


def _insert_old_delivery(
    conn: Any, cid: str, i: int, delivery_id: str, status: int, t0: int, **values: Any
) -> None:
    """A delivery row as an earlier schema wrote it; ``values`` override the defaults."""
    row: dict[str, Any] = {
        "id": delivery_id,
        "campaign_id": cid,
        "channel": S.CHANNEL_EMAIL,
        "recipient_id": f"r{i}",
        "address": f"r{i}@example.com",
        "status": status,
        "status_rank": STATUS_RANK[status],
        "attempts": 0,
        "provider": "",
        "provider_message_id": "",
        "error_code": "",
        "error_message": "",
        "public_url": "",
        "idempotency_key": delivery_id,
        "not_before_us": t0,
        "created_us": t0,
        "updated_us": t0,
        "seq": 2,
    }
    _insert(conn, "deliveries", **(row | values))


def test_a_database_of_the_previous_schema_migrates_with_its_history(database_url: str) -> None:
    engine = open_engine(database_url)
    alembic_to(engine, "upgrade", "0005")  # the previous head
    cid = str(uuid.uuid4())
    t0 = now_us() - 60_000_000
    statuses = {
        "d-delivered": S.DELIVERY_STATUS_DELIVERED,  # two receipts, then a late one
        "d-queued": S.DELIVERY_STATUS_QUEUED,  # in flight: no receipt yet
        "d-pending": S.DELIVERY_STATUS_PENDING,
        "d-skipped": S.DELIVERY_STATUS_SKIPPED,
    }
    with engine.begin() as conn:
        _insert_old_campaign(conn, cid, t0, 4, event_seq=3)
        for i, (delivery_id, status) in enumerate(statuses.items()):
            _insert_old_delivery(
                conn,
                cid,
                i,
                delivery_id,
                status,
                t0,
                channel=S.CHANNEL_SMS if i % 2 else S.CHANNEL_EMAIL,
                attempts=1,
                updated_us=t0 + 5_000_000 + i,
            )
        for n, (status, message_id) in enumerate(
            [
                (S.DELIVERY_STATUS_SENT, "m1"),
                (S.DELIVERY_STATUS_DELIVERED, ""),
                (S.DELIVERY_STATUS_SENT, "m1"),
            ]
        ):
            _insert(
                conn,
                "delivery_events",
                delivery_id="d-delivered",
                campaign_id=cid,
                at_us=t0 + 1_000_000 * (n + 1),
                status=status,
                attempts=1,
                provider="smtp",
                provider_message_id=message_id,
                error_code="",
                error_message="",
            )
    with engine.connect() as conn:
        before = {
            (r.channel, r.status): r.n
            for r in conn.execute(
                text("SELECT channel, status, count(*) AS n FROM deliveries GROUP BY 1, 2")
            )
        }
    migrate(engine)
    engine.dispose()

    store = Store.open(database_url)
    try:
        assert read_counters(store, cid) == before == counted(store, cid)
        events = store.read_ledger(0, 100)
        assert [(e.delivery_id, e.type, e.applied, e.source) for e in events] == [
            ("d-delivered", L.LEDGER_EVENT_TYPE_SENT, True, "receipt"),
            ("d-delivered", L.LEDGER_EVENT_TYPE_DELIVERED, True, "receipt"),
            ("d-delivered", L.LEDGER_EVENT_TYPE_SENT, False, "receipt"),
            ("d-queued", L.LEDGER_EVENT_TYPE_QUEUED, True, "migration"),
            ("d-skipped", L.LEDGER_EVENT_TYPE_SKIPPED, True, "migration"),
        ]
        assert events[0].provider_message_id == "m1"
        assert events[0].channel == S.CHANNEL_EMAIL
        assert events[3].channel == S.CHANNEL_SMS
        history = store.get_delivery(cid, "d-delivered")
        assert history is not None
        assert [(h.status, h.applied) for h in history.history] == [
            (S.DELIVERY_STATUS_PENDING, True),
            (S.DELIVERY_STATUS_SENT, True),
            (S.DELIVERY_STATUS_DELIVERED, True),
            (S.DELIVERY_STATUS_SENT, False),
        ]

        # The migrated database goes on: new events come after the old ones.
        store.apply_receipts([receipt(cid, "d-queued", S.DELIVERY_STATUS_SENT)])
        newer = store.read_ledger(events[-1].position, 10)
        assert [(e.delivery_id, e.type, e.applied) for e in newer] == [
            ("d-queued", L.LEDGER_EVENT_TYPE_SENT, True)
        ]
        assert read_counters(store, cid) == counted(store, cid)
    finally:
        store.close()


def test_deliveries_stamped_by_event_seq_migrate_to_the_id_order_indexes(
    database_url: str,
) -> None:
    """Revision 0008 on a database filled at 0007: rows stamped with campaign
    event seqs (the previous scheme) count as moved, the export pages them in
    id order, and a downgrade restores the (seq, id) index with the campaign's
    event_seq above every stamp the new version wrote."""
    engine = open_engine(database_url)
    alembic_to(engine, "upgrade", "0007")
    cid = str(uuid.uuid4())
    t0 = now_us()
    seqs = {"d-a": 7, "d-b": 1, "d-c": 3, "d-d": 1}
    with engine.begin() as conn:
        _insert_old_campaign(conn, cid, t0, 4, event_seq=1)
        for i, (delivery_id, seq) in enumerate(seqs.items()):
            status = S.DELIVERY_STATUS_QUEUED if seq > 1 else S.DELIVERY_STATUS_PENDING
            _insert_old_delivery(conn, cid, i, delivery_id, status, t0, seq=seq)
    migrate(engine)
    store = Store.open(database_url)
    try:
        untouched = store.changes_since(cid, (0, ""))
        assert [c.delivery.id for c in untouched] == ["d-b", "d-d"]
        pages = list(store.iter_delivery_rows(cid, page_size=3))
        assert [[r.id for r in page] for page in pages] == [["d-a", "d-b", "d-c"], ["d-d"]]
        store.apply_receipts([receipt(cid, "d-b", S.DELIVERY_STATUS_SENT)])
        assert [c.delivery.id for c in store.changes_since(cid, (0, ""))][:1] == ["d-d"]
    finally:
        store.close()
    alembic_to(engine, "downgrade", "0007")
    with engine.connect() as conn:
        indexes = {i["name"] for i in inspect(conn).get_indexes("deliveries")}
        event_seq = conn.execute(
            text("SELECT event_seq FROM campaigns WHERE id = :c"), {"c": cid}
        ).scalar()
    engine.dispose()
    assert "ix_deliveries_campaign_seq" in indexes
    assert not indexes & {"ix_deliveries_campaign_id", "ix_deliveries_intake"}
    assert event_seq == 2


def test_the_outbox_becomes_a_column_of_its_own_in_revision_0009(database_url: str) -> None:
    """Revision 0009 on a database filled at 0008: the outbox (pending and
    scheduled deliveries) is derived for existing rows, so a claim finds
    exactly those, a cancel ends the rest of them and the campaign settles by
    its counters; a downgrade restores the status index and the old outbox
    predicate (and PostgreSQL's default fillfactor)."""
    engine = open_engine(database_url)
    alembic_to(engine, "upgrade", "0008")
    cid = str(uuid.uuid4())
    t0 = now_us()
    statuses = {
        "d-pending": S.DELIVERY_STATUS_PENDING,
        "d-scheduled": S.DELIVERY_STATUS_SCHEDULED,
        "d-later": S.DELIVERY_STATUS_SCHEDULED,
        "d-queued": S.DELIVERY_STATUS_QUEUED,
        "d-sent": S.DELIVERY_STATUS_SENT,
        "d-failed": S.DELIVERY_STATUS_FAILED,
    }
    with engine.begin() as conn:
        _insert_old_campaign(conn, cid, t0, len(statuses), event_seq=1)
        for i, (delivery_id, status) in enumerate(statuses.items()):
            # One scheduled delivery waits an hour: not due yet.
            later = 3_600_000_000 if delivery_id == "d-later" else 0
            _insert_old_delivery(conn, cid, i, delivery_id, status, t0, not_before_us=t0 + later)
        _insert_old_counters(conn, cid, statuses.values())
    migrate(engine)
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            outbox = dict(conn.execute(select(deliveries.c.id, deliveries.c.in_outbox)).all())
        assert outbox == {
            "d-pending": 1,
            "d-scheduled": 1,
            "d-later": 1,
            "d-queued": 0,
            "d-sent": 0,
            "d-failed": 0,
        }
        with store.claim_due(limit=10, campaign_id=cid) as claim:
            assert sorted(d.id for d in claim.deliveries) == ["d-pending", "d-scheduled"]
            claim.mark_queued(cid, ["d-pending"])
        assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_DISPATCHING, False)
        _, cancelled = store.cancel_campaign(cid) or (None, -1)
        assert cancelled == 2  # d-scheduled and d-later
        with store.claim_due(limit=10) as claim:
            assert claim.deliveries == []
        store.apply_receipts(
            [
                receipt(cid, "d-pending", S.DELIVERY_STATUS_DELIVERED),
                receipt(cid, "d-queued", S.DELIVERY_STATUS_SENT),
            ]
        )
        assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_CANCELLED, True)
    finally:
        store.close()
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        options = (
            conn.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = 'deliveries'")
            ).scalar()
            if postgres
            else None
        )
    # 85 since this revision; 40 since 0011, which the store's head includes.
    assert options == ([f"fillfactor={DELIVERIES_FILLFACTOR}"] if postgres else None)
    alembic_to(engine, "downgrade", "0008")
    with engine.connect() as conn:
        found = inspect(conn)
        indexes = {i["name"]: i for i in found.get_indexes("deliveries")}
        columns = {c["name"] for c in found.get_columns("deliveries")}
        # The 0008 outbox predicate again: what a claim of that version asks.
        due = conn.execute(
            text("SELECT id FROM deliveries WHERE status_rank <= 2 ORDER BY id")
        ).scalars()
        assert list(due) == []
        options = (
            conn.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = 'deliveries'")
            ).scalar()
            if postgres
            else None
        )
        predicate = (
            conn.execute(
                text(
                    "SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
                    " WHERE indexrelid = 'ix_deliveries_due'::regclass"
                )
            ).scalar()
            if postgres
            else conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_deliveries_due'")
            ).scalar()
        )
    engine.dispose()
    assert "ix_deliveries_campaign_status" in indexes
    assert "ix_deliveries_campaign_outbox" not in indexes
    assert "in_outbox" not in columns
    assert options is None
    assert "status_rank <= 2" in str(predicate)


# -- the read API over gRPC ----------------------------------------------------


def test_list_delivery_events_pages_the_ledger_over_grpc(database_url: str) -> None:
    settings = OrchestratorSettings(database_url=database_url, grpc_address="127.0.0.1:0")
    app = bootstrap(settings, store=Store.open(database_url), dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        api = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        cid, ids = add_campaign(app.store, [S.DELIVERY_STATUS_PENDING] * 3)
        with app.store.claim_due(limit=10) as claim:
            claim.mark_queued(cid, ids, [("b1", S.CHANNEL_EMAIL, ids)])
        app.store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids])

        request = campaign_service_pb2.ListDeliveryEventsRequest
        seen: list[campaign_pb2.LedgerEvent] = []
        after = 0
        while True:
            page = api.ListDeliveryEvents(request(after_position=after, limit=2, campaign_id=cid))
            if not page.events:
                assert page.next_position == after
                break
            seen += page.events
            after = page.next_position
        assert [e.type for e in seen] == [L.LEDGER_EVENT_TYPE_QUEUED] + [
            L.LEDGER_EVENT_TYPE_SENT
        ] * 3
        assert list(seen[0].delivery_ids) == ids
        assert seen[0].batch_id == "b1"
        assert sorted(e.delivery_id for e in seen[1:]) == sorted(ids)

        for bad in (request(after_position=2**63), request(campaign_id="nope")):
            with pytest.raises(grpc.RpcError) as caught:
                api.ListDeliveryEvents(bad)
            assert caught.value.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
            )
    finally:
        channel.close()
        server.stop(0).wait()
        app.store.close()


# -- the watch reads the ledger ------------------------------------------------


def _follow(store: Store, cid: str, cursor: tuple[int, str], limit: int) -> list[Any]:
    """Every change after ``cursor``, read ``limit`` at a time as the watch does."""
    seen = []
    while True:
        snapshot = store.watch_snapshot(cid, cursor, limit)
        assert snapshot is not None
        seen += snapshot.changes
        assert snapshot.cursor >= cursor
        cursor = snapshot.cursor
        if snapshot.complete:
            return seen


def test_a_watch_resumed_from_any_cursor_misses_nothing_and_repeats_nothing(
    store: Store,
) -> None:
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 8)
    # From the start, every delivery as accepted, in id order.
    accepted = _follow(store, cid, (0, ""), 3)
    assert [c.delivery.id for c in accepted] == sorted(ids)
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids[:5], [("batch", S.CHANNEL_EMAIL, ids[:5])])
        claim.defer(cid, [(ids[5], now_us() + 3_600_000_000)])
        claim.mark_final(cid, [FinalUpdate(ids[6], S.DELIVERY_STATUS_FAILED, "render_error")])
    store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids[:2]])
    store.apply_receipts([receipt(cid, ids[0], S.DELIVERY_STATUS_DELIVERED)])

    changes = _follow(store, cid, (0, ""), 2)
    cursors = [c.cursor for c in changes]
    assert cursors == sorted(set(cursors))
    # Each delivery once, at its latest change, in the state the store holds
    # (the one left untouched since intake first).
    in_store = {d.id: d.status for d in store.list_deliveries(cid, page_size=100)[0]}
    assert {c.delivery.id: c.delivery.status for c in changes} == in_store
    assert len(changes) == len(ids)
    assert changes[0].delivery.id == ids[7]
    assert changes[0].delivery.status == S.DELIVERY_STATUS_PENDING
    # A page may end inside a batch event; resuming after any change yields
    # exactly the changes after it, whatever the page size.
    for index, change in enumerate(changes):
        for limit in (1, 2, 500):
            rest = _follow(store, cid, change.cursor, limit)
            assert [c.cursor for c in rest] == cursors[index + 1 :]
    # A cursor of the previous scheme (a campaign event seq) restarts at the
    # beginning of the ledger: it may repeat, it never misses.
    old = _follow(store, cid, (3, ids[0]), 500)
    assert {c.delivery.id for c in old} == set(ids) - {ids[7]}

    # A cancel lists what it cancelled: the watch shows each one.
    store.cancel_campaign(cid)
    after_cancel = _follow(store, cid, cursors[-1], 500)
    assert {c.delivery.id: c.delivery.status for c in after_cancel} == {
        ids[5]: S.DELIVERY_STATUS_CANCELLED,
        ids[7]: S.DELIVERY_STATUS_CANCELLED,
    }


def test_a_delivery_handed_back_unsent_moves_the_counters_back(store: Store) -> None:
    """The one way back (an adapter hands a paused campaign's delivery back):
    pending again, counted so, and a deferred event in the ledger."""
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 3)
    with store.claim_due(limit=100) as claim:
        claim.mark_queued(cid, ids, [("b", S.CHANNEL_EMAIL, ids)])
    store.apply_receipts([receipt(cid, ids[0], S.DELIVERY_STATUS_SENT)])
    # Handed back: one queued (goes back), one already sent (stays).
    store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_DEFERRED) for i in (ids[0], ids[1])])
    assert (
        read_counters(store, cid)
        == counted(store, cid)
        == {
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 1,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_PENDING): 1,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_QUEUED): 1,
        }
    )
    last = store.read_ledger(0, 100, campaign_id=cid)[-1]
    assert (last.type, last.delivery_id, last.applied) == (
        L.LEDGER_EVENT_TYPE_DEFERRED,
        ids[1],
        True,
    )
    # The watch shows it pending again, at that event.
    changes = _follow(store, cid, (0, ""), 500)
    assert {c.delivery.id: c.delivery.status for c in changes} == {
        ids[0]: S.DELIVERY_STATUS_SENT,
        ids[1]: S.DELIVERY_STATUS_PENDING,
        ids[2]: S.DELIVERY_STATUS_QUEUED,
    }


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_cancel_passes_over_deliveries_a_claim_holds_on_postgresql(database_url: str) -> None:
    """A cancel does not wait for the rows a dispatcher round has claimed (they
    are on their way to the bus): it cancels the rest and commits, and the
    claim then marks its rows queued. Waiting for them, while the claim's marks
    wait for the campaign row the cancel holds, was a deadlock PostgreSQL broke
    by aborting one of the two."""
    store = Store.open(database_url)
    try:
        cid, _ = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 6)
        claimed, release = threading.Event(), threading.Event()
        held: list[str] = []
        errors: list[BaseException] = []

        def dispatcher_round() -> None:
            try:
                with store.claim_due(limit=2, campaign_id=cid) as claim:
                    held.extend(d.id for d in claim.deliveries)
                    claimed.set()
                    release.wait(30)
                    claim.mark_queued(cid, held, [("batch", S.CHANNEL_EMAIL, held)])
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        round_ = threading.Thread(target=dispatcher_round)
        round_.start()
        result: list[Any] = []
        cancel = threading.Thread(target=lambda: result.append(store.cancel_campaign(cid)))
        try:
            assert claimed.wait(10)
            cancel.start()
            cancel.join(5)
            cancelled_while_held = not cancel.is_alive()
        finally:
            release.set()
            round_.join(30)
            if cancel.ident is not None:
                cancel.join(30)
        assert cancelled_while_held, "the cancel waited for the claimed rows"
        assert errors == []
        campaign, cancelled = result[0]
        assert (campaign.state, cancelled) == (S.CAMPAIGN_STATE_CANCELLED, 4)
        assert (
            counted(store, cid)
            == read_counters(store, cid)
            == {
                (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_CANCELLED): 4,
                (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_QUEUED): 2,
            }
        )
    finally:
        store.close()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_receipt_waiting_on_another_moves_the_counters_from_what_it_replaced_on_postgresql(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two flushes move one delivery at once: SENT, then DELIVERED while the
    first is not yet committed. The second waits for the row, and its update
    then replaces SENT, not the QUEUED it would have read before the first
    committed: the counters move from what the update replaced (migration
    0010's ``prev_status``, returned by the update itself)."""
    store = Store.open(database_url)
    try:
        cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING])
        with store.claim_due(limit=100) as claim:
            claim.mark_queued(cid, ids, [("batch", S.CHANNEL_EMAIL, ids)])
        moved, release = threading.Event(), threading.Event()
        append = _ledger.append

        def held_open(conn: Any, pending: _ledger.Pending) -> None:
            if threading.current_thread().name == "first-flush":
                moved.set()
                release.wait(30)
            append(conn, pending)

        monkeypatch.setattr(_ledger, "append", held_open)
        first = threading.Thread(
            target=store.apply_receipts,
            args=([receipt(cid, ids[0], S.DELIVERY_STATUS_SENT)],),
            name="first-flush",
        )
        second = threading.Thread(
            target=store.apply_receipts, args=([receipt(cid, ids[0], S.DELIVERY_STATUS_DELIVERED)],)
        )
        first.start()
        try:
            assert moved.wait(10)
            second.start()
            deadline = time.monotonic() + 10
            while not _waiting_for_a_row(store):
                assert second.is_alive(), "the second flush did not wait for the first"
                assert time.monotonic() < deadline, "the second flush never waited"
                time.sleep(0.01)
        finally:
            release.set()
            first.join(30)
            if second.ident is not None:
                second.join(30)
        assert read_counters(store, cid) == {(S.CHANNEL_EMAIL, S.DELIVERY_STATUS_DELIVERED): 1}
        assert read_counters(store, cid) == counted(store, cid)
        with store.engine.connect() as conn:
            row = conn.execute(
                select(deliveries.c.status, deliveries.c.prev_status).where(
                    deliveries.c.id == ids[0]
                )
            ).one()
        assert tuple(row) == (S.DELIVERY_STATUS_DELIVERED, S.DELIVERY_STATUS_SENT)
    finally:
        store.close()


def test_revision_0010_adds_the_previous_status_to_a_filled_database(database_url: str) -> None:
    """Revision 0010 on a database filled at 0009: existing deliveries know no
    earlier status (0) and move on as before, their counters from the status
    they had; the move records what it replaced; a downgrade drops the column."""
    engine = open_engine(database_url)
    alembic_to(engine, "upgrade", "0009")
    cid = str(uuid.uuid4())
    t0 = now_us()
    statuses = {"d-pending": S.DELIVERY_STATUS_PENDING, "d-queued": S.DELIVERY_STATUS_QUEUED}
    with engine.begin() as conn:
        _insert_old_campaign(conn, cid, t0, len(statuses), event_seq=1)
        for i, (delivery_id, status) in enumerate(statuses.items()):
            _insert_old_delivery(conn, cid, i, delivery_id, status, t0)
        _insert_old_counters(conn, cid, statuses.values())
    migrate(engine)
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            before = dict(conn.execute(select(deliveries.c.id, deliveries.c.prev_status)).all())
        assert before == {"d-pending": 0, "d-queued": 0}
        with store.claim_due(limit=10, campaign_id=cid) as claim:
            assert [d.id for d in claim.deliveries] == ["d-pending"]
            claim.mark_queued(cid, ["d-pending"])
        store.apply_receipts(
            [
                receipt(cid, "d-queued", S.DELIVERY_STATUS_SENT),
                # A repeat of nothing new: known, recorded, moves nothing.
                receipt(cid, "d-pending", S.DELIVERY_STATUS_QUEUED),
            ]
        )
        assert read_counters(store, cid) == {
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_QUEUED): 1,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 1,
        }
        assert read_counters(store, cid) == counted(store, cid)
        with store.engine.connect() as conn:
            after = dict(conn.execute(select(deliveries.c.id, deliveries.c.prev_status)).all())
        assert after == {
            "d-pending": S.DELIVERY_STATUS_PENDING,
            "d-queued": S.DELIVERY_STATUS_QUEUED,
        }
    finally:
        store.close()
    alembic_to(engine, "downgrade", "0009")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("deliveries")}
    engine.dispose()
    assert "prev_status" not in columns
    assert "in_outbox" in columns


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_receipts_for_a_campaign_the_statistics_have_not_seen_probe_the_primary_key(
    database_url: str,
) -> None:
    """A flush's receipts travel as arrays in one UPDATE, joined to the
    deliveries by id, even for a campaign loaded after the last ANALYZE.
    Matching the campaign as a constant made the planner start from the
    campaign index, expecting one row, and rescan the arrays for every
    delivery of the campaign."""
    store = Store.open(database_url)
    try:
        add_campaign(store, [S.DELIVERY_STATUS_QUEUED] * 3000)
        store.refresh_statistics()
        cid, ids = add_campaign(store, [S.DELIVERY_STATUS_QUEUED] * 3000)
        ordered = [receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in sorted(ids)[:500]]
        with store.engine.connect() as conn:
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    text(f"EXPLAIN {store_module._APPLY_RECEIPTS_AS_ARRAYS.text}"),
                    store_module._receipt_arrays(ordered, cid, now_us()),
                )
            )
        # Probes of the primary key, or (a table this small) one hash of it.
        assert "deliveries_pkey" in plan or "Hash Join" in plan, plan
        assert "ix_deliveries_campaign_id" not in plan, plan
        store.apply_receipts(ordered)
        assert read_counters(store, cid) == {
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_QUEUED): 2500,
            (S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 500,
        }
    finally:
        store.close()


#: The id columns revision 0012 compares byte by byte on PostgreSQL.
_ID_COLUMNS = {
    ("campaigns", "id"),
    ("recipients", "campaign_id"),
    ("recipients", "recipient_id"),
    ("deliveries", "id"),
    ("deliveries", "campaign_id"),
    ("deliveries", "recipient_id"),
    ("ledger", "campaign_id"),
    ("ledger", "delivery_id"),
    ("delivery_counters", "campaign_id"),
}


def _collations(conn: Any) -> dict[tuple[str, str], str | None]:
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )
    )
    return {(t, c): collation for t, c, collation in rows if (t, c) in _ID_COLUMNS}


def reloptions(conn: Any, relation: str = "deliveries") -> list[str] | None:
    return conn.execute(  # type: ignore[no-any-return]
        text("SELECT reloptions FROM pg_class WHERE relname = :name"), {"name": relation}
    ).scalar()


#: The indexes whose leaf pages revision 0013 fills to half.
_ID_INDEXES = ("deliveries_pkey", "ix_deliveries_campaign_id")


def test_revisions_0011_to_0013_keep_a_filled_database(database_url: str) -> None:
    """Revisions 0011 (room on each deliveries page), 0012 (ids compared byte
    by byte) and 0013 (room in the id indexes) on a database filled at 0010:
    on PostgreSQL the table and its id indexes get their fillfactors and the
    id columns collation "C"; the rows stay, list in the same order, dispatch
    and settle as before; a downgrade restores every setting. SQLite has
    none of them: the revisions leave it as it was."""
    engine = open_engine(database_url)
    postgres = engine.dialect.name == "postgresql"
    alembic_to(engine, "upgrade", "0010")
    cid = str(uuid.uuid4())
    t0 = now_us()
    pending = sorted(str(uuid.uuid4()) for _ in range(3))
    queued = str(uuid.uuid4())
    with engine.begin() as conn:
        _insert_old_campaign(conn, cid, t0, 4, event_seq=0)
        for i, delivery_id in enumerate(pending):
            _insert_old_delivery(conn, cid, i, delivery_id, S.DELIVERY_STATUS_PENDING, t0, seq=1)
        _insert_old_delivery(conn, cid, 3, queued, S.DELIVERY_STATUS_QUEUED, t0)
        _insert_old_counters(
            conn, cid, [S.DELIVERY_STATUS_PENDING] * 3 + [S.DELIVERY_STATUS_QUEUED]
        )
        before = _collations(conn) if postgres else {}
    assert set(before.values()) <= {None}  # the database's own collation
    migrate(engine)
    if postgres:
        with engine.connect() as conn:
            assert _collations(conn) == dict.fromkeys(_ID_COLUMNS, "C")
            assert reloptions(conn) == ["fillfactor=40"]
            for index in _ID_INDEXES:
                assert reloptions(conn, index) == ["fillfactor=50"], index
    store = Store.open(database_url)
    try:
        assert listed_ids(store, cid, page_size=2) == sorted([*pending, queued])
        with store.claim_due(limit=10, campaign_id=cid) as claim:
            assert sorted(d.id for d in claim.deliveries) == pending
            claim.mark_queued(cid, pending)
        store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in [*pending, queued]])
        assert read_counters(store, cid) == {(S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 4}
        assert read_counters(store, cid) == counted(store, cid)
        assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_COMPLETED, True)
    finally:
        store.close()
    alembic_to(engine, "downgrade", "0010")
    if postgres:
        with engine.connect() as conn:
            assert _collations(conn) == dict.fromkeys(_ID_COLUMNS)
            assert reloptions(conn) is None
            for index in _ID_INDEXES:
                assert reloptions(conn, index) is None, index
    engine.dispose()


def test_a_receipt_from_an_impossible_time_is_applied_at_its_arrival(store: Store) -> None:
    """Its time cannot be a microsecond count; raised, it would fail the flush,
    and the redelivered flush again, holding up every receipt behind it."""
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 2)
    with store.claim_due(limit=10) as claim:
        claim.mark_queued(cid, ids)
    broken = receipt(cid, ids[0], S.DELIVERY_STATUS_SENT, provider="smtp")
    broken.occurred_at.seconds = 10**12  # after the year 9999
    before = now_us()
    store.apply_receipts([broken, receipt(cid, ids[1], S.DELIVERY_STATUS_SENT)])
    assert read_counters(store, cid) == {(S.CHANNEL_EMAIL, S.DELIVERY_STATUS_SENT): 2}
    (event,) = [e for e in store.read_ledger(0, 100, campaign_id=cid) if e.delivery_id == ids[0]]
    assert event.type == L.LEDGER_EVENT_TYPE_SENT
    assert before <= event.at.ToMicroseconds() <= now_us()
