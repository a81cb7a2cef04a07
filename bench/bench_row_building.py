"""Per-delivery Python costs of a dispatch round that do not touch the network.

    uv run python bench/bench_row_building.py

- a claimed row into a ``DueDelivery``: the fields read by name from the
  SQLAlchemy row into a frozen dataclass (before) against the row taken whole
  by ``DueDelivery._make`` (now);
- a rendered email into its batch: a finished ``DispatchItem`` appended (which
  copies it) against one added to the batch and filled in place (now);
- a list of delivery ids bound as one PostgreSQL array parameter: psycopg's
  text form for a plain list (before) against the binary form a
  ``BinaryArray`` gets (now);
- an accepted delivery's row at submit, built and formatted as COPY sends it:
  a dict read back column by column (before) against a ``NewDelivery`` tuple
  written as it is (now);
- a receipt's ledger event, the same way: a dict from ``event_row``'s keywords
  (before) against the ``LedgerRow`` tuple ``Pending.receipt`` builds (now).

One core, in-process; the rows come from SQLite in memory (SQLAlchemy's row
objects are the same whatever the database).
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness import campaign_spec, recipient
from psycopg._copy_base import TextFormatter  # what Copy.write_row runs per row
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import create_engine, text
from uuid_utils import uuid7

from brandcast.orchestrator import intake
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.store import STATUS_RANK, DueDelivery, _ledger
from brandcast.orchestrator.store._bulk import BinaryArray
from brandcast.v1 import bus_pb2, campaign_pb2

ROWS = 1000


@dataclass(frozen=True)
class _DueDataclass:
    """DueDelivery as it was before: a frozen dataclass."""

    id: str
    campaign_id: str
    channel: int
    recipient_id: str
    address: str
    attempts: int
    recipient: bytes | None
    suppressed: bool = False


def _claimed_rows() -> Sequence[Any]:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        return conn.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
                "SELECT printf('0193a7c2-%04d-7000-8000-00000000%04d', i, i) AS id, "
                "'0193a7c2-0000-7000-8000-000000000001' AS campaign_id, 1 AS channel, "
                "'r' || i AS recipient_id, 'person' || i || '@example.com' AS address, "
                "0 AS attempts, x'0a0272311a10' AS data, i % 50 = 0 AS suppressed FROM n"
            ),
            {"rows": ROWS},
        ).all()


def _per_item_us(fn: Callable[[], object], items: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=5, repeat=repeat)) / 5 / items * 1e6


def _accepted_row_as_dict(plan: intake._DeliveryPlan, i: int) -> dict[str, Any]:
    """A delivery's row as intake built it before: a dict of every column."""
    delivery_id = str(uuid7())
    return {
        "id": delivery_id,
        "campaign_id": plan.campaign_id,
        "channel": 1,
        "recipient_id": f"r{i}",
        "address": f"person{i}@example.com",
        "status": plan.status,
        "status_rank": STATUS_RANK[plan.status],
        "attempts": 0,
        "provider": "",
        "provider_message_id": "",
        "error_code": "",
        "error_message": "",
        "public_url": "",
        "idempotency_key": delivery_id,
        "not_before_us": plan.not_before,
        "created_us": plan.now,
        "updated_us": plan.now,
        "seq": 1,
    }


def _accepted_rows(repeat: int) -> tuple[float, float]:
    """µs per delivery to build and format its row: as a dict, as a ``NewDelivery``."""
    plan = intake._DeliveryPlan(
        campaign_id="0193a7c2-0000-7000-8000-000000000001",
        now=1_764_000_000_000_000,
        not_before=1_764_000_000_000_000,
        status=1,
        email=True,
        sms=False,
    )
    formatter = TextFormatter(Transformer())

    def as_dicts() -> None:
        rows = [_accepted_row_as_dict(plan, i) for i in range(ROWS)]
        names = list(rows[0])
        for row in rows:
            formatter.write_row([row[name] for name in names])

    def as_tuples() -> None:
        rows = [plan._row(1, f"r{i}", f"person{i}@example.com", plan.status) for i in range(ROWS)]
        for row in rows:
            formatter.write_row(row)

    as_tuple = plan._row(1, "r1", "person1@example.com", plan.status)
    assert tuple(_accepted_row_as_dict(plan, 1)) == as_tuple._fields
    return _per_item_us(as_dicts, ROWS, repeat), _per_item_us(as_tuples, ROWS, repeat)


def _receipt_event_as_dict(r: bus_pb2.DeliveryReceipt, at_us: int) -> dict[str, Any]:
    """A receipt's ledger row as it was built before: a dict from keywords."""

    def event_row(
        campaign_id: str,
        channel: int,
        event: int,
        at_us: int,
        source: int,
        *,
        delivery_id: str = "",
        attempt: int = 0,
        provider: str = "",
        provider_message_id: str = "",
        error_code: str = "",
        detail: str = "",
        applied: bool = True,
    ) -> dict[str, Any]:
        return {
            "campaign_id": campaign_id,
            "delivery_id": delivery_id,
            "channel": channel,
            "event": event,
            "at_us": at_us,
            "attempt": attempt,
            "provider": provider[:100],
            "provider_message_id": provider_message_id[:300],
            "error_code": error_code[:100],
            "detail": detail,
            "applied": int(applied),
            "batch_id": "",
            "delivery_ids": "",
            "source": source,
        }

    return event_row(
        r.campaign_id,
        1,
        _ledger.EVENT_OF_STATUS[r.status],
        at_us,
        int(_ledger.Source.RECEIPT),
        delivery_id=r.delivery_id,
        attempt=r.attempts,
        provider=r.provider,
        provider_message_id=r.provider_message_id,
        error_code=r.error_code,
        detail=r.error_message or r.public_url,
        applied=True,
    )


