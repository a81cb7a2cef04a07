"""PostgreSQL's CPU for claiming and marking deliveries QUEUED, two ways.

    uv run python bench/bench_claim_statements.py [--rows 100000] [--round 1000]

- "lock, then update": the dispatcher's statements, ``SELECT … FOR UPDATE SKIP
  LOCKED`` over the outbox index, then ``UPDATE … WHERE id = ANY(…)`` of the
  claimed ids (what ``Store.claim_due`` and ``Claim.mark_queued`` send);
- "one update": ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``.

A throwaway database holds a table shaped like ``deliveries`` (its columns,
fillfactor, the generated ``in_outbox`` column and the four indexes), filled
with ``--rows`` pending deliveries on each of two channels; each variant claims
its own channel in rounds of ``--round`` rows. The server backend's CPU (from
/proc) is divided by the rows. Both orders run, each on a fresh table: the
first variant to touch the table also pays for setting its pages' hint bits.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable

import psycopg

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1/postgres")

_SCHEMA = """
CREATE TABLE d (
    id text PRIMARY KEY, campaign_id text NOT NULL, channel int NOT NULL,
    recipient_id text NOT NULL, address text NOT NULL, status int NOT NULL,
    status_rank int NOT NULL, attempts int NOT NULL DEFAULT 0,
    provider text NOT NULL DEFAULT '', provider_message_id text NOT NULL DEFAULT '',
    error_code text NOT NULL DEFAULT '', error_message text NOT NULL DEFAULT '',
    public_url text NOT NULL DEFAULT '', idempotency_key text NOT NULL,
    not_before_us bigint NOT NULL, created_us bigint NOT NULL, updated_us bigint NOT NULL,
    seq bigint NOT NULL,
    in_outbox int GENERATED ALWAYS AS (CASE WHEN status_rank <= 2 THEN 1 ELSE 0 END) STORED,
    prev_status int NOT NULL DEFAULT 0
) WITH (fillfactor = 85);
CREATE INDEX d_campaign_id ON d (campaign_id, id);
CREATE INDEX d_intake ON d (campaign_id, id) WHERE seq = 1;
CREATE INDEX d_due ON d (channel, not_before_us, campaign_id) WHERE in_outbox = 1;
CREATE INDEX d_campaign_outbox ON d (campaign_id, channel) WHERE in_outbox = 1;
"""
_FILL = """
INSERT INTO d (id, campaign_id, channel, recipient_id, address, status, status_rank,
               idempotency_key, not_before_us, created_us, updated_us, seq)
SELECT lpad(i::text, 36, '0'), 'c1', 1 + i %% 2, 'r' || i, 'person' || i || '@example.com',
       1, 1, lpad(i::text, 36, '0'), 0, 0, 0, 1
FROM generate_series(1, %s) AS i
"""
_CLAIM = (
    "SELECT id FROM d WHERE in_outbox = 1 AND channel = %(channel)s AND not_before_us <= 1 "
    "ORDER BY channel, not_before_us, campaign_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)
_MARK = "status = 3, status_rank = 3, seq = 2, prev_status = status, updated_us = 1"


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lock_then_update(conn: psycopg.Connection, channel: int, limit: int) -> int:
    params = {"channel": channel, "limit": limit}
    ids = [row[0] for row in conn.execute(_CLAIM, params)]
    conn.execute(f"UPDATE d SET {_MARK} WHERE id = ANY(%s) AND status_rank < 3", (ids,))
    conn.commit()
    return len(ids)


def _one_update(conn: psycopg.Connection, channel: int, limit: int) -> int:
    params = {"channel": channel, "limit": limit}
    claimed = conn.execute(f"UPDATE d SET {_MARK} WHERE id IN ({_CLAIM}) RETURNING id", params)
    count = len(claimed.fetchall())
    conn.commit()
    return count


Variant = Callable[[psycopg.Connection, int, int], int]
VARIANTS: dict[str, Variant] = {"lock, then update": _lock_then_update, "one update": _one_update}


def _run(url: str, order: list[str], rows: int, limit: int) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("DROP TABLE IF EXISTS d")
        setup.execute(_SCHEMA)
        setup.execute(_FILL, (2 * rows,))
        setup.execute("VACUUM ANALYZE d")
    cpu: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        pid = conn.info.backend_pid
        for channel, name in enumerate(order, start=1):
            before, done = _backend_cpu(pid), 0
            while (claimed := VARIANTS[name](conn, channel, limit)) > 0:
                done += claimed
            assert done == rows, f"{name} claimed {done} of {rows}"
            cpu[name] = (_backend_cpu(pid) - before) / rows * 1e6
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="deliveries per variant")
    parser.add_argument("--round", type=int, default=1000, help="deliveries per claim")
    args = parser.parse_args()
    name = f"brandcast_claim_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        started = time.perf_counter()
        orders = [list(VARIANTS), list(reversed(VARIANTS))]
        runs = [(order, _run(url, order, args.rows, args.round)) for order in orders]
        print(
            f"server CPU per claimed and marked delivery "
            f"({args.rows:,} per variant, rounds of {args.round:,}):"
        )
        for variant in VARIANTS:
            first = next(cpu[variant] for order, cpu in runs if order[0] == variant)
            second = next(cpu[variant] for order, cpu in runs if order[0] != variant)
            print(f"  {variant:18s} run first: {first:5.1f} µs   run second: {second:5.1f} µs")
        print(f"({time.perf_counter() - started:.0f} s)")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
