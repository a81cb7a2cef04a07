"""A campaign's delivery changes for watchers, read from the ledger.

A watch cursor is ``(n, delivery id)``:

- ``n`` 0 or 1: the deliveries untouched since intake (``seq`` 1, by
  ``ix_deliveries_intake``), in id
  order: every delivery is seen once from the start, in the state it was
  accepted in;
- ``n`` at least ``LEDGER_CURSOR_BASE``: the campaign's ledger from position
  ``n - LEDGER_CURSOR_BASE``; the id orders the deliveries of one event (a
  queued batch, a cancel) so a page may end inside it.

Each delivery is shown at the position of its latest applied event: an event
whose status the delivery has since left is passed over, because the later
event (committed, with a higher position) shows it. So a watcher that resumes
from any cursor misses no change and sees none twice, and positions are the
database's commit order (see ``_ledger``), not a lock on the campaign row.

An old cursor (``n`` from 2 up to the base: a campaign event seq of the
previous scheme) resumes at the start of the campaign's ledger: it may show
changes again, never miss one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, any_, bindparam, select, text

from brandcast.orchestrator.store import _convert, _ledger
from brandcast.orchestrator.store._bulk import StringArray
from brandcast.orchestrator.store.schema import INTAKE_SEQ, INTAKE_SQL, deliveries, ledger
from brandcast.v1 import campaign_pb2

S = campaign_pb2
#: Cursors at or above this read the ledger (position = cursor - base); far
#: above any campaign event seq of the previous cursors.
LEDGER_CURSOR_BASE: Final = 10**15
_INTAKE: Final = INTAKE_SEQ
_FETCH_BATCH: Final = 1000


@dataclass(frozen=True)
class DeliveryChange:
    """A delivery as of a watch cursor position."""

    cursor: tuple[int, str]
    delivery: campaign_pb2.Delivery


def changes_after(
    conn: Connection, campaign_id: str, cursor: tuple[int, str], limit: int
) -> tuple[list[DeliveryChange], tuple[int, str], bool]:
    """Up to ``limit`` changes after ``cursor``, the cursor reached (past what
    was passed over too) and whether every change committed before the read
    is in the page."""
    n, after = cursor
    changes: list[DeliveryChange] = []
    if n < LEDGER_CURSOR_BASE:
        if n <= _INTAKE:
            start = after if n == _INTAKE else ""
            rows = conn.execute(
                _UNTOUCHED, {"campaign_id": campaign_id, "after": start, "limit": limit}
            ).all()
            changes = [DeliveryChange((_INTAKE, r.id), _convert.delivery(r)) for r in rows]
            if len(rows) >= limit:
                return changes, changes[-1].cursor, False
        n, after = LEDGER_CURSOR_BASE, ""
    return _ledger_changes(conn, campaign_id, (n, after), limit, changes)


def _ledger_changes(
    conn: Connection,
    campaign_id: str,
    cursor: tuple[int, str],
    limit: int,
    changes: list[DeliveryChange],
) -> tuple[list[DeliveryChange], tuple[int, str], bool]:
    start, after = cursor[0] - LEDGER_CURSOR_BASE, cursor[1]
    events = conn.execute(
        _EVENTS, {"campaign_id": campaign_id, "start": start, "limit": limit}
    ).all()
    reached = cursor
    postgres = conn.dialect.name == "postgresql"
    for event in events:
        ids = _shown_ids(event)
        if event.position == start and after:
            ids = [i for i in ids if i > after]
        rows = _rows(conn, campaign_id, ids, postgres)
        for delivery_id in ids:
            if len(changes) >= limit:
                return changes, reached, False
            reached = (LEDGER_CURSOR_BASE + event.position, delivery_id)
            row = rows.get(delivery_id)
            if row is not None and _shows(event.event, row.status):
                changes.append(DeliveryChange(reached, _convert.delivery(row)))
        reached = (LEDGER_CURSOR_BASE + event.position + 1, "")
    return changes, reached, len(events) < limit


def _shown_ids(event: Any) -> list[str]:
    """The deliveries an event may show, in id order: none for an event that
    moved nothing, nor for intake's (the intake listing shows those)."""
    if not event.applied or event.source == _ledger.Source.INTAKE:
        return []
    if event.delivery_ids:
        return sorted(event.delivery_ids.split())
    return [event.delivery_id] if event.delivery_id else []


def _shows(event: int, status: int) -> bool:
    """Whether the delivery is still in the status the event moved it to."""
    if event == S.LEDGER_EVENT_TYPE_DEFERRED:
        return status in (S.DELIVERY_STATUS_PENDING, S.DELIVERY_STATUS_SCHEDULED)
    return _ledger.STATUS_OF_EVENT.get(event) == status


def _rows(conn: Connection, campaign_id: str, ids: Sequence[str], postgres: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for begin in range(0, len(ids), _FETCH_BATCH):
        chunk = list(ids[begin : begin + _FETCH_BATCH])
        for row in conn.execute(_BY_IDS[postgres], {"campaign_id": campaign_id, "ids": chunk}):
            found[row.id] = row
    return found


_UNTOUCHED: Final = (
    select(deliveries)
    .where(
        deliveries.c.campaign_id == bindparam("campaign_id"),
        # Literal: the partial index ``ix_deliveries_intake`` has this predicate.
        text(INTAKE_SQL),
        deliveries.c.id > bindparam("after"),
    )
    .order_by(deliveries.c.id)
    .limit(bindparam("limit"))
)
_EVENTS: Final = (
    select(
        ledger.c.position,
        ledger.c.event,
        ledger.c.delivery_id,
        ledger.c.delivery_ids,
        ledger.c.applied,
        ledger.c.source,
    )
    .where(
        ledger.c.campaign_id == bindparam("campaign_id"),
        ledger.c.position >= bindparam("start"),
    )
    .order_by(ledger.c.position)
    .limit(bindparam("limit"))
)
_BY_IDS: Final = {
    postgres: select(deliveries).where(
        deliveries.c.campaign_id == bindparam("campaign_id"),
        deliveries.c.id == any_(bindparam("ids", type_=StringArray()))
        if postgres
        else deliveries.c.id.in_(bindparam("ids", expanding=True)),
    )
    for postgres in (False, True)
}
