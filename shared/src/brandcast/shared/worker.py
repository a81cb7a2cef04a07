"""The Celery side of an adapter: one worker app per channel and its thin task.

Delivery semantics, in one place for every channel:
- late acks and ``reject_on_worker_lost``: a worker killed mid-batch leaves the
  message on the queue and another worker delivers it again (with the same
  idempotency keys);
- prefetch of one message per process: a batch already carries many deliveries;
- a batch arrives as a protobuf task message (``brandcast.shared.bus_codec``),
  and Celery writes its retries the same way; the JSON messages of earlier
  versions are read while ``BUS_ACCEPT_JSON`` is on, pickle never;
- a message that cannot be decoded is rejected to the dead-letter queue at once;
  an unexpected exception requeues it until the quorum queue's delivery limit
  dead-letters it: nothing loops forever;
- receipts are published (and confirmed) before the message is acked;
- transient failures come back as a smaller batch after a backoff; items whose
  retries are exhausted get failed receipts and their batch is parked in the
  dead-letter queue;
- before each provider call the campaign's control state is checked (see
  ``brandcast.shared.control``): cancelled and paused campaigns' deliveries get
  ``cancelled`` and ``deferred`` receipts instead of a send;
- on SIGTERM (Celery's warm shutdown) the provider calls in flight finish, the
  rest of the batch is published again for another worker, and the process
  exits within ``WORKER_SHUTDOWN_SECONDS``;
- every receipt batch carries the adapter's ``SendingCapacity`` (its configured
  rate limit, and how many answers asked to slow down), which the orchestrator
  paces its release by.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from celery import Celery, Task
from celery.exceptions import Reject
from celery.signals import before_task_publish, worker_shutting_down

from brandcast.shared import bus_codec, bus_compression, telemetry, topology
from brandcast.shared.bus import BusPublisher, transport_options
from brandcast.shared.config import CommonSettings
from brandcast.shared.control import Control, ControlReader
from brandcast.shared.delivery import (
    BatchOutcome,
    Deliver,
    Gate,
    Outcome,
    RetryPolicy,
    failed_receipt,
    process_batch,
)
from brandcast.shared.errors import ProviderError
from brandcast.v1 import bus_pb2, campaign_pb2

logger = logging.getLogger(__name__)


class _LazyMetrics:
    """``brandcast.shared.metrics``, imported on first use (see ``run_worker``)."""

    def __getattr__(self, name: str) -> Any:
        from brandcast.shared import metrics as module  # noqa: PLC0415

        return getattr(module, name)


metrics = _LazyMetrics()


def create_worker_app(channel: str, broker_url: str, *, accept_json: bool | None = None) -> Celery:
    """A Celery app that consumes only ``channel``'s dispatch queue.

    Batches are protobuf task messages (``brandcast.shared.bus_codec``); with
    ``accept_json`` (default: ``BUS_ACCEPT_JSON``) the JSON messages of earlier
    releases are read too. Pickle never is: a pickled body runs code on load.
    """
    settings = CommonSettings()
    if accept_json is None:
        accept_json = settings.bus_accept_json
    bus_codec.register_task_serializer()
    # Read compressed batches whatever this worker's own BUS_COMPRESSION says.
    bus_compression.register()
    accept = [topology.PROTOBUF_CONTENT_TYPE]
    if accept_json:
        accept.append(bus_codec.LEGACY_JSON_CONTENT_TYPE)
    app = Celery(f"brandcast.{channel}", broker=broker_url, set_as_current=False)
    queue = topology.dispatch_queue(channel)
    app.conf.update(
        task_queues=[queue],
        task_default_queue=queue.name,
        task_default_exchange=topology.DISPATCH_EXCHANGE_NAME,
        task_default_routing_key=channel,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,
        task_ignore_result=True,
        # Celery's own publishes (retries) write protobuf too.
        task_serializer=bus_codec.TASK_SERIALIZER,
        task_compression=bus_compression.header_value(settings.bus_compression),
        accept_content=accept,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(broker_url),
        broker_heartbeat=30,
        # Quorum queues refuse global QoS; Celery detects them and uses per-consumer QoS.
        worker_detect_quorum_queues=True,
        # No broadcast remote control: it needs exclusive queues, and adapters are
        # controlled by their process manager, not by Celery's control commands.
        worker_enable_remote_control=False,
    )
    return app


class PublisherPerProcess:
    """One confirmed publisher per worker process (connections do not survive fork)."""

    def __init__(
        self, broker_url: str, origin: str, compression: bus_compression.Compression = "none"
    ) -> None:
        self._broker_url = broker_url
        self._origin = origin
        self._compression: bus_compression.Compression = compression
        self._pid = -1
        self._publisher: BusPublisher | None = None

    def reset(self) -> None:
        """Forget the publisher (after a failure): the next ``get`` connects afresh."""
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self._publisher.close()
        self._publisher = None

    def get(self) -> BusPublisher:
        if self._publisher is None or self._pid != os.getpid():
            self._publisher = BusPublisher(
                self._broker_url, origin=self._origin, compression=self._compression
            )
            self._publisher.declare_topology()
            self._pid = os.getpid()
        return self._publisher


def mark_attempted(batch: bus_pb2.DispatchBatch) -> None:
    """A batch the broker delivered before (its worker died or lost the connection
    before acking) may have reached the provider: its first-time items count as
    attempted, so an adapter whose provider has no idempotency key looks each one up
    before sending it again (``attempt`` > 0), as after a timeout."""
    for item in batch.items:
        item.attempt = max(item.attempt, 1)


class _Stopping:
    """Set when this worker's main process begins its warm shutdown (SIGTERM).

    A ``multiprocessing`` event made before the pool forks, so prefork children
    see their parent's shutdown too; a timer ends the process if the batches in
    progress have not finished within ``WORKER_SHUTDOWN_SECONDS``.
    """

    def __init__(self, grace: float) -> None:
        self._event = multiprocessing.Event()
        self._grace = grace

    def __call__(self) -> bool:
        return self._event.is_set()

    def begin(self, **_: Any) -> None:
        if self._event.is_set():
            return
        self._event.set()
        logger.info("stopping: handing back what is not sent within %.0fs", self._grace)
        timer = threading.Timer(self._grace, self._overdue)
        timer.daemon = True
        timer.start()

    def _overdue(self) -> None:
        # Unacknowledged messages go back to the queue with the connection, and
        # their items carry idempotency keys: leaving is safe, overstaying is not.
        logger.error("still busy %.0fs after SIGTERM; exiting now", self._grace)
        logging.shutdown()
        os._exit(1)


def _control_gate(settings: CommonSettings) -> Gate:
    """Each batch's campaign state from ``CONTROL_REDIS_URL`` (always SEND without it)."""
    if not settings.control_redis_url:
        return lambda _batch: Control.SEND
    reader = ControlReader(settings.control_redis_url, settings.control_key_prefix)

    def gate(batch: bus_pb2.DispatchBatch) -> Control:
        return reader.state(batch.campaign_id)

    return gate


