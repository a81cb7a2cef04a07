"""A real `brandcast-email worker` process on the test's vhost delivers dispatch batches
to the in-process SMTP sink and publishes receipts on brandcast.receipts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.email.sandbox.receipts import receipts_reader
from brandcast.email.sandbox.samples import sample_batch, sample_item
from brandcast.email.sandbox.smtp_sink import SinkController, start_sink, wait_for_messages
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import campaign_pb2

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SENT = campaign_pb2.DELIVERY_STATUS_SENT
FAILED = campaign_pb2.DELIVERY_STATUS_FAILED


def worker_command() -> list[str]:
    script = Path(sys.executable).parent / "brandcast-email"
    if script.exists():
        return [str(script), "worker", "--concurrency", "1"]
    return [sys.executable, "-m", "brandcast.email.cli", "worker", "--concurrency", "1"]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkController]:
    controller, _ = start_sink(tmp_path / "mail")
    yield controller
    controller.stop()


@pytest.fixture
def worker(
    broker_url: str, sink: SinkController, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "BROKER_URL": broker_url,
        "EMAIL_PROVIDERS": "smtp",
        "EMAIL_SMTP_HOST": "127.0.0.1",
        "EMAIL_SMTP_PORT": str(sink.port),
        "EMAIL_RATE_LIMIT": "0",
        "EMAIL_MAX_ATTEMPTS": "3",
        "EMAIL_RETRY_BASE_DELAY": "0.2",
        "EMAIL_RETRY_MAX_DELAY": "1",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        worker_command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    yield process
    if process.poll() is None:
        process.terminate()  # Celery's warm shutdown
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # our own session: worker + its children
            process.wait(10)
    log.close()


def test_worker_delivers_a_batch_and_publishes_receipts(
    broker_url: str, sink: SinkController, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    sink.handler.fail("greylisted@example.org", 451, times=1)
    items = [
        sample_item("ann@example.org", 1, subject="Grüße aus Köln ✓"),
        sample_item("bob@example.org", 2),
        sample_item("greylisted@example.org", 3),
        sample_item("gone+550@example.org", 4),
        sample_item("cy@example.org", 5),
    ]
    batch = sample_batch(items)
    with receipts_reader(broker_url) as reader, BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        publisher.publish_dispatch(batch)
        try:
            seen = reader.wait(receipts=5, timeout=90)
        except TimeoutError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-4000:]) from None
    by_delivery = {r.delivery_id: r for r in seen.receipts}
    assert set(by_delivery) == {i.delivery_id for i in items}
    statuses = {i.address: by_delivery[i.delivery_id] for i in items}
    for address in ("ann@example.org", "bob@example.org", "cy@example.org"):
        receipt = statuses[address]
        assert (receipt.status, receipt.provider, receipt.attempts) == (SENT, "smtp", 1)
        assert receipt.provider_message_id.endswith("@acme.example>")
        assert receipt.campaign_id == "c-sample"
    retried = statuses["greylisted@example.org"]
    assert (retried.status, retried.attempts) == (SENT, 2)
    failed = statuses["gone+550@example.org"]
    assert (failed.status, failed.error_code, failed.attempts) == (FAILED, "550", 1)

    arrived = wait_for_messages(sink.handler.directory, 4)
    assert sorted(e["rcpt_tos"][0] for e in arrived) == [
        "ann@example.org",
        "bob@example.org",
        "cy@example.org",
        "greylisted@example.org",
    ]
    assert {e["message_id"] for e in arrived} == {
        statuses[e["rcpt_tos"][0]].provider_message_id for e in arrived
    }
    assert "Grüße aus Köln ✓" in {e["subject"] for e in arrived}
    assert len(seen.receipts) == 5, "no duplicate receipts"
    assert worker.poll() is None, "the worker keeps running"
