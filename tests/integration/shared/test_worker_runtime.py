"""The shared adapter runtime on a real Celery worker process and real RabbitMQ."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from kombu import Connection
from kombu.message import Message

from brandcast.shared import bus_compression, topology
from brandcast.shared.bus import BusPublisher, celery_task_headers
from brandcast.shared.bus_codec import batch_from_message
from brandcast.shared.delivery import Outcome, RetryPolicy
from brandcast.shared.worker import create_worker_app, register_delivery_task
from brandcast.v1 import bus_pb2, campaign_pb2
from tests.process_groups import stop_group

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def worker(broker_url: str) -> Iterator[subprocess.Popen[bytes]]:
    yield from _run_worker(broker_url)


def _run_worker(broker_url: str, **env_vars: str) -> Generator[subprocess.Popen[bytes]]:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
    env = {**os.environ, "BROKER_URL": broker_url, "PYTHONPATH": str(HERE), **env_vars}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "probe_adapter.py"), "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        # Also when the caller closes the generator early (GeneratorExit at
        # the yield): without this a closing test left its worker running.
        stop_group(proc)


def _batch(*addresses: str) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()),
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            bus_pb2.DispatchItem(delivery_id=f"d-{a}", idempotency_key=f"k-{a}", address=a)
            for a in addresses
        ],
    )


def _collect_receipts(
    broker_url: str,
    expected: int,
    timeout: float = 30.0,
    compressions: list[str | None] | None = None,
) -> dict[str, bus_pb2.DeliveryReceipt]:
    """The receipts of ``expected`` deliveries; ``compressions`` gets each
    message's ``compression`` header."""
    receipts: dict[str, bus_pb2.DeliveryReceipt] = {}
    deadline = time.monotonic() + timeout
    with Connection(broker_url) as conn:
        queue = topology.receipts_queue()(conn.default_channel)
        queue.declare()
        while len(receipts) < expected and time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            assert message.properties["type"] == topology.RECEIPT_BATCH_TYPE
            if compressions is not None:
                compressions.append(message.headers.get("compression"))
            batch = bus_pb2.ReceiptBatch.FromString(message.body)
            receipts.update({r.delivery_id: r for r in batch.receipts})
    return receipts


def _dead_letters(
    broker_url: str, channel: str, expected: int = 1, timeout: float = 20.0
) -> list[bus_pb2.DispatchBatch]:
    """The batches the worker parked, which it writes as named protobuf task messages.

    The worker publishes a batch's receipts before its dead letter, so a test
    that has all its receipts may still be ahead of the parked batch: wait for
    ``expected`` of them (and take any more already there)."""
    found: list[bus_pb2.DispatchBatch] = []
    deadline = time.monotonic() + timeout
    with Connection(broker_url) as conn:
        queue = topology.dead_letter_queue(channel)(conn.default_channel)
        queue.declare()
        while True:
            message = queue.get(no_ack=True)
            if message is None:
                if len(found) >= expected or time.monotonic() >= deadline:
                    return found
                time.sleep(0.05)
                continue
            assert message.content_type == topology.PROTOBUF_CONTENT_TYPE
            assert message.properties["type"] == topology.DISPATCH_BATCH_TYPE
            assert message.headers["task"] == topology.task_name(channel)
            found.append(batch_from_message(message.body, message.content_type))


def _publish_raw(
    broker_url: str,
    body: bytes | str,
    content_type: str,
    encoding: str,
    extra_headers: dict[str, str] | None = None,
) -> None:
    """A task message for the SMS worker, its body written by the caller."""
    headers, properties = celery_task_headers(topology.task_name("sms"))
    headers.update(extra_headers or {})
    with Connection(broker_url) as conn:
        conn.Producer().publish(
            body,
            exchange=topology.dispatch_exchange,
            routing_key="sms",
            headers=headers,
            content_type=content_type,
            content_encoding=encoding,
            delivery_mode=2,
            **properties,
        )