def register_delivery_task(
    app: Celery,
    channel: str,
    deliver: Callable[[], Deliver],
    *,
    broker_url: str,
    policy: RetryPolicy,
    parallelism: int | None = None,
    capacity: bus_pb2.SendingCapacity | None = None,
) -> Task:
    """Register the channel's ``deliver_batch`` task on ``app``.

    ``deliver`` is called once per task to get the per-item delivery function,
    so adapters can build provider clients lazily in each worker process. It is
    called from up to ``parallelism`` threads at once (default
    ``DELIVERY_PARALLELISM``), so it must be thread-safe. ``capacity`` is the
    adapter's configured sending budget, reported with every receipt batch.
    """
    settings = CommonSettings()
    if parallelism is None:
        parallelism = settings.delivery_parallelism
    publishers = PublisherPerProcess(
        broker_url, origin=f"brandcast-{channel}", compression=settings.bus_compression
    )
    gate = _control_gate(settings)
    stopping = _Stopping(settings.worker_shutdown_seconds)
    # weak=False: the handler lives as long as the app, not as long as this frame.
    worker_shutting_down.connect(stopping.begin, weak=False)
    # Celery's retries name their message like every other batch; retry() cannot
    # pass ``type`` itself (it is a keyword of the signature it builds).
    before_task_publish.connect(_name_batch_message, sender=topology.task_name(channel), weak=False)
    reported = bus_pb2.SendingCapacity()
    if capacity is not None:
        reported.CopyFrom(capacity)

    @app.task(name=topology.task_name(channel), bind=True, acks_late=True)  # type: ignore[untyped-decorator]
    def deliver_batch(self: Task, payload: bytes | str) -> None:
        try:
            batch = bus_codec.batch_from_task_arg(payload)
        except ValueError as exc:
            logger.error("rejecting undecodable dispatch message: %s", exc)
            raise Reject(str(exc), requeue=False) from exc
        _observe_queue_lag(batch, channel)
        if (self.request.delivery_info or {}).get("redelivered"):
            mark_attempted(batch)
        attributes = {"campaign_id": batch.campaign_id, "batch_id": batch.batch_id}
        with telemetry.span("deliver batch", batch.trace_context, attributes=attributes) as carrier:
            # Receipts and retries carry this span's context, so what follows joins the trace.
            batch.trace_context.clear()
            batch.trace_context.update(carrier)
            try:
                with _timed(deliver(), channel) as timed:
                    outcome = process_batch(
                        batch,
                        timed,
                        policy,
                        parallelism=parallelism,
                        gate=gate,
                        stopping=stopping,
                    )
            except Exception as exc:
                _requeue_or_give_up(self, batch, exc, publishers.get(), reported)
                return
            try:
                _report(publishers.get(), batch, outcome, reported, channel)
            except Exception as exc:
                # The broker went away while we reported: without a requeue the
                # batch would be rejected to the dead-letter queue and its
                # deliveries would wait for receipts forever. Sent again, the
                # items carry the same idempotency keys; receipts are idempotent.
                publishers.reset()
                logger.exception(
                    "could not publish the receipts of batch %s; requeueing it",
                    batch.batch_id,
                    extra=attributes,
                )
                raise Reject(f"receipts not published: {exc!r}", requeue=True) from exc
            if outcome.receipts:
                _count_receipts(outcome.receipts, channel)
        logger.info(
            "delivered batch %s: %d receipts, %d to retry, %d handed back",
            batch.batch_id,
            len(outcome.receipts),
            len(outcome.retry.items) if outcome.retry is not None else 0,
            len(outcome.handed_back.items) if outcome.handed_back is not None else 0,
            extra={"campaign_id": batch.campaign_id, "batch_id": batch.batch_id},
        )
        if outcome.retry is not None:
            metrics.RETRIES.labels(channel).inc(len(outcome.retry.items))
            logger.info(
                "retrying %d deliveries in %.1fs",
                len(outcome.retry.items),
                outcome.retry_delay,
                extra={"campaign_id": batch.campaign_id, "channel": channel},
            )
            raise self.retry(
                args=[outcome.retry.SerializeToString()],
                # Celery's default is a repr of the argument: up to 1 KiB of bytes.
                argsrepr=f"<DispatchBatch of {len(outcome.retry.items)} items>",
                countdown=outcome.retry_delay,
                max_retries=None,
            )

    task: Task = deliver_batch
    return task


