"""Prometheus metrics every service exposes on ``METRICS_PORT``.

Adapters' Celery workers fork one process per concurrency slot; with
``PROMETHEUS_MULTIPROC_DIR`` set (``brandcast.shared.worker.run_worker`` sets it
before this module is first imported) every child writes its samples there and
the endpoint in the parent adds them up, so one scrape sees the whole service.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

DELIVERIES: Final = Counter(
    "brandcast_deliveries_total",
    "Delivery outcomes reported by adapters (receipts published).",
    ["channel", "status", "provider"],
)
PROVIDER_LATENCY: Final = Histogram(
    "brandcast_provider_latency_seconds",
    "Time of one provider call, successful or not.",
    ["channel", "provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES: Final = Counter(
    "brandcast_retries_total",
    "Deliveries scheduled for another attempt after a transient provider error.",
    ["channel"],
)
QUEUE_LAG: Final = Histogram(
    "brandcast_queue_lag_seconds",
    "Time from a dispatch batch's publication to an adapter starting it.",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
OUTBOX_BACKLOG: Final = Gauge(
    "brandcast_outbox_backlog",
    "Deliveries persisted but not yet confirmed by the broker.",
    multiprocess_mode="max",
)

# The orchestrator's own view: what it accepted, published and applied.
CAMPAIGNS_ACCEPTED: Final = Counter(
    "brandcast_campaigns_accepted_total",
    "Campaigns persisted by the orchestrator (idempotent replays not counted).",
)
DISPATCH_BATCHES: Final = Counter(
    "brandcast_dispatch_batches_total",
    "Dispatch batches the broker confirmed, by channel.",
    ["channel"],
)
DISPATCHED: Final = Counter(
    "brandcast_dispatched_deliveries_total",
    "Deliveries in confirmed dispatch batches, by channel.",
    ["channel"],
)
RECEIPTS_APPLIED: Final = Counter(
    "brandcast_receipts_applied_total",
    "Receipts the collector committed to the store, by channel and reported status.",
    ["channel", "status"],
)
GRPC_REQUESTS: Final = Counter(
    "brandcast_grpc_requests_total",
    "gRPC calls the orchestrator answered, by method and status code.",
    ["method", "code"],
)
# Adapters' webhooks: provider callbacks turned into bus messages.
WEBHOOK_PUBLISHED: Final = Counter(
    "brandcast_webhook_published_total",
    "Receipts and suppression events published from provider callbacks.",
    ["channel", "kind"],
)


def status_label(status: int) -> str:
    """``DELIVERY_STATUS_SENT`` -> ``sent``: the ``status`` label every counter uses."""
    from brandcast.v1 import campaign_pb2  # noqa: PLC0415 - keep this module light

    name: str = campaign_pb2.DeliveryStatus.Name(status)  # type: ignore[arg-type]
    return name.removeprefix("DELIVERY_STATUS_").lower()


def serve_metrics(port: int, host: str | None = None) -> None:
    """Expose ``/metrics`` on ``port`` (0 turns it off) in a background thread.

    ``host`` defaults to ``METRICS_HOST`` (``CommonSettings.metrics_host``), 127.0.0.1.
    """
    if port <= 0:
        return
    host = host or os.environ.get("METRICS_HOST", "127.0.0.1")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(port, addr=host, registry=registry)
    else:
        start_http_server(port, addr=host)
