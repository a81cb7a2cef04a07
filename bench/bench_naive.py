"""The naive design's throughput on the same broker, database and sinks as ours.

    uv run python bench/bench_naive.py --recipients 2000 --providers sandbox

Recipients × (email + SMS) are rendered by our renderer (same content), inserted
as pending rows in one transaction, and enqueued as one Celery task each; a
``celery worker`` process (prefork, ``--concurrency``) sends each one and
commits its receipt row. Timed from the first render to the last receipt row.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from celery import Celery
from harness import campaign_spec, recipient, throwaway_postgres, throwaway_vhost
from local_stack import BIN
from sinks import running_sinks

from brandcast.orchestrator.rendering import CampaignRenderer

HERE = Path(__file__).resolve().parent


@dataclass
class NaiveResult:
    deliveries: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds


def _pending(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM naive_deliveries WHERE status = 'pending'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_drained(database_url: str, worker: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pending(database_url):
        if worker.poll() is not None:
            raise RuntimeError("the naive worker exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{_pending(database_url)} deliveries still pending")
        time.sleep(0.1)


def _campaign(producer: Celery, database_url: str, recipients: int) -> None:
    renderer = CampaignRenderer(campaign_spec(social=False), campaign_id=str(uuid.uuid4()))
    jobs: list[tuple[str, str, str]] = []
    emails, texts = [], []
    for i in range(recipients):
        person = recipient(i)
        email = renderer.email(person, unsubscribe_url=f"https://acme.example/u/{i}").variant
        sms = renderer.sms(person).variant
        email_id, sms_id = str(uuid.uuid4()), str(uuid.uuid4())
        jobs += [(email_id, "email", person.email), (sms_id, "sms", person.phone)]
        emails.append((email_id, person.email, email))
        texts.append((sms_id, person.phone, sms.text))
    with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO naive_deliveries (id, channel, address, status) "
            "VALUES (%s, %s, %s, 'pending')",
            jobs,
        )
    for delivery_id, address, variant in emails:
        variant_bodies = (variant.text, variant.html)
        producer.send_task(
            "naive.send_email",
            args=[delivery_id, address, variant.from_address, variant.subject, *variant_bodies],
        )
    for delivery_id, address, text in texts:
        producer.send_task("naive.send_sms", args=[delivery_id, address, "+14155550100", text])


def measure(
    recipients: int, *, providers: str = "sandbox", concurrency: int = 2, timeout: float = 1800
) -> NaiveResult:
    with (
        tempfile.TemporaryDirectory(prefix="brandcast-naive-") as tmp,
        throwaway_vhost() as broker_url,
        throwaway_postgres() as database_url,
        running_sinks(Path(tmp)) as sinks,
    ):
        plain_url = database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain_url) as conn:
            from naive.app import SCHEMA  # noqa: PLC0415

            conn.execute(SCHEMA)
        env = {
            **os.environ,
            "NAIVE_BROKER_URL": broker_url,
            "NAIVE_DATABASE_URL": plain_url,
            "NAIVE_SMTP_PORT": str(sinks.smtp_port),
            "NAIVE_SMS_URL": sinks.sms_url,
            "NAIVE_PROVIDERS": providers,
            "PYTHONPATH": str(HERE),
        }
        worker = subprocess.Popen(
            [
                str(BIN / "celery"),
                *("-A", "naive.app", "worker", "--loglevel", "WARNING"),
                *("--concurrency", str(concurrency), "--without-gossip", "--without-mingle"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "worker.log").open("wb"),
        )
        # The producer is its own app, as a separate service would be: it knows task names.
        producer = Celery("naive-producer", broker=broker_url, set_as_current=False)
        try:
            _campaign(producer, plain_url, 5)  # warm-up: the worker is consuming
            _wait_drained(plain_url, worker, 120)
            started = time.perf_counter()
            _campaign(producer, plain_url, recipients)
            _wait_drained(plain_url, worker, timeout)
            elapsed = time.perf_counter() - started
        finally:
            producer.close()
            worker.terminate()
            worker.wait(30)
    return NaiveResult(recipients * 2, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--providers", choices=["null", "sandbox"], default="sandbox")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    result = measure(args.recipients, providers=args.providers, concurrency=args.concurrency)
    print(
        f"naive ({args.providers}): {result.deliveries} deliveries in {result.seconds:.1f}s: "
        f"{result.per_second:,.0f}/s"
    )


if __name__ == "__main__":
    main()