def _name_batch_message(properties: dict[str, Any] | None = None, **_: Any) -> None:
    if properties is not None:
        properties["type"] = topology.DISPATCH_BATCH_TYPE


def _report(
    publisher: BusPublisher,
    batch: bus_pb2.DispatchBatch,
    outcome: BatchOutcome,
    capacity: bus_pb2.SendingCapacity,
    channel: str,
) -> None:
    """Publish what the batch came to: receipts (with the adapter's capacity),
    the exhausted items to the dead-letter queue, the items not attempted back
    to the dispatch queue (not sent, not failed: another worker takes them)."""
    if outcome.receipts or outcome.throttled:
        report = bus_pb2.ReceiptBatch(receipts=outcome.receipts, capacity=capacity)
        report.capacity.throttled = outcome.throttled
        report.capacity.channel = batch.channel
        publisher.publish_receipts(report, channel)
    if outcome.exhausted is not None:
        publisher.publish_dead_letter(outcome.exhausted)
    if outcome.handed_back is not None:
        outcome.handed_back.batch_id = str(uuid.uuid4())
        publisher.publish_dispatch(outcome.handed_back)


@contextlib.contextmanager
def _timed(deliver: Deliver, channel: str) -> Iterator[Deliver]:
    """``deliver`` with its latency observed per call, in a ``provider call`` span when
    spans are recorded, and failures logged per delivery. The latencies reach the
    histogram when the block ends, however it ends."""
    latency = _LatencyByProvider(channel)
    try:
        yield _timed_calls(deliver, channel, latency)
    finally:
        latency.flush()


