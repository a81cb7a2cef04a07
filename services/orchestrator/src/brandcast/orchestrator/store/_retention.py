"""Ledger retention: partitions created ahead, and compaction of the events of
campaigns that ended before a cutoff.

A campaign's results survive its events: final states stay in the delivery
rows and the counters in ``delivery_counters``, neither of which compaction
touches. Positions are never reused (the sequence; SQLite's AUTOINCREMENT), so
a cursor inside a compacted range resumes at the next event that remains.

On PostgreSQL ``ledger`` is range-partitioned on ``position`` (migration
0007): ``position`` is the primary key and every reader's cursor, so reads
after a position prune to the partitions above it and appends always go to
the newest one. The housekeeper keeps ranges ahead of the sequence; a DEFAULT
partition takes whatever outruns it, so an append never fails for lack of a
partition. A range every position of which was drawn, holding only events of
campaigns that ended before the cutoff, is detached and dropped whole; events
of those campaigns anywhere else (a range shared with a running campaign, the
DEFAULT partition, all of SQLite) are deleted by rows in bounded batches, each
its own short transaction so appends interleave.
"""

# Only integers and partition names (quoted, read from the catalog or built
# from integers) are formatted into statements.
# ruff: noqa: S608

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, Engine, bindparam, delete, exists, select, text
from sqlalchemy.exc import DBAPIError

from brandcast.orchestrator.store._ledger import _APPEND_LOCK_KEY
from brandcast.orchestrator.store.schema import campaigns, ledger
from brandcast.v1 import campaign_pb2

log = logging.getLogger(__name__)

#: Positions per partition: about 1.5 GB of events, minutes at full speed,
#: days for a small deployment (then compaction deletes rows until a whole
#: range has ended). Migration 0007 writes the same number out.
PARTITION_SIZE: Final = 10_000_000
#: Ranges kept ahead of the sequence at the least.
PARTITIONS_AHEAD: Final = 2
#: Events deleted per transaction.
DELETE_BATCH: Final = 5000
DEFAULT_PARTITION: Final = "ledger_default"
#: DDL on the ledger waits at most this long for its lock, then gives up until
#: the next round: a CREATE or DROP queued behind a long reader would hold up
#: every append queued behind it.
_LOCK_TIMEOUT: Final = "2s"
#: lock_not_available; duplicate_table, unique_violation (of the catalog) and
#: invalid_object_definition (overlapping range): another replica's range;
#: undefined_table: dropped by another replica; check_violation: DEFAULT holds
#: rows of the new range.
_GIVE_WAY: Final = frozenset({"55P03", "42P07", "23505", "42P17", "42P01", "23514"})
_ENDED: Final = (campaign_pb2.CAMPAIGN_STATE_COMPLETED, campaign_pb2.CAMPAIGN_STATE_CANCELLED)
_BOUNDS: Final = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    name: str
    #: ``[lower, upper)``; ``None`` for the DEFAULT partition.
    lower: int | None
    upper: int | None


def partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'ledger'::regclass"))
    return kind.scalar() == "p"


def partitions(conn: Connection) -> list[Partition]:
    """The ledger's partitions, ranges in position order, DEFAULT last."""
    found: list[Partition] = []
    for name, bound in conn.execute(_PARTITIONS):
        match = _BOUNDS.search(bound)
        if match is None:
            found.append(Partition(name, None, None))
        else:
            found.append(Partition(name, int(match[1]), int(match[2])))
    return sorted(found, key=lambda p: (p.lower is None, p.lower or 0))


def last_position(conn: Connection) -> int:
    """The highest position drawn so far (committed or not)."""
    drawn, called = conn.execute(
        text("SELECT last_value, is_called FROM ledger_position_seq")
    ).one()
    return int(drawn) if called else int(drawn) - 1


def create_ahead(
    engine: Engine, *, size: int = PARTITION_SIZE, previous: int | None = None
) -> tuple[list[str], int | None]:
    """Create ranges of ``size`` until they reach past the sequence by
    ``PARTITIONS_AHEAD`` ranges, or by twice what was drawn since the previous
    round's position ``previous`` when that is more (a busy ledger gets its
    ranges before it needs them). Returns the new partitions' names and the
    position drawn (for the next round's ``previous``)."""
    created: list[str] = []
    try:
        drawn = _create_ahead(engine, size, previous, created)
    except DBAPIError as error:
        if not _gave_way(error):
            raise
        log.warning("ledger partitions not extended this round: %s", error.orig)
        return [], previous
    if created:
        log.info("created ledger partitions %s", ", ".join(created))
    return created, drawn


