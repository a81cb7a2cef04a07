"""End-to-end throughput and memory: the real processes, RabbitMQ and PostgreSQL.

    uv run python bench/bench_e2e.py --providers null --recipients 100000 --runs 3

Starts the whole stack (``examples/local_stack.py``) on a throwaway vhost and
database, submits campaigns of ``--recipients`` recipients × email + SMS (+ four
social accounts) with ``SubmitCampaignStream`` and times each from the first
byte sent to the last receipt stored. Peak RSS of every process (with its worker
children) is sampled while the campaigns run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import (
    NULL_PROVIDERS_ENV,
    SERVERS,
    UNTHROTTLED_ENV,
    CampaignRun,
    RssSampler,
    median,
    run_campaign,
    server_pids,
    throwaway_postgres,
    throwaway_vhost,
)
from local_stack import start_local_stack
from sqlalchemy import create_engine, text


@dataclass
class StoredSize:
    deliveries: int
    ledger_events: int
    ledger_bytes: int
    deliveries_bytes: int

    def summary(self) -> str:
        per = max(1, self.deliveries)
        return (
            f"ledger: {self.ledger_events:,} events for {self.deliveries:,} deliveries, "
            f"{self.ledger_bytes / 2**20:.1f} MB on disk, {self.ledger_bytes / per:.0f} bytes "
            f"per delivery (the deliveries table: {self.deliveries_bytes / per:.0f} bytes "
            "per delivery)"
        )


def stored_size(database_url: str) -> StoredSize:
    """What the runs left in the database, sizes as PostgreSQL counts them on disk."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    # The ledger is partitioned: its parent holds no rows, the
                    # tree's tables and indexes do.
                    "SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM ledger), "
                    "COALESCE((SELECT sum(pg_total_relation_size(relid)) "
                    "FROM pg_partition_tree('ledger')), pg_total_relation_size('ledger')), "
                    "pg_total_relation_size('deliveries')"
                )
            ).one()
    finally:
        engine.dispose()
    return StoredSize(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


@dataclass
class E2eResult:
    providers: str
    recipients: int
    runs: list[CampaignRun]
    peak_rss_mb: dict[str, float]
    cpu_seconds: dict[str, float]
    #: The database after the runs (the warm-up campaign included): ledger
    #: events and on-disk sizes (tables with their indexes and TOAST).
    stored: StoredSize | None = None

    @property
    def median_per_second(self) -> float:
        return float(median([run.per_second for run in self.runs]))

    @property
    def cpu_us_per_delivery(self) -> float:
        """CPU of our processes and of PostgreSQL and RabbitMQ, per delivery."""
        deliveries = sum(run.deliveries for run in self.runs)
        return sum(self.cpu_seconds.values()) / max(1, deliveries) * 1e6


def measure(
    providers: str, recipients: int, runs: int, *, concurrency: int, social: bool = True
) -> E2eResult:
    env = dict(UNTHROTTLED_ENV)
    if providers == "null":
        env.update(NULL_PROVIDERS_ENV)
    with (
        tempfile.TemporaryDirectory(prefix="brandcast-bench-") as tmp,
        throwaway_vhost() as broker_url,
        throwaway_postgres() as database_url,
    ):
        stack = start_local_stack(
            Path(tmp) / "stack",
            broker_url=broker_url,
            database_url=database_url,
            concurrency=concurrency,
            extra_env=env,
        )
        try:
            pids = {
                name: process.popen.pid
                for name, process in stack.stack.processes.items()
                if process.popen is not None
            }
            # Workers have no port to wait for: a small campaign proves they consume
            # (and lets them finish importing) before anything is timed.
            run_campaign(stack.grpc_address, 20, social=social, timeout=120)
            done: list[CampaignRun] = []
            with RssSampler({**pids, **server_pids()}) as sampler:
                for _ in range(runs):
                    done.append(run_campaign(stack.grpc_address, recipients, social=social))
            peaks = {
                name: rss / 2**20 for name, rss in sampler.peaks.items() if name not in SERVERS
            }
            cpu = dict(sampler.cpu_seconds)
            stored = stored_size(database_url)
        finally:
            stack.stop()
    return E2eResult(providers, recipients, done, peaks, cpu, stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", choices=["null", "sandbox"], default="null")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = measure(args.providers, args.recipients, args.runs, concurrency=args.concurrency)
    if args.json:
        print(json.dumps({**asdict(result), "median_per_second": result.median_per_second}))
        return
    for run in result.runs:
        print(
            f"{run.deliveries} deliveries in {run.seconds:.1f}s "
            f"(submit {run.submit_seconds:.1f}s): {run.per_second:,.0f}/s, {run.failed} failed"
        )
        for reason in run.failure_reasons:
            print(f"  failed: {reason}")
    print(f"median {result.median_per_second:,.0f} deliveries/s")
    for name, mb in sorted(result.peak_rss_mb.items()):
        cpu = result.cpu_seconds.get(name, 0.0)
        print(f"  {name:<16} peak RSS {mb:7.1f} MB  CPU {cpu:6.1f}s")
    for name in SERVERS:
        if name in result.cpu_seconds:
            print(f"  {name:<16} (shared server)   CPU {result.cpu_seconds[name]:6.1f}s")
    print(f"CPU per delivery, every process above: {result.cpu_us_per_delivery:.0f} µs")
    if result.stored is not None:
        print(result.stored.summary())


if __name__ == "__main__":
    main()
