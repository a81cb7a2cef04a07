"""The delivery ledger: what happened to deliveries, appended in commit order,
and the per-campaign counters moved in the same transaction.

Every store transaction that moves deliveries collects its events and its
counter changes in a ``Pending`` and hands it to ``append`` as its last step
before COMMIT. On PostgreSQL ``append`` first takes one transaction-scoped
advisory lock, so positions (a sequence) are drawn in the order the
transactions commit: the lock is held only for the counter upsert, the COPY
of the events and the commit itself, and every other row lock of the
transaction was taken before it, so it cannot deadlock. A reader that sees
position ``p`` therefore already sees every position below ``p`` that will
ever commit, and "after the last position I read" misses nothing. SQLite
serialises every writer on its database lock, which gives the same order.

Why not a commit-safe read horizon instead (reading only below the oldest
running transaction's xmin)? Rows would then be ordered by transaction id,
not by a single number, and a reader would have to hold back everything
behind one slow writer; the lock keeps the cursor one integer and costs one
short critical section per transaction, and the writers batch hundreds of
deliveries per transaction.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from sqlalchemy import Connection, Select, bindparam, select, text
from sqlalchemy.dialects import sqlite

from brandcast.orchestrator.store import _convert
from brandcast.orchestrator.store._bulk import BinaryArray, insert_tuples
from brandcast.orchestrator.store.schema import delivery_counters, ledger
from brandcast.v1 import bus_pb2, campaign_pb2

S = campaign_pb2
E = campaign_pb2


class Source(enum.IntEnum):
    """Who recorded an event."""

    INTAKE = 1
    DISPATCHER = 2
    RECEIPT = 3
    CANCEL = 4
    MIGRATION = 5


SOURCE_NAMES: Final = {s.value: s.name.lower() for s in Source}
_RECEIPT_SOURCE: Final = int(Source.RECEIPT)

#: The ledger event recording a move to each delivery status.
EVENT_OF_STATUS: Final[dict[int, int]] = {
    S.DELIVERY_STATUS_SCHEDULED: E.LEDGER_EVENT_TYPE_DEFERRED,
    S.DELIVERY_STATUS_PENDING: E.LEDGER_EVENT_TYPE_DEFERRED,
    S.DELIVERY_STATUS_DEFERRED: E.LEDGER_EVENT_TYPE_DEFERRED,
    S.DELIVERY_STATUS_QUEUED: E.LEDGER_EVENT_TYPE_QUEUED,
    S.DELIVERY_STATUS_SENT: E.LEDGER_EVENT_TYPE_SENT,
    S.DELIVERY_STATUS_DELIVERED: E.LEDGER_EVENT_TYPE_DELIVERED,
    S.DELIVERY_STATUS_FAILED: E.LEDGER_EVENT_TYPE_FAILED,
    S.DELIVERY_STATUS_BOUNCED: E.LEDGER_EVENT_TYPE_BOUNCED,
    S.DELIVERY_STATUS_SUPPRESSED: E.LEDGER_EVENT_TYPE_SUPPRESSED,
    S.DELIVERY_STATUS_CANCELLED: E.LEDGER_EVENT_TYPE_CANCELLED,
    S.DELIVERY_STATUS_SKIPPED: E.LEDGER_EVENT_TYPE_SKIPPED,
}
#: The delivery status each status event reports (engagement events have none).
STATUS_OF_EVENT: Final[dict[int, int]] = {
    E.LEDGER_EVENT_TYPE_DEFERRED: S.DELIVERY_STATUS_DEFERRED,
    E.LEDGER_EVENT_TYPE_QUEUED: S.DELIVERY_STATUS_QUEUED,
    E.LEDGER_EVENT_TYPE_SENT: S.DELIVERY_STATUS_SENT,
    E.LEDGER_EVENT_TYPE_DELIVERED: S.DELIVERY_STATUS_DELIVERED,
    E.LEDGER_EVENT_TYPE_FAILED: S.DELIVERY_STATUS_FAILED,
    E.LEDGER_EVENT_TYPE_BOUNCED: S.DELIVERY_STATUS_BOUNCED,
    E.LEDGER_EVENT_TYPE_SUPPRESSED: S.DELIVERY_STATUS_SUPPRESSED,
    E.LEDGER_EVENT_TYPE_CANCELLED: S.DELIVERY_STATUS_CANCELLED,
    E.LEDGER_EVENT_TYPE_SKIPPED: S.DELIVERY_STATUS_SKIPPED,
}
#: Most events one read of the ledger returns.
MAX_READ: Final = 5000
#: pg_advisory_xact_lock key that orders appends ("bclg").
_APPEND_LOCK_KEY: Final = 0x62636C67


class LedgerRow(NamedTuple):
    """One event as appended: the ledger's columns but its position, in COPY's
    order. A tuple, not a dict: a receipt flush appends one per receipt, and
    COPY writes a tuple as it is."""

    campaign_id: str
    delivery_id: str
    channel: int
    event: int
    at_us: int
    attempt: int
    provider: str
    provider_message_id: str
    error_code: str
    detail: str
    applied: int
    batch_id: str
    delivery_ids: str
    source: int


def event_row(
    campaign_id: str,
    channel: int,
    event: int,
    at_us: int,
    source: Source,
    *,
    delivery_id: str = "",
    attempt: int = 0,
    provider: str = "",
    provider_message_id: str = "",
    error_code: str = "",
    detail: str = "",
    applied: bool = True,
    batch_id: str = "",
    delivery_ids: Sequence[str] = (),
) -> LedgerRow:
    """One ledger row, the strings cut to their columns' lengths."""
    return LedgerRow(
        campaign_id,
        delivery_id,
        channel,
        event,
        at_us,
        attempt,
        provider[:100],
        provider_message_id[:300],
        error_code[:100],
        detail,
        int(applied),
        batch_id,
        " ".join(delivery_ids),
        int(source),
    )


