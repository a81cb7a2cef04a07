"""Ledger retention on SQLite and PostgreSQL: compaction removes the events of
campaigns that ended before the cutoff and nothing else, leaves every
delivery's final state and every counter as it was, and readers carry on
across it; on PostgreSQL the ledger's ranges are created ahead and ended
ones dropped whole; migration 0007 moves a filled ledger into partitions and
back."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text, update

from brandcast.orchestrator.housekeeping import Housekeeper
from brandcast.orchestrator.server import bootstrap
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import Store, _ledger, _retention, now_us
from brandcast.orchestrator.store._engine import migrate, open_engine
from brandcast.orchestrator.store._watch_changes import LEDGER_CURSOR_BASE
from brandcast.orchestrator.store.schema import campaigns
from brandcast.v1 import campaign_pb2
from tests.integration.orchestrator.test_orchestrator_ledger import (
    add_campaign,
    alembic_to,
    counted,
    read_counters,
    receipt,
)

S = campaign_pb2
DAY_US = 86_400_000_000
NOW_S = 1_900_000_000.0
NOW_US = int(NOW_S * 1_000_000)
postgres_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def keeper(store: Store, retention_days: int = 30, partition_size: int = 5) -> Housekeeper:
    return Housekeeper(
        store,
        idempotency_retention_hours=48,
        ledger_retention_days=retention_days,
        clock=lambda: NOW_S,
        partition_size=partition_size,
    )


def end(store: Store, cid: str, state: int, days_ago: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(campaigns)
            .where(campaigns.c.id == cid)
            .values(state=state, completed_us=NOW_US - int(days_ago * DAY_US))
        )


def results(store: Store, cid: str) -> tuple[Any, ...]:
    """Everything compaction must leave as it was: the deliveries' rows (final
    states included), the counters and the campaign's progress."""
    deliveries, _ = store.list_deliveries(cid, page_size=100)
    campaign = store.get_campaign(cid)
    assert campaign is not None
    return deliveries, read_counters(store, cid), counted(store, cid), campaign


