"""Prometheus metrics every service exposes on ``METRICS_PORT``.

One catalogue, but each process serves only the metrics it records (its
``role``): a worker that exported the orchestrator's outbox backlog would
report it as 0 and make a sum over all targets wrong. The metrics are created
unregistered; ``serve_metrics`` builds a registry with the role's own.

Adapters' Celery workers fork one process per concurrency slot; with
``PROMETHEUS_MULTIPROC_DIR`` set (``brandcast.shared.worker.run_worker`` sets it
before this module is first imported) every child writes its samples there and
the endpoint in the parent adds them up, so one scrape sees the whole service.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Literal

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

#: What a process records: ``orchestrator``, an ``adapter`` worker, an
#: adapter's ``webhooks`` app, or the ``admin`` (process metrics only).
Role = Literal["orchestrator", "adapter", "webhooks", "admin"]

DELIVERIES: Final = Counter(
    "brandcast_deliveries_total",
    "Delivery outcomes reported by adapters (receipts published).",
    ["channel", "status", "provider"],
    registry=None,
)
DELIVERY_FAILURES: Final = Counter(
    "brandcast_delivery_failures_total",
    "Failed and bounced deliveries by provider and error code (codes past the"
    " first 64 characters or outside [A-Za-z0-9._-] are counted as 'other').",
    ["channel", "status", "provider", "error_code"],
    registry=None,
)
#: ``PROVIDER_LATENCY``'s buckets (upper bounds, seconds; +Inf follows).
PROVIDER_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PROVIDER_LATENCY: Final = Histogram(
    "brandcast_provider_latency_seconds",
    "Time of one provider call, successful or not (adapters add a batch's calls at its end).",
    ["channel", "provider"],
    buckets=PROVIDER_LATENCY_BUCKETS,
    registry=None,
)
PROVIDER_CIRCUIT_OPEN: Final = Gauge(
    "brandcast_provider_circuit_open",
    "1 while a provider's circuit breaker is open (its outages skip it), else 0.",
    ["channel", "provider"],
    multiprocess_mode="livemax",
    registry=None,
)
RETRIES: Final = Counter(
    "brandcast_retries_total",
    "Deliveries scheduled for another attempt after a transient provider error.",
    ["channel"],
    registry=None,
)
QUEUE_LAG: Final = Histogram(
    "brandcast_queue_lag_seconds",
    "Time from a dispatch batch's publication to an adapter starting it.",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
    registry=None,
)
OUTBOX_BACKLOG: Final = Gauge(
    "brandcast_outbox_backlog",
    "Deliveries persisted but not yet confirmed by the broker.",
    multiprocess_mode="max",
    registry=None,
)

# The orchestrator's own view: what it accepted, published and applied.
CAMPAIGNS_ACCEPTED: Final = Counter(
    "brandcast_campaigns_accepted_total",
    "Campaigns persisted by the orchestrator (idempotent replays not counted).",
    registry=None,
)
DISPATCH_BATCHES: Final = Counter(
    "brandcast_dispatch_batches_total",
    "Dispatch batches the broker confirmed, by channel.",
    ["channel"],
    registry=None,
)
DISPATCHED: Final = Counter(
    "brandcast_dispatched_deliveries_total",
    "Deliveries in confirmed dispatch batches, by channel.",
    ["channel"],
    registry=None,
)
RECEIPTS_RECEIVED: Final = Counter(
    "brandcast_receipts_received_total",
    "Receipts the collector took from the broker, repeats included, by channel and status.",
    ["channel", "status"],
    registry=None,
)
RECEIPTS_APPLIED: Final = Counter(
    "brandcast_receipts_applied_total",
    "Receipts that changed a delivery (moved its status forward), by channel and status;"
    " repeats and late receipts are not counted.",
    ["channel", "status"],
    registry=None,
)
GRPC_REQUESTS: Final = Counter(
    "brandcast_grpc_requests_total",
    "gRPC calls the orchestrator answered, by method and status code.",
    ["method", "code"],
    registry=None,
)
# Adapters' webhooks: provider callbacks turned into bus messages.
WEBHOOK_PUBLISHED: Final = Counter(
    "brandcast_webhook_published_total",
    "Receipts and suppression events published from provider callbacks.",
    ["channel", "kind"],
    registry=None,
)


_ERROR_CODE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


def error_label(code: str) -> str:
    """A provider's error code as a label value, bounded: codes are short tokens
    ("550", "21211", "invalid_number"); anything else would grow the series."""
    if not code:
        return "none"
    return code if _ERROR_CODE.fullmatch(code) else "other"


def status_label(status: int) -> str:
    """``DELIVERY_STATUS_SENT`` -> ``sent``: the ``status`` label every counter uses."""
    from brandcast.v1 import campaign_pb2  # noqa: PLC0415 - keep this module light

    name: str = campaign_pb2.DeliveryStatus.Name(status)  # type: ignore[arg-type]
    return name.removeprefix("DELIVERY_STATUS_").lower()


class HistogramTally:
    """Observations of one histogram, counted in this process and added to it by ``flush``.

    In a worker's multiprocess mode each ``Histogram.observe`` writes its sum and a
    bucket to the process's mmap file under a process-wide lock: a third of an SMS
    worker's CPU when observed per delivery. The tally counts the same buckets
    (``buckets`` must be the histogram's own) and adds each labelled child's counts
    and sum in one write per bucket, so what is exported is what observing every
    value would have exported, once flushed. Thread-safe.
    """

    def __init__(self, histogram: Histogram, buckets: Sequence[float]) -> None:
        self._histogram = histogram
        self._bounds = (*(float(bound) for bound in buckets), math.inf)
        #: Per label values: the sum of the values, then a count per bucket.
        self._pending: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        # Histogram.observe counts a value in the first bucket whose bound is >= it.
        bucket = bisect.bisect_left(self._bounds, value)
        with self._lock:
            tally = self._pending.get(labels)
            if tally is None:
                tally = self._pending[labels] = [0.0] * (len(self._bounds) + 1)
            tally[0] += value
            tally[bucket + 1] += 1

    def flush(self) -> None:
        """Add what was observed since the last flush to the histogram."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for labels, tally in pending.items():
            _add_to_histogram(self._histogram.labels(*labels), tally[0], tally[1:])


def _add_to_histogram(child: Histogram, total: float, counts: Sequence[float]) -> None:
    """Add ``counts`` (per bucket, not cumulative) and their ``total`` to a labelled child.

    prometheus_client has no public call for many observations at once: this relies
    on how its Histogram stores them (``_sum``, and ``_buckets`` with one value per
    bucket). ``test_metrics_tally`` compares the result with value-by-value
    observations, so a release that changes this fails there.
    """
    buckets = child._buckets
    if len(buckets) != len(counts):
        raise ValueError(f"{len(counts)} bucket counts for a histogram of {len(buckets)} buckets")
    child._sum.inc(total)
    for value, count in zip(buckets, counts, strict=True):
        if count:
            value.inc(count)


OWN_METRICS: Final[dict[str, tuple[MetricWrapperBase, ...]]] = {
    "orchestrator": (
        CAMPAIGNS_ACCEPTED,
        DISPATCH_BATCHES,
        DISPATCHED,
        RECEIPTS_RECEIVED,
        RECEIPTS_APPLIED,
        GRPC_REQUESTS,
        OUTBOX_BACKLOG,
    ),
    "adapter": (
        DELIVERIES,
        DELIVERY_FAILURES,
        PROVIDER_LATENCY,
        PROVIDER_CIRCUIT_OPEN,
        RETRIES,
        QUEUE_LAG,
    ),
    "webhooks": (WEBHOOK_PUBLISHED,),
    "admin": (),
}


class _OnlyFamilies(Collector):
    """The families of ``inner`` named in ``names`` (multiprocess files hold
    every metric a process of this service created, even at 0)."""

    def __init__(self, inner: Collector, names: Iterable[str]) -> None:
        self._inner = inner
        self._names = frozenset(names)

    def collect(self) -> Iterator[Any]:
        return (family for family in self._inner.collect() if family.name in self._names)


def registry_for(role: Role) -> CollectorRegistry:
    """A registry with the role's own metrics and this process's standard ones."""
    registry = CollectorRegistry()
    own = OWN_METRICS[role]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        names = {family.name for metric in own for family in metric.describe()}
        files = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
        registry.register(_OnlyFamilies(files, names))
        return registry
    for collector in (*own, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


def serve_metrics(port: int, host: str | None = None, *, role: Role) -> None:
    """Expose the ``role``'s ``/metrics`` on ``port`` (0 turns it off) in a
    background thread.

    ``host`` defaults to ``METRICS_HOST`` (``CommonSettings.metrics_host``), 127.0.0.1.
    """
    if port <= 0:
        return
    host = host or os.environ.get("METRICS_HOST", "127.0.0.1")
    start_http_server(port, addr=host, registry=registry_for(role))