@dataclass
class Pending:
    """A transaction's ledger events and counter changes, not yet written."""

    events: list[LedgerRow] = field(default_factory=list)
    #: ``(campaign_id, channel, status)`` → change in the number of deliveries.
    counts: collections.Counter[tuple[str, int, int]] = field(default_factory=collections.Counter)

    def added(self, campaign_id: str, channel: int, status: int, n: int = 1) -> None:
        self.counts[(campaign_id, channel, status)] += n

    def moved(self, campaign_id: str, channel: int, old: int, new: int, n: int = 1) -> None:
        if old != new:
            self.counts[(campaign_id, channel, old)] -= n
            self.counts[(campaign_id, channel, new)] += n

    def receipt(
        self, r: bus_pb2.DeliveryReceipt, at_us: int, *, applied: bool, channel: int
    ) -> None:
        # event_row's work, without its call of keywords (one per receipt).
        self.events.append(
            tuple.__new__(
                LedgerRow,
                (
                    r.campaign_id,
                    r.delivery_id,
                    channel,
                    EVENT_OF_STATUS[r.status],
                    at_us,
                    r.attempts,
                    r.provider[:100],
                    r.provider_message_id[:300],
                    r.error_code[:100],
                    r.error_message or r.public_url,
                    int(applied),
                    "",
                    "",
                    _RECEIPT_SOURCE,
                ),
            )
        )


def append(conn: Connection, pending: Pending) -> None:
    """Write ``pending`` as the transaction's last step before COMMIT (see the
    module's docstring for why last)."""
    counts = [(key, n) for key, n in sorted(pending.counts.items()) if n]
    if not counts and not pending.events:
        return
    if conn.dialect.name != "postgresql":
        if counts:
            conn.execute(
                _UPSERT_COUNTS,
                [
                    {"campaign_id": c, "channel": ch, "status": st, "count": n}
                    for (c, ch, st), n in counts
                ],
            )
    elif counts:
        conn.execute(
            _LOCK_AND_COUNT,
            {
                "k": _APPEND_LOCK_KEY,
                "campaign_ids": BinaryArray(c for (c, _, _), _ in counts),
                "channels": BinaryArray(ch for (_, ch, _), _ in counts),
                "statuses": BinaryArray(st for (_, _, st), _ in counts),
                "counts": BinaryArray(n for _, n in counts),
            },
        )
    else:
        conn.execute(_APPEND_LOCK, {"k": _APPEND_LOCK_KEY})
    insert_tuples(conn, ledger, LedgerRow._fields, pending.events)
    pending.events = []
    pending.counts = collections.Counter()


def read(
    conn: Connection, after: int, limit: int, campaign_id: str | None = None
) -> list[campaign_pb2.LedgerEvent]:
    """Events after position ``after``, oldest first, at most ``limit``."""
    limit = max(1, min(limit, MAX_READ))
    if campaign_id is None:
        rows = conn.execute(_READ_ALL, {"after": after, "limit": limit})
    else:
        rows = conn.execute(
            _READ_CAMPAIGN, {"after": after, "limit": limit, "campaign_id": campaign_id}
        )
    return [to_message(r) for r in rows]


def for_delivery(conn: Connection, delivery_id: str) -> list[Any]:
    """A delivery's own events (not the batches it rode in), in position order."""
    return list(conn.execute(_FOR_DELIVERY, {"delivery_id": delivery_id}))


