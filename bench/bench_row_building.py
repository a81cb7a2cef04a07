"""Per-delivery Python costs of a dispatch round that do not touch the network.

    uv run python bench/bench_row_building.py

- a claimed row into a ``DueDelivery``: the fields read by name from the
  SQLAlchemy row into a frozen dataclass (before) against the row taken whole
  by ``DueDelivery._make`` (now);
- a rendered email into its batch: a finished ``DispatchItem`` appended (which
  copies it) against one added to the batch and filled in place (now);
- a list of delivery ids bound as one PostgreSQL array parameter: psycopg's
  text form for a plain list (before) against the binary form a
  ``BinaryArray`` gets (now).

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
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import create_engine, text

from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.store import DueDelivery
from brandcast.orchestrator.store._bulk import BinaryArray
from brandcast.v1 import bus_pb2

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


if __name__ == "__main__":
    main()
