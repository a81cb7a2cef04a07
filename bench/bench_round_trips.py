"""What one round trip costs the orchestrator, and the floor under its latency.

    uv run python bench/bench_round_trips.py [--repeat 1000]

A one-recipient campaign takes about 48 statements (PostgreSQL's statement
log of ``bench_latency.py``); this measures the CPU the calling process spends
on one small read, through each layer the store adds (psycopg alone,
SQLAlchemy Core on a held connection, the store's pooled read), and the
wall time of the two durable waits on the path: a one-row commit and a
confirmed persistent publish. A throwaway database and vhost on the local
servers.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
from harness import throwaway_postgres, throwaway_vhost
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import create_engine

from brandcast.orchestrator.store import Store, _ledger


def cpu_per_call(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """CPU and wall microseconds per call, after a warm-up."""
    for _ in range(min(100, repeat)):
        fn()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeat):
        fn()
    return (
        (time.process_time() - cpu) / repeat * 1e6,
        (time.perf_counter() - wall) / repeat * 1e6,
    )


def wall_p50(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args()
    campaign_id = str(uuid.uuid4())
    with throwaway_postgres() as url, throwaway_vhost() as broker_url:
        store = Store.open(url)
        raw = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        raw.autocommit = True
        query = "SELECT channel, status, count FROM delivery_counters WHERE campaign_id = %s"
        held = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # A pool whose connections never leave autocommit: no switch at checkout.
        autocommit = create_engine(store.engine.url, pool_size=2, isolation_level="AUTOCOMMIT")

        def autocommit_read() -> object:
            with autocommit.connect() as conn:
                return conn.execute(_ledger.COUNTS, {"campaign_id": campaign_id}).all()

        reads = {
            "psycopg alone": lambda: raw.execute(query, (campaign_id,)).fetchall(),
            "SQLAlchemy Core, held connection": lambda: held.execute(
                _ledger.COUNTS, {"campaign_id": campaign_id}
            ).all(),
            "Store.counters() (pool checkout)": lambda: store.counters(campaign_id),
            "checkout of an autocommit-only pool": autocommit_read,
        }
        print("one small read (the counters of a campaign):")
        for label, fn in reads.items():
            cpu, wall = cpu_per_call(fn, args.repeat)
            print(f"  {label:34s} {cpu:6.0f} µs CPU  {wall:6.0f} µs wall")
        held.close()
        autocommit.dispose()

        raw.autocommit = False
        raw.execute("CREATE TABLE commit_probe (n integer)")
        raw.commit()

        def commit() -> None:
            raw.execute("INSERT INTO commit_probe VALUES (1)")
            raw.commit()

        print(f"one-row commit (fsync):             p50 {wall_p50(commit, 200):.2f} ms")
        raw.close()
        store.close()

        with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
            queue = Queue("probe", Exchange("probe", type="direct"), routing_key="probe")
            producer = Producer(connection)
            producer.publish(b"", exchange=queue.exchange, routing_key="probe", declare=[queue])

            def publish() -> None:
                producer.publish(
                    b"x" * 2000, exchange=queue.exchange, routing_key="probe", delivery_mode=2
                )

            print(f"confirmed persistent publish:       p50 {wall_p50(publish, 200):.2f} ms")


if __name__ == "__main__":
    main()