def rfc3339(us: int) -> str:
    ts = _convert.timestamp(us)
    assert ts is not None
    return ts.ToJsonString()


def to_message(row: Any) -> campaign_pb2.LedgerEvent:
    return campaign_pb2.LedgerEvent(
        position=row.position,
        campaign_id=row.campaign_id,
        delivery_id=row.delivery_id,
        channel=row.channel,
        type=row.event,
        at=_convert.timestamp(row.at_us),
        attempt=row.attempt,
        provider=row.provider,
        provider_message_id=row.provider_message_id,
        error_code=row.error_code,
        detail=row.detail,
        applied=bool(row.applied),
        delivery_ids=row.delivery_ids.split() if row.delivery_ids else [],
        batch_id=row.batch_id,
        source=SOURCE_NAMES.get(row.source, ""),
    )


def history_event(row: Any) -> campaign_pb2.DeliveryEvent:
    """A ledger row as an entry of ``Delivery.history``."""
    return campaign_pb2.DeliveryEvent(
        at=_convert.timestamp(row.at_us),
        status=STATUS_OF_EVENT.get(row.event, S.DELIVERY_STATUS_UNSPECIFIED),  # type: ignore[arg-type]
        attempts=row.attempt,
        provider=row.provider,
        provider_message_id=row.provider_message_id,
        error_code=row.error_code,
        error_message=row.detail,
        applied=bool(row.applied),
        source=SOURCE_NAMES.get(row.source, ""),
    )


def counter_rows(conn: Connection, campaign_ids: Iterable[str]) -> list[Any]:
    """``(campaign_id, channel, status, count)`` of the campaigns, zeros left out."""
    return list(conn.execute(_COUNTS_OF, {"campaign_ids": list(campaign_ids)}))


def _upsert() -> Any:
    statement = sqlite.insert(delivery_counters)
    return statement.on_conflict_do_update(
        index_elements=[
            delivery_counters.c.campaign_id,
            delivery_counters.c.channel,
            delivery_counters.c.status,
        ],
        set_={"count": delivery_counters.c.count + statement.excluded["count"]},
    )


_UPSERT_COUNTS: Final = _upsert()
_APPEND_LOCK: Final = text("SELECT pg_advisory_xact_lock(:k)")
# The append lock and every counter change of the transaction in one round trip
# (they were three for a campaign's first QUEUED mark or its receipt: the lock
# and an upsert per counter row). The lock still comes first: each row to
# upsert is joined with the lock's row, so none is written (and no counter row
# locked) before the lock is held, and MATERIALIZED evaluates it once.
_LOCK_AND_COUNT: Final = text(
    """
    WITH append_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(:k))
    INSERT INTO delivery_counters AS c (campaign_id, channel, status, count)
    SELECT v.campaign_id, v.channel, v.status, v.count
    FROM append_lock, unnest(
        CAST(:campaign_ids AS VARCHAR[]), CAST(:channels AS INTEGER[]),
        CAST(:statuses AS INTEGER[]), CAST(:counts AS BIGINT[])
    ) AS v(campaign_id, channel, status, count)
    ON CONFLICT (campaign_id, channel, status) DO UPDATE SET count = c.count + excluded.count
    """
)
_READ_ALL: Final[Select[Any]] = (
    select(ledger)
    .where(ledger.c.position > bindparam("after"))
    .order_by(ledger.c.position)
    .limit(bindparam("limit"))
)
_READ_CAMPAIGN: Final[Select[Any]] = (
    select(ledger)
    .where(ledger.c.campaign_id == bindparam("campaign_id"), ledger.c.position > bindparam("after"))
    .order_by(ledger.c.position)
    .limit(bindparam("limit"))
)
_FOR_DELIVERY: Final[Select[Any]] = (
    select(ledger)
    .where(ledger.c.delivery_id == bindparam("delivery_id"))
    .order_by(ledger.c.position)
)
#: The progress of one campaign: one row per channel and status.
COUNTS: Final[Select[Any]] = select(
    delivery_counters.c.channel, delivery_counters.c.status, delivery_counters.c.count
).where(delivery_counters.c.campaign_id == bindparam("campaign_id"), delivery_counters.c.count != 0)
_COUNTS_OF: Final[Select[Any]] = select(
    delivery_counters.c.campaign_id,
    delivery_counters.c.channel,
    delivery_counters.c.status,
    delivery_counters.c.count,
).where(
    delivery_counters.c.campaign_id.in_(bindparam("campaign_ids", expanding=True)),
    delivery_counters.c.count != 0,
)
