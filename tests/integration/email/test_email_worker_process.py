"""Real `brandcast-email worker` processes on the test's vhost deliver dispatch batches
to the in-process SMTP sink and publish receipts on brandcast.receipts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
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


class Workers:
    """Starts worker processes (each in its own session) and always stops them."""

    def __init__(self, broker_url: str, smtp_port: int, log_dir: Path) -> None:
        self._env = {
            **os.environ,
            "BROKER_URL": broker_url,
            "EMAIL_PROVIDERS": "smtp",
            "EMAIL_SMTP_HOST": "127.0.0.1",
            "EMAIL_SMTP_PORT": str(smtp_port),
            "EMAIL_RATE_LIMIT": "0",
            "EMAIL_MAX_ATTEMPTS": "3",
            "EMAIL_RETRY_BASE_DELAY": "0.2",
            "EMAIL_RETRY_MAX_DELAY": "1",
        }
        self._log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self._log_dir / f"worker-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                worker_command(),
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self._log_dir.glob("worker-*.log")))

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool children (its own session), as a crash would."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # Celery's warm shutdown
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    self.kill(process)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkController]:
    controller, _ = start_sink(tmp_path / "mail")
    yield controller
    controller.handler.release()
    controller.stop()


@pytest.fixture
def workers(broker_url: str, sink: SinkController, tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Workers(broker_url, sink.port, logs)
    yield started
    started.stop_all()


def test_worker_delivers_a_batch_and_publishes_receipts(
    broker_url: str, sink: SinkController, workers: Workers
) -> None:
    worker = workers.start()
    sink.handler.fail("greylisted@example.org", 451, times=1)
    items = [
        sample_item("ann@example.org", 1, subject="Grüße aus Köln ✓"),
        sample_item("bob@example.org", 2),
        sample_item("greylisted@example.org", 3),
        sample_item("gone+550@example.org", 4),
        sample_item("cy@example.org", 5),
    ]
    with receipts_reader(broker_url) as reader, BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        publisher.publish_dispatch(sample_batch(items))
        try:
            seen = reader.wait(receipts=5, timeout=90)
        except TimeoutError:
            raise AssertionError(workers.logs()) from None
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


def wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_no_delivery(
    broker_url: str, sink: SinkController, workers: Workers
) -> None:
    first = workers.start()
    sink.handler.hold("held@example.org")
    items = [
        sample_item("early@example.org", 1),
        sample_item("held@example.org", 2),
        sample_item("late@example.org", 3),
    ]
    with ExitStack() as stack:
        reader = stack.enter_context(receipts_reader(broker_url))
        publisher = stack.enter_context(BusPublisher(broker_url))
        publisher.declare_topology()
        publisher.publish_dispatch(sample_batch(items))
        try:
            # The items are sent at once; the held one hangs at the server while the
            # others went through: kill the worker now.
            wait_until(lambda: sink.handler.waiting == 1, 90, "the held RCPT")
        except AssertionError:
            raise AssertionError(workers.logs()) from None
        assert len(wait_for_messages(sink.handler.directory, 2)) == 2
        Workers.kill(first)
        assert reader.drain_now().receipts == [], "no receipt before the batch completed"
        sink.handler.release()

        workers.start()
        try:
            seen = reader.wait(receipts=3, timeout=90)
        except TimeoutError:
            raise AssertionError(workers.logs()) from None
    assert sorted(r.delivery_id for r in seen.receipts) == sorted(i.delivery_id for i in items)
    assert {r.status for r in seen.receipts} == {SENT}
    arrived = wait_for_messages(sink.handler.directory, 5)
    # At-least-once: the items sent before the crash went out twice, recognisably so.
    for address in ("early@example.org", "late@example.org"):
        twice = [e for e in arrived if e["rcpt_tos"] == [address]]
        assert len(twice) == 2, address
        assert twice[0]["message_id"] == twice[1]["message_id"]
    assert [e["rcpt_tos"] for e in arrived].count(["held@example.org"]) == 1
