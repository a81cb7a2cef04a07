"""The orchestrator's CPU per delivery in the store's three write paths, in-process.

    uv run python bench/bench_store_paths.py [--recipients 20000] [--runs 3]

On a throwaway PostgreSQL database (or ``--database-url``): a campaign of
``--recipients`` email recipients submitted through ``CampaignIntake``, every
delivery claimed and marked QUEUED in one claim, then a SENT receipt for each
applied in flushes of 2,000 (the collector's ``APPLY_CHUNK``). Each path is
timed as this process's CPU (``time.process_time``: Python, psycopg and
SQLAlchemy, not the server) and wall time, per delivery; the median of the
runs, each on a fresh campaign.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from harness import campaign_spec, recipient

from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

ADMIN_URL = "postgresql://postgres@127.0.0.1/postgres"
APPLY_CHUNK = 2000
PATHS = ("submit", "claim and QUEUED mark", "receipts")


@contextmanager
def _throwaway_database() -> Iterator[str]:
    name = f"brandcast_paths_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(step: Callable[[], object], count: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    step()
    return (
        (time.process_time() - cpu) / count * 1e6,
        (time.perf_counter() - wall) / count * 1e6,
    )


def _one_run(store: Store, recipients: int) -> dict[str, tuple[float, float]]:
    spec = campaign_spec(social=False)
    spec.channels.sms.enabled = False
    spec.audience.extend(recipient(i) for i in range(recipients))
    request = campaign_service_pb2.SubmitCampaignRequest(spec=spec)
    submitted: list[str] = []
    result = {"submit": _timed(lambda: submitted.append(_submit(store, request)), recipients)}
    campaign_id = submitted[0]
    claimed: list[str] = []

    def claim_and_mark() -> None:
        with store.claim_due(recipients, channel=campaign_pb2.CHANNEL_EMAIL) as claim:
            claimed.extend(d.id for d in claim.deliveries)
            claim.mark_queued(campaign_id, claimed)

    result["claim and QUEUED mark"] = _timed(claim_and_mark, recipients)
    assert len(claimed) == recipients
    flushes = [
        [
            bus_pb2.DeliveryReceipt(
                delivery_id=delivery_id,
                campaign_id=campaign_id,
                channel=campaign_pb2.CHANNEL_EMAIL,
                status=campaign_pb2.DELIVERY_STATUS_SENT,
                attempts=1,
                provider="null",
                provider_message_id=f"p-{delivery_id}",
            )
            for delivery_id in claimed[start : start + APPLY_CHUNK]
        ]
        for start in range(0, recipients, APPLY_CHUNK)
    ]

    def apply_all() -> None:
        for flush in flushes:
            store.apply_receipts(flush)

    result["receipts"] = _timed(apply_all, recipients)
    progress = store.progress(campaign_id)
    assert progress is not None
    sent = sum(c.sent for c in progress[1])
    assert sent == recipients, f"{sent} of {recipients} SENT"
    return result


def _submit(store: Store, request: campaign_service_pb2.SubmitCampaignRequest) -> str:
    return CampaignIntake(store).submit(request).campaign.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="", help="default: a throwaway database")
    parser.add_argument(
        "--setup-sql",
        action="append",
        default=[],
        help="a statement run once the schema is in place, before the runs (repeatable): "
        'to compare a setting, e.g. "ALTER TABLE deliveries SET (fillfactor = 85)"',
    )
    args = parser.parse_args()
    with _throwaway_database() as throwaway:
        store = Store.open(args.database_url or throwaway)
        if args.setup_sql:
            with store.engine.begin() as conn:
                for statement in args.setup_sql:
                    conn.exec_driver_sql(statement)
        try:
            runs = [_one_run(store, args.recipients) for _ in range(args.runs)]
        finally:
            store.close()
    print(f"{args.recipients:,} email deliveries, median of {args.runs} runs, per delivery:")
    for path in PATHS:
        cpu = statistics.median(run[path][0] for run in runs)
        wall = statistics.median(run[path][1] for run in runs)
        print(f"  {path:24s} {cpu:6.1f} µs CPU  {wall:6.1f} µs wall")


if __name__ == "__main__":
    main()