def test_compaction_removes_only_events_of_campaigns_ended_before_the_cutoff(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = S.DELIVERY_STATUS_PENDING
    old_done, done_ids = add_campaign(store, [pending] * 4 + [S.DELIVERY_STATUS_SKIPPED])
    old_cancelled, cancelled_ids = add_campaign(store, [pending] * 3)
    recent_done, recent_ids = add_campaign(store, [pending] * 2)
    running, running_ids = add_campaign(store, [pending] * 3)
    # The campaigns' events interleave: compaction goes by campaign, not range.
    with store.claim_due(limit=100) as claim:
        for cid, ids in (
            (old_done, done_ids[:4]),
            (old_cancelled, cancelled_ids[:1]),
            (recent_done, recent_ids),
            (running, running_ids),
        ):
            claim.mark_queued(cid, ids, [(f"b-{cid[:4]}", S.CHANNEL_EMAIL, ids)])
    store.apply_receipts(
        [receipt(old_done, i, S.DELIVERY_STATUS_SENT) for i in done_ids[:4]]
        + [receipt(running, running_ids[0], S.DELIVERY_STATUS_SENT)]
        + [receipt(recent_done, i, S.DELIVERY_STATUS_DELIVERED) for i in recent_ids]
    )
    assert store.cancel_campaign(old_cancelled) is not None
    store.apply_receipts([receipt(old_cancelled, cancelled_ids[0], S.DELIVERY_STATUS_SENT)])
    # The ended campaign's events are the newest: a position is never reused
    # even once the newest events are deleted.
    store.apply_receipts(
        [receipt(old_done, done_ids[0], S.DELIVERY_STATUS_DELIVERED)]
        + [receipt(old_done, i, S.DELIVERY_STATUS_BOUNCED, error_code="550") for i in done_ids[1:3]]
    )
    end(store, old_done, S.CAMPAIGN_STATE_COMPLETED, days_ago=31)
    end(store, old_cancelled, S.CAMPAIGN_STATE_CANCELLED, days_ago=45)
    end(store, recent_done, S.CAMPAIGN_STATE_COMPLETED, days_ago=29)

    everything = store.read_ledger(0, 1000)
    kept = [e for e in everything if e.campaign_id in (recent_done, running)]
    gone = [e for e in everything if e.campaign_id in (old_done, old_cancelled)]
    assert (len(gone), len(kept)) == (12, 5)
    before = {cid: results(store, cid) for cid in (old_done, old_cancelled, recent_done, running)}
    watched_before = store.changes_since(running, (0, ""))

    # Retention 0 keeps everything.
    assert keeper(store, retention_days=0).tend_ledger().deleted == 0
    assert store.read_ledger(0, 1000) == everything

    monkeypatch.setattr(_retention, "DELETE_BATCH", 3)  # several batches per campaign
    upkeep = keeper(store).tend_ledger()
    assert upkeep.deleted == len(gone)
    assert store.read_ledger(0, 1000) == kept
    assert {cid: results(store, cid) for cid in before} == before
    assert store.changes_since(running, (0, "")) == watched_before
    # A cursor inside the deleted range resumes at the next remaining event.
    for event in gone:
        assert store.read_ledger(event.position, 1000) == [
            e for e in kept if e.position > event.position
        ]
        cursor = (LEDGER_CURSOR_BASE + event.position, "")
        assert store.changes_since(event.campaign_id, cursor) == []
    # A second round finds nothing more.
    assert keeper(store).tend_ledger().deleted == 0

    store.apply_receipts([receipt(running, running_ids[1], S.DELIVERY_STATUS_SENT)])
    (newest,) = store.read_ledger(kept[-1].position, 10)
    assert newest.position > everything[-1].position
    assert read_counters(store, running) == counted(store, running)


# -- PostgreSQL: partitions ------------------------------------------------------


def append(store: Store, cid: str, n: int, name: str = "e") -> None:
    """``n`` events of ``cid`` in one transaction."""
    pending = _ledger.Pending()
    for i in range(n):
        pending.events.append(
            _ledger.event_row(
                cid,
                S.CHANNEL_EMAIL,
                S.LEDGER_EVENT_TYPE_OPENED,
                now_us(),
                _ledger.Source.RECEIPT,
                delivery_id=f"{name}{i}",
                applied=False,
            )
        )
    with store.engine.begin() as conn:
        _ledger.append(conn, pending)


def placed(engine: Engine) -> list[tuple[int, str, str]]:
    """``(position, delivery id, partition)`` of every event, in position order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT position, delivery_id, tableoid::regclass::text FROM ledger ORDER BY 1")
        )
        return [(r[0], r[1], r[2]) for r in rows]


def ranges(store: Store) -> list[tuple[str, int | None, int | None]]:
    with store.engine.connect() as conn:
        return [(p.name, p.lower, p.upper) for p in _retention.partitions(conn)]


def restart_positions(store: Store, at: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"ALTER SEQUENCE ledger_position_seq RESTART WITH {at}"))


@postgres_only
def test_partitions_are_created_ahead_and_ended_ones_dropped(store: Store) -> None:
    base = 20_000_000  # above the migration's two ranges of 10M
    assert ranges(store) == [
        ("ledger_p0", 0, 10_000_000),
        ("ledger_p10000000", 10_000_000, 20_000_000),
        ("ledger_default", None, None),
    ]
    restart_positions(store, base)
    housekeeper = keeper(store, partition_size=5)
    upkeep = housekeeper.tend_ledger()
    assert upkeep.created == [f"ledger_p{base}", f"ledger_p{base + 5}"]
    # Every position below ``base`` counts as drawn: the empty ranges go.
    assert upkeep.dropped == ["ledger_p0", "ledger_p10000000"]

    ended, _ = add_campaign(store, [S.DELIVERY_STATUS_PENDING])
    running, _ = add_campaign(store, [S.DELIVERY_STATUS_PENDING])
    # One transaction across a range boundary, then another: positions in
    # commit order, each event in the range its position belongs to.
    append(store, ended, 7, "x")
    append(store, running, 2, "r")
    assert placed(store.engine) == [
        (base + i, f"x{i}", f"ledger_p{base}" if i < 5 else f"ledger_p{base + 5}") for i in range(7)
    ] + [(base + 7, "r0", f"ledger_p{base + 5}"), (base + 8, "r1", f"ledger_p{base + 5}")]
    assert [e.delivery_id for e in store.read_ledger(0, 100)] == [f"x{i}" for i in range(7)] + [
        "r0",
        "r1",
    ]

    end(store, ended, S.CAMPAIGN_STATE_COMPLETED, days_ago=31)
    upkeep = housekeeper.tend_ledger()
    # Ahead by twice what the last round drew (9 positions) when that is more
    # than two ranges.
    assert upkeep.created == [f"ledger_p{base + k}" for k in (10, 15, 20, 25)]
    # A wholly drawn range of ended campaigns only is dropped; the ended
    # campaign's events in the range it shares with a running one are deleted
    # by rows.
    assert upkeep.dropped == [f"ledger_p{base}"]
    assert upkeep.deleted == 2
    assert placed(store.engine) == [
        (base + 7, "r0", f"ledger_p{base + 5}"),
        (base + 8, "r1", f"ledger_p{base + 5}"),
    ]
    assert [e.position for e in store.read_ledger(base + 1, 10)] == [base + 7, base + 8]

    # A wholly drawn range of a running campaign, then of one ended within the
    # retention, stays; once that campaign is past the retention it goes.
    append(store, running, 1, "s")
    assert housekeeper.tend_ledger().dropped == []
    end(store, running, S.CAMPAIGN_STATE_COMPLETED, days_ago=29)
    assert housekeeper.tend_ledger().dropped == []
    assert len(placed(store.engine)) == 3

    # Appends that outrun the ranges land in DEFAULT instead of failing; the
    # next ranges start above them.
    later, _ = add_campaign(store, [S.DELIVERY_STATUS_PENDING])
    restart_positions(store, base + 1000)
    append(store, later, 2, "d")
    assert placed(store.engine)[-2:] == [
        (base + 1000, "d0", "ledger_default"),
        (base + 1001, "d1", "ledger_default"),
    ]
    created = housekeeper.tend_ledger().created
    assert created[0] == f"ledger_p{base + 1002}"
    append(store, later, 1, "n")
    assert placed(store.engine)[-1] == (base + 1002, "n0", f"ledger_p{base + 1002}")

    end(store, running, S.CAMPAIGN_STATE_COMPLETED, days_ago=31)
    end(store, later, S.CAMPAIGN_STATE_CANCELLED, days_ago=31)
    upkeep = housekeeper.tend_ledger()
    assert f"ledger_p{base + 5}" in upkeep.dropped
    assert "ledger_default" not in upkeep.dropped
    assert f"ledger_p{base + 1002}" not in upkeep.dropped  # not wholly drawn yet
    assert upkeep.deleted == 3  # DEFAULT's two rows and the newest range's one
    assert placed(store.engine) == []
    # Positions go on; nothing is reused.
    append(store, later, 1, "z")
    assert placed(store.engine) == [(base + 1003, "z0", f"ledger_p{base + 1002}")]


# -- migration 0007 ---------------------------------------------------------------


def _relkind(engine: Engine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(
            conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'ledger'")).scalar()
        )


def _all_events(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM ledger ORDER BY position"))]


def test_a_filled_ledger_moves_into_partitions_and_back(database_url: str) -> None:
    engine = open_engine(database_url)
    alembic_to(engine, "upgrade", "0006")  # the previous head
    cid = str(uuid.uuid4())
    # Filled as the previous version did: its append is this one (unchanged).
    with engine.begin() as conn:
        pending = _ledger.Pending()
        for i in range(25):
            pending.events.append(
                _ledger.event_row(
                    cid,
                    S.CHANNEL_SMS,
                    S.LEDGER_EVENT_TYPE_SENT,
                    now_us(),
                    _ledger.Source.RECEIPT,
                    delivery_id=f"d{i}",
                    provider="sms",
                )
            )
            pending.added(cid, S.CHANNEL_SMS, S.DELIVERY_STATUS_SENT)
        _ledger.append(conn, pending)
    before = _all_events(engine)
    assert [row[0] for row in before] == list(range(1, 26))

    migrate(engine)
    assert _relkind(engine) in (None, "p")
    assert _all_events(engine) == before
    store = Store.open(database_url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                assert [p.name for p in _retention.partitions(conn)] == [
                    "ledger_p0",
                    "ledger_p10000000",
                    "ledger_default",
                ]
                assert {r[2] for r in placed(engine)} == {"ledger_p0"}
        append(store, cid, 1, "after")
        assert [e.position for e in store.read_ledger(25, 10)] == [26]
        assert store.read_ledger(0, 100, campaign_id=cid)[0].delivery_id == "d0"
    finally:
        store.close()

    # Back to the previous schema: the same rows, the sequence going on.
    alembic_to(engine, "downgrade", "0006")
    assert _relkind(engine) in (None, "r")
    after_down = _all_events(engine)
    assert [row[0] for row in after_down] == list(range(1, 27))
    assert after_down[:25] == before
    with engine.begin() as conn:
        _ledger.append(conn, _one_event(cid))
    assert _all_events(engine)[-1][0] == 27

    # And forward again, with ranges reaching past what is there.
    migrate(engine)
    assert [row[0] for row in _all_events(engine)] == list(range(1, 28))
    engine.dispose()


def _one_event(cid: str) -> _ledger.Pending:
    pending = _ledger.Pending()
    pending.events.append(
        _ledger.event_row(
            cid, S.CHANNEL_SMS, S.LEDGER_EVENT_TYPE_OPENED, now_us(), _ledger.Source.RECEIPT
        )
    )
    return pending


@postgres_only
def test_partition_ddl_yields_to_a_long_reader_until_the_next_round(store: Store) -> None:
    """DDL on the ledger waits for its lock at most ``lock_timeout``: queued
    behind a long reader it would hold up every append queued behind it."""
    restart_positions(store, 20_000_000)
    housekeeper = keeper(store, partition_size=5)
    reader = store.engine.connect()
    try:
        reader.begin()
        reader.execute(text("SELECT count(*) FROM ledger")).scalar()
        started = time.monotonic()
        upkeep = housekeeper.tend_ledger()
        assert upkeep.created == []
        assert upkeep.dropped == []
        assert time.monotonic() - started < 30  # three 2 s lock timeouts, not a hang
    finally:
        reader.close()
    upkeep = housekeeper.tend_ledger()
    assert upkeep.created == ["ledger_p20000000", "ledger_p20000005"]
    assert upkeep.dropped == ["ledger_p0", "ledger_p10000000"]


@postgres_only
def test_a_range_is_not_dropped_under_an_append_still_in_flight(store: Store) -> None:
    """A running campaign's events drawn into a range but not yet committed are
    invisible to the check: the drop waits for the append lock first, so it
    sees them once committed and keeps the range."""
    base = 20_000_000
    restart_positions(store, base)
    housekeeper = keeper(store, partition_size=5)
    housekeeper.tend_ledger()
    running, _ = add_campaign(store, [S.DELIVERY_STATUS_PENDING])
    pending = _ledger.Pending()
    for i in range(5):
        pending.events.append(
            _ledger.event_row(
                running,
                S.CHANNEL_EMAIL,
                S.LEDGER_EVENT_TYPE_OPENED,
                now_us(),
                _ledger.Source.RECEIPT,
                delivery_id=f"r{i}",
                applied=False,
            )
        )
    appending = store.engine.connect()
    appending.begin()
    _ledger.append(appending, pending)  # draws base .. base+4, the whole range
    result: list[Any] = []
    cutoff_us = NOW_US - 30 * DAY_US
    thread = threading.Thread(
        target=lambda: result.append(_retention.drop_ended(store.engine, cutoff_us))
    )
    thread.start()
    try:
        time.sleep(1.0)
        assert result == []  # waiting for the append to end
    finally:
        appending.commit()
        appending.close()
    thread.join(30)
    assert result == [[]]
    assert [p[1] for p in placed(store.engine)] == [f"r{i}" for i in range(5)]


def test_the_server_housekeeper_compacts_by_ledger_retention_days(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_RETENTION_DAYS", "7")
    settings = OrchestratorSettings(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    assert settings.ledger_retention_days == 7
    app = bootstrap(settings, dispatch=True, collect=False)
    try:
        assert app.housekeeper is not None
        ended, _ = add_campaign(app.store, [S.DELIVERY_STATUS_SKIPPED])
        recent, _ = add_campaign(app.store, [S.DELIVERY_STATUS_SKIPPED])
        now = int(time.time() * 1_000_000)
        for cid, days in ((ended, 8), (recent, 6)):
            with app.store.engine.begin() as conn:
                conn.execute(
                    update(campaigns)
                    .where(campaigns.c.id == cid)
                    .values(state=S.CAMPAIGN_STATE_COMPLETED, completed_us=now - days * DAY_US)
                )
        app.housekeeper.run_once()
        assert {e.campaign_id for e in app.store.read_ledger(0, 100)} == {recent}
    finally:
        app.store.close()