def _create_ahead(engine: Engine, size: int, previous: int | None, created: list[str]) -> int:
    with engine.begin() as conn:
        if not partitioned(conn):
            return 0
        drawn = last_position(conn)
        headroom = PARTITIONS_AHEAD * size
        if previous is not None:
            headroom = max(headroom, 2 * (drawn - previous))
        conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
        ranges = [p for p in partitions(conn) if p.upper is not None]
        lower = max((p.upper for p in ranges if p.upper is not None), default=0)
        # Appends that outran the ranges are in DEFAULT; a new range must start
        # above them (PostgreSQL refuses one that would claim DEFAULT's rows).
        stray = conn.execute(text(f"SELECT max(position) FROM {DEFAULT_PARTITION}")).scalar()
        if stray is not None:
            lower = max(lower, stray + 1)
        target = drawn + headroom
        while lower <= target:
            name = f"ledger_p{lower}"
            conn.execute(
                text(
                    f"CREATE TABLE {name} PARTITION OF ledger "
                    f"FOR VALUES FROM ({lower}) TO ({lower + size})"
                )
            )
            created.append(name)
            lower += size
    return drawn


def drop_ended(engine: Engine, ended_before_us: int) -> list[str]:
    """Drop the ranges wholly drawn that hold only events of campaigns ended
    before the cutoff; returns their names."""
    with engine.begin() as conn:
        if not partitioned(conn):
            return []
        drawn = last_position(conn)
        ranges = [p for p in partitions(conn) if p.upper is not None and p.upper <= drawn + 1]
    if not ranges:
        return []
    # Every position up to ``drawn`` was drawn under the append lock, which its
    # transaction holds until it ends: once we hold it, each of those rows is
    # committed or gone, and no later append can land below ``drawn``.
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_KEY})
    dropped: list[str] = []
    for partition in ranges:
        try:
            if _drop_if_ended(engine, partition, ended_before_us):
                dropped.append(partition.name)
        except DBAPIError as error:
            if not _gave_way(error):
                raise
            log.warning("ledger range %s not dropped this round: %s", partition.name, error.orig)
    if dropped:
        log.info("dropped ledger partitions %s", ", ".join(dropped))
    return dropped


def _drop_if_ended(engine: Engine, partition: Partition, ended_before_us: int) -> bool:
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
        keep = conn.execute(
            text(
                f"SELECT 1 FROM {_quoted(conn, partition.name)} l WHERE NOT EXISTS ("
                "SELECT 1 FROM campaigns c WHERE c.id = l.campaign_id "
                "AND c.state IN (:completed, :cancelled) AND c.completed_us < :cutoff) "
                "LIMIT 1"
            ),
            {"completed": _ENDED[0], "cancelled": _ENDED[1], "cutoff": ended_before_us},
        ).first()
        if keep is not None:
            return False
        name = _quoted(conn, partition.name)
        conn.execute(text(f"ALTER TABLE ledger DETACH PARTITION {name}"))
        conn.execute(text(f"DROP TABLE {name}"))
    return True


def _quoted(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _gave_way(error: DBAPIError) -> bool:
    """Whether DDL on the ledger yielded to something that will be gone by the
    next round: a lock not had in time, or another replica's housekeeper
    creating or dropping the same range, or appends that reached a range
    first (in DEFAULT)."""
    return getattr(error.orig, "sqlstate", None) in _GIVE_WAY


def ended_with_events(engine: Engine, ended_before_us: int) -> list[str]:
    """Campaigns that ended before the cutoff and still have events."""
    with engine.connect() as conn:
        return list(conn.execute(_ENDED_WITH_EVENTS, {"cutoff": ended_before_us}).scalars())


def delete_events(engine: Engine, campaign_ids: list[str]) -> int:
    """Delete the campaigns' events, ``DELETE_BATCH`` per transaction; returns
    how many."""
    deleted = 0
    for campaign_id in campaign_ids:
        for n in _batches(engine, campaign_id, DELETE_BATCH):
            deleted += n
    return deleted


def _batches(engine: Engine, campaign_id: str, batch: int) -> Iterator[int]:
    while True:
        with engine.begin() as conn:
            n = conn.execute(_DELETE_BATCH, {"campaign_id": campaign_id, "n": batch}).rowcount
        yield n
        if n < batch:
            return


_PARTITIONS: Final = text(
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ledger'::regclass"
)
_ENDED_WITH_EVENTS: Final = select(campaigns.c.id).where(
    campaigns.c.state.in_(_ENDED),
    campaigns.c.completed_us < bindparam("cutoff"),
    exists().where(ledger.c.campaign_id == campaigns.c.id),
)
_DELETE_BATCH: Final = delete(ledger).where(
    ledger.c.position.in_(
        select(ledger.c.position)
        .where(ledger.c.campaign_id == bindparam("campaign_id"))
        .order_by(ledger.c.position)
        .limit(bindparam("n"))
    )
)