def _receipt_events(repeat: int) -> tuple[float, float]:
    """µs per receipt to build and format its ledger row: as a dict, as a ``LedgerRow``."""
    receipts = [
        bus_pb2.DeliveryReceipt(
            campaign_id="0193a7c2-0000-7000-8000-000000000001",
            delivery_id=f"0193a7c2-{i:04d}-7000-8000-000000000001",
            status=campaign_pb2.DELIVERY_STATUS_SENT,
            attempts=1,
            provider="null",
            provider_message_id=f"null-{i}",
        )
        for i in range(ROWS)
    ]
    formatter = TextFormatter(Transformer())

    def as_dicts() -> None:
        rows = [_receipt_event_as_dict(r, 1_764_000_000_000_000) for r in receipts]
        names = list(rows[0])
        for row in rows:
            formatter.write_row([row[name] for name in names])

    def as_tuples() -> None:
        pending = _ledger.Pending()
        for r in receipts:
            pending.receipt(r, 1_764_000_000_000_000, applied=True, channel=1)
        for row in pending.events:
            formatter.write_row(row)

    pending = _ledger.Pending()
    pending.receipt(receipts[0], 1_764_000_000_000_000, applied=True, channel=1)
    assert _receipt_event_as_dict(receipts[0], 1_764_000_000_000_000) == (
        pending.events[0]._asdict()
    )
    return _per_item_us(as_dicts, ROWS, repeat), _per_item_us(as_tuples, ROWS, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = _claimed_rows()

    def by_name() -> list[_DueDataclass]:
        return [
            _DueDataclass(
                r.id,
                r.campaign_id,
                r.channel,
                r.recipient_id,
                r.address,
                r.attempts,
                r.data,
                bool(r.suppressed),
            )
            for r in rows
        ]

    def whole() -> list[DueDelivery]:
        return list(map(DueDelivery._make, rows))

    assert [tuple(vars(d).values()) for d in by_name()] == [tuple(d) for d in whole()]
    variant = (
        CampaignRenderer(campaign_spec())
        .email(recipient(1), unsubscribe_url="https://acme.example/u?t=" + "a" * 120)
        .variant
    )
    due = whole()

    def appended() -> bytes:
        batch = bus_pb2.DispatchBatch()
        for d in due:
            item = bus_pb2.DispatchItem(
                delivery_id=d.id, idempotency_key=d.id, address=d.address, attempt=d.attempts
            )
            item.email.CopyFrom(variant)
            batch.items.append(item)
        return batch.SerializeToString()

    def filled() -> bytes:
        batch = bus_pb2.DispatchBatch()
        for d in due:
            item = batch.items.add()
            item.delivery_id = d.id
            item.idempotency_key = d.id
            item.address = d.address
            item.attempt = d.attempts
            item.email.CopyFrom(variant)
        return batch.SerializeToString()

    assert appended() == filled()
    ids = [d.id for d in due]
    adapters = Transformer()
    as_text = adapters.get_dumper(ids, PyFormat.AUTO)
    as_binary = adapters.get_dumper(BinaryArray(ids), PyFormat.AUTO)
    assert as_binary.format != as_text.format

    def dumped_as_text() -> object:
        return as_text.dump(ids)

    def dumped_as_binary() -> object:
        return as_binary.dump(BinaryArray(ids))

    print(f"{ROWS} claimed rows, best of {args.repeat}:")
    print(f"  row → frozen dataclass by name   {_per_item_us(by_name, ROWS, args.repeat):6.2f} µs")
    print(f"  row → DueDelivery._make          {_per_item_us(whole, ROWS, args.repeat):6.2f} µs")
    print(f"{ROWS} email items ({len(variant.SerializeToString()):,} bytes each) into a batch:")
    print(f"  built, appended, serialized      {_per_item_us(appended, ROWS, args.repeat):6.2f} µs")
    print(f"  added, filled, serialized        {_per_item_us(filled, ROWS, args.repeat):6.2f} µs")
    print(f"{ROWS} delivery ids bound as one array parameter, per id:")
    text_us = _per_item_us(dumped_as_text, ROWS, args.repeat)
    binary_us = _per_item_us(dumped_as_binary, ROWS, args.repeat)
    print(f"  a list, text form                {text_us:6.2f} µs")
    print(f"  a BinaryArray, binary form       {binary_us:6.2f} µs")
    dict_us, tuple_us = _accepted_rows(args.repeat)
    print(f"{ROWS} accepted deliveries' rows at submit, built and formatted for COPY:")
    print(f"  a dict, read back by column      {dict_us:6.2f} µs")
    print(f"  a NewDelivery tuple, as it is    {tuple_us:6.2f} µs")
    dict_us, tuple_us = _receipt_events(args.repeat)
    print(f"{ROWS} receipts' ledger events, built and formatted for COPY:")
    print(f"  a dict from event_row's keywords {dict_us:6.2f} µs")
    print(f"  a LedgerRow tuple, as it is      {tuple_us:6.2f} µs")


if __name__ == "__main__":
    main()