def _timed_calls(deliver: Deliver, channel: str, latency: _LatencyByProvider) -> Deliver:
    traced = telemetry.recording()

    def call(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        started = time.perf_counter()
        provider = "unknown"
        try:
            outcome = deliver(batch, item)
            provider = outcome.provider
            if traced:
                telemetry.annotate("status", metrics.status_label(outcome.status))
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("delivered", extra=_item_context(batch, item, channel, provider))
            return outcome
        except ProviderError as exc:
            provider = exc.provider or provider
            # Per delivery, so an operator can follow one id; the reason is redacted.
            logger.warning(
                "provider call failed (attempt %d): %s",
                item.attempt + 1,
                exc,
                extra=_item_context(batch, item, channel, provider),
            )
            raise
        finally:
            if traced:
                telemetry.annotate("provider", provider)
            latency.observe(provider, time.perf_counter() - started)

    if not traced:
        return call

    def call_in_span(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        attributes: dict[str, telemetry.AttributeValue] = {
            "delivery_id": item.delivery_id,
            "attempt": item.attempt,
        }
        with telemetry.span("provider call", batch.trace_context, attributes=attributes):
            return call(batch, item)

    return call_in_span


class _LatencyByProvider:
    """``PROVIDER_LATENCY`` of one channel for one batch: tallied per call, added to the
    histogram once by ``flush`` (per-call observations cost a locked mmap write each)."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._tally = metrics.HistogramTally(
            metrics.PROVIDER_LATENCY, metrics.PROVIDER_LATENCY_BUCKETS
        )

    def observe(self, provider: str, seconds: float) -> None:
        self._tally.observe((self._channel, provider), seconds)

    def flush(self) -> None:
        self._tally.flush()


def _item_context(
    batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem, channel: str, provider: str
) -> dict[str, str]:
    return {
        "campaign_id": batch.campaign_id,
        "delivery_id": item.delivery_id,
        "channel": channel,
        "provider": provider,
    }


def _observe_queue_lag(batch: bus_pb2.DispatchBatch, channel: str) -> None:
    if not batch.HasField("created_at"):
        return
    try:
        created_ns = batch.created_at.ToNanoseconds()
    except ValueError:
        # Not a time a Timestamp may hold: raised here, outside the task's
        # handling, Celery would acknowledge the batch and nothing would be sent.
        logger.warning("batch %s has an impossible creation time", batch.batch_id)
        return
    metrics.QUEUE_LAG.labels(channel).observe(max(time.time() - created_ns / 1e9, 0.0))


_FAILURE_STATUSES: Final = frozenset(
    {campaign_pb2.DELIVERY_STATUS_FAILED, campaign_pb2.DELIVERY_STATUS_BOUNCED}
)


def _count_receipts(receipts: Sequence[bus_pb2.DeliveryReceipt], channel: str) -> None:
    counts = collections.Counter((receipt.status, receipt.provider) for receipt in receipts)
    for (status, provider), count in counts.items():
        metrics.DELIVERIES.labels(channel, metrics.status_label(status), provider or "none").inc(
            count
        )
    failures = collections.Counter(
        (receipt.status, receipt.provider, receipt.error_code)
        for receipt in receipts
        if receipt.status in _FAILURE_STATUSES
    )
    for (status, provider, code), count in failures.items():
        metrics.DELIVERY_FAILURES.labels(
            channel, metrics.status_label(status), provider or "none", metrics.error_label(code)
        ).inc(count)


def _requeue_or_give_up(
    task: Task,
    batch: bus_pb2.DispatchBatch,
    exc: Exception,
    publisher: BusPublisher,
    capacity: bus_pb2.SendingCapacity,
) -> None:
    """A bug or a broken message: requeue it, and after the last allowed delivery
    fail its deliveries and park it in the dead-letter queue.

    Quorum queues count deliveries in ``x-delivery-count``; giving up one short of
    the broker's own limit lets us publish failed receipts, so no delivery is left
    waiting forever for a receipt.
    """
    deliveries = int(getattr(task.request, "x-delivery-count", None) or 0) + 1
    channel = topology.channel_name(batch.channel)
    if deliveries < topology.DELIVERY_LIMIT:
        logger.exception(
            "delivery %d of batch %s failed; requeueing",
            deliveries,
            batch.batch_id,
            extra={"campaign_id": batch.campaign_id, "channel": channel},
        )
        raise Reject(f"{type(exc).__name__}: {exc}", requeue=True) from exc
    logger.exception(
        "batch %s failed %d times; dead-lettering it",
        batch.batch_id,
        deliveries,
        extra={"campaign_id": batch.campaign_id, "channel": channel},
    )
    receipts = [
        failed_receipt(batch, item, "poison_message", f"{type(exc).__name__}: {exc}")
        for item in batch.items
    ]
    report = bus_pb2.ReceiptBatch(receipts=receipts, capacity=capacity)
    report.capacity.channel = batch.channel
    publisher.publish_receipts(report, channel)
    _count_receipts(receipts, channel)
    publisher.publish_dead_letter(batch)


def run_worker(
    app: Celery,
    channel: str,
    *,
    concurrency: int,
    metrics_port: int = 0,
    extra_args: list[str] | None = None,
) -> None:
    """Run the channel's Celery worker in this process (blocks until it stops).

    Metrics of every forked child are served from this parent on ``metrics_port``.
    """
    if metrics_port > 0 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Must happen before prometheus_client creates the first metric value.
        folder = tempfile.mkdtemp(prefix="brandcast-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        # Ours alone, so ours to remove when the worker stops (pool children leave
        # through os._exit, which skips this).
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    from brandcast.shared.metrics import serve_metrics  # noqa: PLC0415 - after the env above

    serve_metrics(metrics_port, role="adapter")
    telemetry.configure_tracing(f"brandcast-{channel}")
    app.worker_main(worker_argv(channel, concurrency, extra_args))


def worker_argv(channel: str, concurrency: int, extra: list[str] | None = None) -> list[str]:
    """The ``celery worker`` arguments an adapter's CLI passes to ``app.worker_main``.

    One process per unit of concurrency (prefork), except for a concurrency of
    one: then the batch runs on a thread of the consuming process itself, so it
    is not pickled through a pipe to a forked child and back, while the main
    thread keeps answering the broker's heartbeats during a long batch (which
    the ``solo`` pool would not).
    """
    pool = ["--pool", "threads"] if concurrency == 1 else ["--pool", "prefork"]
    return [
        "worker",
        "--queues",
        topology.dispatch_queue_name(channel),
        *pool,
        "--concurrency",
        str(concurrency),
        # Celery logs every task received and done at INFO: per batch, cheap
        # enough, but a deployment that asks for WARNING should not pay for it.
        "--loglevel",
        CommonSettings().log_level,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        # Unique per process: two workers with one node name in a vhost would fight
        # over Celery's exclusive per-node queues.
        "--hostname",
        f"{channel}-{os.getpid()}@%h",
        *(extra or []),
    ]


__all__: list[str] = [
    "PublisherPerProcess",
    "create_worker_app",
    "register_delivery_task",
    "run_worker",
    "worker_argv",
]