def _publish_legacy(broker_url: str, batch: bus_pb2.DispatchBatch) -> None:
    """``batch`` as the previous release published it: base64 in a Celery JSON body."""
    payload = base64.b64encode(batch.SerializeToString()).decode("ascii")
    body = json.dumps(
        [[payload], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    )
    _publish_raw(broker_url, body, "application/json", "utf-8")


def _raw_dead_letter(broker_url: str, timeout: float = 20.0) -> Message:
    bus_compression.register()  # kombu decompresses a parked body marked zstd on reading
    deadline = time.monotonic() + timeout
    with Connection(broker_url) as conn:
        queue = topology.dead_letter_queue("sms")(conn.default_channel)
        queue.declare()
        while time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is not None:
                return message
            time.sleep(0.05)
    raise AssertionError(f"nothing reached the dead-letter queue in {timeout}s")


def test_sent_permanent_and_exhausted_deliveries(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    with BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(_batch("ok-1", "permanent-1", "transient-1", "ok-2"))

    receipts = _collect_receipts(broker_url, expected=4)

    assert receipts["d-ok-1"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d-ok-1"].provider_message_id == "p-d-ok-1"
    assert receipts["d-ok-2"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d-permanent-1"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d-permanent-1"].error_code == "21211"
    exhausted = receipts["d-transient-1"]
    assert exhausted.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert exhausted.attempts == 3
    (parked,) = _dead_letters(broker_url, "sms")
    assert [i.delivery_id for i in parked.items] == ["d-transient-1"]


def test_a_batch_from_an_impossible_time_is_still_delivered(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    """Its queue lag cannot be measured; raised outside the task's handling, the
    error would have Celery acknowledge the batch with nothing sent."""
    batch = _batch("ok-1", "ok-2")
    batch.created_at.seconds = 10**12  # after the year 9999
    with BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(batch)
    receipts = _collect_receipts(broker_url, expected=2)
    assert {r.status for r in receipts.values()} == {campaign_pb2.DELIVERY_STATUS_SENT}


def test_poison_message_is_bounded_and_dead_lettered(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    with BusPublisher(broker_url) as publisher:
        publisher.publish_dispatch(_batch("poison"))

    receipts = _collect_receipts(broker_url, expected=1)

    assert receipts["d-poison"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d-poison"].error_code == "poison_message"
    (parked,) = _dead_letters(broker_url, "sms")
    assert [i.delivery_id for i in parked.items] == ["d-poison"]
    assert worker.poll() is None, "the worker must survive a poison message"


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "headers"),
    [
        (b"\x07 not a batch", topology.PROTOBUF_CONTENT_TYPE, "binary", {}),
        (json.dumps([["%%%not-base64"], {}, {}]), "application/json", "utf-8", {}),
        # Marked zstd but not: kombu alone would have Celery acknowledge (drop) it.
        (
            b"\x28\xb5\x2f\xfd not a frame",
            topology.PROTOBUF_CONTENT_TYPE,
            "binary",
            {"compression": bus_compression.ZSTD_CONTENT_TYPE},
        ),
    ],
    ids=["protobuf", "legacy-json", "bad-zstd"],
)
def test_undecodable_message_goes_straight_to_dead_letters(
    broker_url: str,
    worker: subprocess.Popen[bytes],
    body: bytes | str,
    content_type: str,
    encoding: str,
    headers: dict[str, str],
) -> None:
    _publish_raw(broker_url, body, content_type, encoding, headers)

    message = _raw_dead_letter(broker_url)

    # py-amqp hands a utf-8 body over as text, a binary one as bytes.
    assert message.body == body, "parked as it came, for inspection"
    assert message.content_type == content_type
    assert worker.poll() is None


def test_compressed_batches_are_delivered_and_answered_compressed(broker_url: str) -> None:
    """BUS_COMPRESSION=zstd end to end on a real worker: the orchestrator's batch,
    the worker's receipts, Celery's retries of the throttled item and its dead letter."""
    bus_compression.register()  # kombu decompresses the receipts on reading
    workers = _run_worker(broker_url, BUS_COMPRESSION="zstd")
    next(workers)
    try:
        with BusPublisher(broker_url, compression="zstd") as publisher:
            publisher.publish_dispatch(_batch("ok-1", "permanent-1", "transient-1"))
        compressions: list[str | None] = []

        receipts = _collect_receipts(broker_url, expected=3, compressions=compressions)

        assert receipts["d-ok-1"].status == campaign_pb2.DELIVERY_STATUS_SENT
        assert receipts["d-permanent-1"].error_code == "21211"
        assert receipts["d-transient-1"].attempts == 3, "two retries through Celery"
        assert compressions
        assert set(compressions) == {bus_compression.ZSTD_CONTENT_TYPE}
        parked = _raw_dead_letter(broker_url)
        assert parked.headers["compression"] == bus_compression.ZSTD_CONTENT_TYPE
        batch = batch_from_message(parked.body, parked.content_type)
        assert [i.delivery_id for i in batch.items] == ["d-transient-1"]
    finally:
        workers.close()


def test_a_batch_queued_in_the_old_json_format_is_still_delivered(
    broker_url: str, worker: subprocess.Popen[bytes]
) -> None:
    """Rolling upgrade: what an older orchestrator queued, a new worker delivers; its
    retries go out in the new format, and its exhausted items are parked in it."""
    _publish_legacy(broker_url, _batch("ok-1", "permanent-1", "transient-1"))

    receipts = _collect_receipts(broker_url, expected=3)

    assert receipts["d-ok-1"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert receipts["d-permanent-1"].error_code == "21211"
    assert receipts["d-transient-1"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipts["d-transient-1"].attempts == 3, "two retries through Celery, as protobuf"
    (parked,) = _dead_letters(broker_url, "sms")
    assert [i.delivery_id for i in parked.items] == ["d-transient-1"]


def test_old_json_messages_are_refused_once_turned_off(broker_url: str) -> None:
    workers = _run_worker(broker_url, BUS_ACCEPT_JSON="false")
    proc = next(workers)
    try:
        _publish_legacy(broker_url, _batch("ok-1"))

        message = _raw_dead_letter(broker_url)

        assert message.content_type == "application/json"
        assert _collect_receipts(broker_url, expected=1, timeout=1) == {}, "nothing was sent"
        assert proc.poll() is None
    finally:
        workers.close()


class _Loud:
    """Pickled, it names a function to call when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_a_pickled_message_is_never_loaded(
    broker_url: str, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    marker = tmp_path / "loaded"
    body = pickle.dumps([[_Loud(marker)], {}, {}])
    _publish_raw(broker_url, body, "application/x-python-serialize", "binary")

    try:
        message = _raw_dead_letter(broker_url)
    finally:
        assert not marker.exists(), "the worker unpickled the message"
    assert message.content_type == "application/x-python-serialize"


def test_celery_publishes_a_task_as_named_protobuf(broker_url: str) -> None:
    """The path of a retry (``Task.retry`` is ``apply_async`` with the request's
    options): the batch's bytes as the body, with the content type and the type."""
    app = create_worker_app("sms", broker_url)
    task = register_delivery_task(
        app,
        "sms",
        lambda: lambda batch, item: Outcome(provider="unused"),
        broker_url=broker_url,
        policy=RetryPolicy(max_attempts=1),
    )
    batch = _batch("ok-1", "ok-2")
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()

    task.apply_async(args=[batch.SerializeToString()], countdown=5)

    with Connection(broker_url) as conn:
        queue = topology.dispatch_queue("sms")(conn.default_channel)
        deadline = time.monotonic() + 10
        while (message := queue.get(no_ack=True)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert message.content_type == topology.PROTOBUF_CONTENT_TYPE
    assert message.properties["type"] == topology.DISPATCH_BATCH_TYPE
    assert message.headers["task"] == topology.task_name("sms")
    assert message.headers["eta"] is not None
    assert message.body == batch.SerializeToString()
