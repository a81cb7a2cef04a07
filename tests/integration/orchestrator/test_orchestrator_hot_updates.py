"""On PostgreSQL a receipt is a HOT update: it changes no indexed column of
``deliveries`` (migration 0009) and its page has room for the new version
(fillfactor, migration 0011), so the version stays on its page and no index
gets a new entry. The claim's QUEUED mark leaves the outbox indexes and so
cannot be one."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from brandcast.orchestrator.collector import APPLY_CHUNK
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.store.schema import DELIVERIES_FILLFACTOR, ID_INDEX_FILLFACTOR
from brandcast.v1 import campaign_pb2
from tests.integration.orchestrator.test_orchestrator_ledger import (
    add_campaign,
    receipt,
    reloptions,
)

S = campaign_pb2
#: Receipts per flush: what a collector applies per transaction at a steady
#: trickle (a HOT update needs room on its page, which pruning the versions
#: earlier transactions left behind makes).
FLUSH = 20

pytestmark = [
    pytest.mark.parametrize(
        "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
    ),
    # Another worker's open transactions hold back the pruning HOT updates need
    # (283 of 600 were HOT beside them, against the ~87 % measured alone).
    pytest.mark.postgres_alone,
]


def _updates(store: Store) -> tuple[int, int]:
    """``(n_tup_upd, n_tup_hot_upd)`` of ``deliveries`` so far."""
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                " WHERE relname = 'deliveries'"
            )
        ).one()
    return int(row[0]), int(row[1])


def _flushed(store: Store, before: tuple[int, int], updates: int) -> tuple[int, int]:
    """The counts once the ``updates`` since ``before`` reached the statistics
    (each backend flushes its own at the end of a transaction, at most once a
    second, so the store's pooled connections are asked to flush first)."""
    deadline = time.monotonic() + 10
    while True:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
            conn.commit()
        now = _updates(store)
        if now[0] - before[0] >= updates or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def test_receipts_are_hot_updates_on_postgresql(store: Store) -> None:
    """Under the previous schema (``status_rank`` indexed) not one receipt was
    a HOT update; now most are. Not all need be: one whose page has no room
    left is written as a new row on another page."""
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * 300)
    with store.claim_due(limit=1000, campaign_id=cid) as claim:
        assert len(claim.deliveries) == 300
        claim.mark_queued(cid, ids)
    before = _flushed(store, (0, 0), 300)
    for start in range(0, len(ids), FLUSH):
        store.apply_receipts(
            [receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids[start : start + FLUSH]]
        )
    for start in range(0, len(ids), FLUSH):
        store.apply_receipts(
            [
                receipt(
                    cid,
                    i,
                    S.DELIVERY_STATUS_DELIVERED if n % 3 else S.DELIVERY_STATUS_BOUNCED,
                    provider="null",
                    provider_message_id=f"m-{n}",
                )
                for n, i in enumerate(ids[start : start + FLUSH], start)
            ]
        )
    after = _flushed(store, before, 600)
    updates, hot = after[0] - before[0], after[1] - before[1]
    assert updates == 600
    # Measured: about 87 % (the SENT updates less often, their pages still
    # full of the claim's versions).
    assert hot >= 0.6 * updates, (hot, updates)
    assert store.campaign_state(cid) == (S.CAMPAIGN_STATE_COMPLETED, True)


def test_a_whole_flush_of_receipts_is_hot_on_postgresql(store: Store) -> None:
    """The collector's largest flush, right after the claim marked every
    delivery QUEUED: with pages filled to 85 % at insert (revision 0009), 686
    of these 2,000 receipts were HOT (the marks' versions had taken the room);
    with 60 % left free (0011), all of them."""
    with store.engine.connect() as conn:
        options = reloptions(conn)
    assert f"fillfactor={DELIVERIES_FILLFACTOR}" in (options or [])
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * APPLY_CHUNK)
    with store.claim_due(limit=APPLY_CHUNK, campaign_id=cid) as claim:
        claim.mark_queued(cid, ids)
    before = _flushed(store, (0, 0), APPLY_CHUNK)
    store.apply_receipts([receipt(cid, i, S.DELIVERY_STATUS_SENT) for i in ids])
    after = _flushed(store, before, APPLY_CHUNK)
    updates, hot = after[0] - before[0], after[1] - before[1]
    assert updates == APPLY_CHUNK
    # Measured: every one (the original versions, dead once the mark
    # committed, are pruned to make the room).
    assert hot >= 0.95 * updates, (hot, updates)


def _index_pages(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, pg_relation_size(oid) / current_setting('block_size')::int"
                " FROM pg_class WHERE relname IN ('deliveries_pkey', 'ix_deliveries_campaign_id')"
            )
        )
        return {name: int(pages) for name, pages in rows}


def test_the_queued_mark_splits_no_id_index_page(store: Store) -> None:
    """The mark cannot be HOT: each delivery gets a second entry, under its
    key, in the id indexes. Filled to half at intake (revision 0013), their
    leaf pages hold it (measured at 2,000 deliveries: 15 → 16 pages of the
    primary key, 35 → 36 of the campaign index); filled to the default 90 %,
    the mark split most of them (10 → 17 and 21 → 39), ending larger."""
    with store.engine.connect() as conn:
        for index in ("deliveries_pkey", "ix_deliveries_campaign_id"):
            assert reloptions(conn, index) == [f"fillfactor={ID_INDEX_FILLFACTOR}"], index
    cid, ids = add_campaign(store, [S.DELIVERY_STATUS_PENDING] * APPLY_CHUNK)
    before = _index_pages(store)
    with store.claim_due(limit=APPLY_CHUNK, campaign_id=cid) as claim:
        claim.mark_queued(cid, ids)
    after = _index_pages(store)
    for index, pages in before.items():
        # A page or two at the right edge, where the next campaign's ids go.
        assert after[index] <= pages + 2, (index, before, after)
