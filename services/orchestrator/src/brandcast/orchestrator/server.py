"""Wiring and running the orchestrator: ``bootstrap``, ``create_server`` and ``main``.

``bootstrap`` builds the store, the intake, the event hub, the dispatcher and the
receipt collector from settings (a test can pass its own store or turn the
background workers off); ``create_server`` puts the gRPC API, health checking
and reflection on a port. ``main`` runs both until SIGTERM or SIGINT, then
drains: health NOT_SERVING, no new calls, in-flight calls finish within the
grace period, the dispatcher and the collector finish their round, exit.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Final, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from brandcast.orchestrator.aio_server import ThreadedAioServer
from brandcast.orchestrator.auth import BearerTokenInterceptor
from brandcast.orchestrator.change_feed import ChangeFeed
from brandcast.orchestrator.collector import ReceiptCollector
from brandcast.orchestrator.completion import ReportWindowCloser
from brandcast.orchestrator.controls import CampaignControls
from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.events import CampaignEvents, WatchLimits
from brandcast.orchestrator.health_service import LoopHealthServicer
from brandcast.orchestrator.housekeeping import Housekeeper
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.malloc_tuning import tune_malloc
from brandcast.orchestrator.observability import (
    RequestCountingInterceptor,
    serve_orchestrator_metrics,
)
from brandcast.orchestrator.pace_report import CampaignPace
from brandcast.orchestrator.pacing import Pacer
from brandcast.orchestrator.servicer import CampaignServicer, SuppressionServicer
from brandcast.orchestrator.settings import OrchestratorSettings, prepare_sqlite_path
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.undecodable import UndecodableRequestInterceptor
from brandcast.shared.bus import BusPublisher
from brandcast.shared.config import load_settings
from brandcast.shared.control import CampaignControl
from brandcast.shared.logs import configure_logging
from brandcast.shared.telemetry import configure_tracing
from brandcast.v1 import campaign_service_pb2, campaign_service_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAMES: Final = (
    campaign_service_pb2.DESCRIPTOR.services_by_name["CampaignService"].full_name,
    campaign_service_pb2.DESCRIPTOR.services_by_name["SuppressionService"].full_name,
)
#: Worker threads for the blocking part of calls: the servicers' sync methods,
#: and each watch's store reads while they run. An idle watch holds none.
GRPC_WORKERS: Final = 32


@dataclass
class Orchestrator:
    """Everything one orchestrator process runs, wired."""

    settings: OrchestratorSettings
    store: Store
    events: CampaignEvents
    intake: CampaignIntake
    dispatcher: Dispatcher | None
    collector: ReceiptCollector | None
    health: health.HealthServicer = field(default_factory=health.HealthServicer)
    housekeeper: Housekeeper | None = None
    change_feed: ChangeFeed | None = None
    report_windows: ReportWindowCloser | None = None
    #: Each channel's pace (with a collector: it learns from the receipts).
    pacer: Pacer | None = None
    #: Where adapters learn of pauses and cancels (None: CONTROL_REDIS_URL empty).
    control: CampaignControl | None = None

    def start(self) -> None:
        if self.change_feed is not None:
            self.change_feed.start()
        if self.housekeeper is not None:
            self.housekeeper.start()
        if self.report_windows is not None:
            self.report_windows.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
        if self.collector is not None:
            self.collector.start()
        self.set_serving(True)

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, status)

    def stop(self, timeout: float = 10.0) -> None:
        """Drain the background workers and close the store."""
        self.set_serving(False)
        self.events.close()
        if self.change_feed is not None:
            self.change_feed.stop(timeout)
        if self.dispatcher is not None:
            self.dispatcher.stop(timeout)
        if self.collector is not None:
            self.collector.stop(timeout)
        if self.housekeeper is not None:
            self.housekeeper.stop(timeout)
        if self.report_windows is not None:
            self.report_windows.stop(timeout)
        if self.control is not None:
            self.control.close()
        self.store.close()


def bootstrap(
    settings: OrchestratorSettings,
    *,
    store: Store | None = None,
    dispatch: bool = True,
    collect: bool = True,
) -> Orchestrator:
    if store is None:
        prepare_sqlite_path(settings.database_url)
        store = Store.open(settings.database_url)
    store.report_windows = settings.report_windows
    events = CampaignEvents(
        WatchLimits(
            total=settings.max_watches,
            per_client=settings.max_watches_per_client,
            per_campaign=settings.max_watches_per_campaign,
        )
    )
    pacer = None
    if collect:
        pacer = Pacer(
            lead_seconds=settings.dispatch_lead_seconds,
            max_batch=settings.dispatch_batch_size,
            unlimited_floor=settings.dispatch_unlimited_lead,
        )
    dispatcher = None
    if dispatch:
        dispatcher = Dispatcher(
            store,
            lambda: BusPublisher(
                settings.broker_url,
                origin="brandcast-orchestrator",
                compression=settings.bus_compression,
            ),
            events=events,
            batch_size=settings.dispatch_batch_size,
            poll_interval=settings.dispatch_poll_interval,
            unsubscribe_base_url=settings.unsubscribe_base_url,
            unsubscribe_secret=settings.unsubscribe_secret,
            quiet_hours_enforced=settings.quiet_hours_enforced,
            default_timezone=settings.quiet_hours_default_timezone,
            # Paced only when this process also hears the receipts that drain the lead.
            pacer=pacer,
            marketing_share=settings.dispatch_marketing_share,
            shared_email_layouts=settings.bus_shared_email_layouts,
        )
        if pacer is not None:
            pacer.on_drain = dispatcher.room_freed
    collector = None
    if collect:
        collector = ReceiptCollector(
            store,
            settings.broker_url,
            events=events,
            prefetch=settings.receipt_prefetch,
            pacer=pacer,
        )
    control = None
    if settings.control_redis_url:
        control = CampaignControl(settings.control_redis_url, settings.control_key_prefix)
    intake = CampaignIntake(store, max_audience_size=settings.max_audience_size)
    housekeeper = None
    report_windows = None
    if dispatch:
        report_windows = ReportWindowCloser(store, events)
        # Background work goes with the dispatcher: an API-only process stays passive.
        housekeeper = Housekeeper(
            store,
            idempotency_retention_hours=settings.idempotency_retention_hours,
            ledger_retention_days=settings.ledger_retention_days,
        )
    return Orchestrator(
        settings,
        store,
        events,
        intake,
        dispatcher,
        collector,
        housekeeper=housekeeper,
        change_feed=ChangeFeed(store, events, settings.watch_feed_interval),
        report_windows=report_windows,
        pacer=pacer,
        control=control,
    )


def create_server(
    settings: OrchestratorSettings, orchestrator: Orchestrator
) -> tuple[ThreadedAioServer, int]:
    """A gRPC server (not started) bound to ``settings.grpc_address``, and its port.

    It serves on an event loop of its own (``aio_server``): watches wait there
    without a thread each; sync calls run on ``GRPC_WORKERS`` pool threads.
    """
    tokens = settings.api_token_set
    # Counting first, so calls the token check refuses are counted too.
    interceptors: list[grpc.ServerInterceptor] = [RequestCountingInterceptor()]
    if tokens:
        interceptors.append(BearerTokenInterceptor(tokens))
    # Last, so it wraps the servicer itself: unparseable bytes become INVALID_ARGUMENT.
    interceptors.append(UndecodableRequestInterceptor())
    if not tokens:
        log.warning("API_TOKENS is empty: the gRPC API accepts calls without authentication")
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Pings only while calls are open; unanswered, the connection and its
        # calls end, which frees the watches of a client that vanished silently.
        ("grpc.keepalive_time_ms", int(settings.grpc_keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.grpc_keepalive_timeout_seconds * 1000)),
        # grpc 1.85 waits for a ping's answer this long (default 1 min), whatever the above.
        ("grpc.http2.ping_timeout_ms", int(settings.grpc_keepalive_timeout_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        # A watching client sends nothing after its request: without these the
        # server would stop pinging it after two pings, or wait 5 minutes.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_time_between_pings_ms", int(settings.grpc_keepalive_seconds * 1000)),
    ]
    # Calls beyond the limit are answered RESOURCE_EXHAUSTED by grpc at once,
    # and watches beyond their caps by the servicer, instead of queueing forever.
    server = ThreadedAioServer(
        workers=GRPC_WORKERS,
        interceptors=interceptors,
        options=options,
        maximum_concurrent_rpcs=GRPC_WORKERS + settings.max_watches,
    )
    dispatcher = orchestrator.dispatcher
    # The generated add_*_to_server functions only register handlers, which
    # ThreadedAioServer takes like a grpc.Server.
    registry = cast(grpc.Server, server)
    campaign_service_pb2_grpc.add_CampaignServiceServicer_to_server(
        CampaignServicer(
            orchestrator.store,
            orchestrator.intake,
            orchestrator.events,
            on_accepted=dispatcher.accepted if dispatcher is not None else lambda result: None,
            controls=CampaignControls(
                orchestrator.store, orchestrator.control, orchestrator.dispatcher
            ),
            pace=CampaignPace(orchestrator.pacer),
            watch_heartbeat=settings.watch_heartbeat_seconds,
        ),
        registry,
    )
    campaign_service_pb2_grpc.add_SuppressionServiceServicer_to_server(
        SuppressionServicer(orchestrator.store), registry
    )
    health_pb2_grpc.add_HealthServicer_to_server(LoopHealthServicer(orchestrator.health), registry)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME)
        ),
        registry,
    )
    if settings.grpc_tls_cert_file is not None and settings.grpc_tls_key_file is not None:
        credentials = grpc.ssl_server_credentials(
            [(settings.grpc_tls_key_file.read_bytes(), settings.grpc_tls_cert_file.read_bytes())]
        )
        port = server.add_secure_port(settings.grpc_address, credentials)
    else:
        port = server.add_insecure_port(settings.grpc_address)
    if port == 0:
        raise RuntimeError(f"cannot listen on GRPC_ADDRESS={settings.grpc_address}")
    return server, port


def main(argv: list[str] | None = None) -> None:
    """``brandcast-orchestrator``: serve the API, dispatch and collect until SIGTERM."""
    argparse.ArgumentParser(
        prog="brandcast-orchestrator",
        description="Brandcast orchestrator: gRPC API, dispatcher and receipt collector. "
        "Configured by environment variables (DATABASE_URL, BROKER_URL, GRPC_ADDRESS, "
        "API_TOKENS, ...; see the README).",
    ).parse_args(argv)
    tune_malloc()  # before any thread starts: arenas are made per thread
    settings = load_settings(OrchestratorSettings, "brandcast-orchestrator")
    configure_logging(settings.log_level, settings.log_format, service="orchestrator")
    configure_tracing("brandcast-orchestrator")
    orchestrator = bootstrap(settings)
    serve_orchestrator_metrics(settings.metrics_port, orchestrator.store)
    server, port = create_server(settings, orchestrator)
    server.start()
    orchestrator.start()
    log.info("orchestrator listening on port %d", port)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d; draining", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    orchestrator.set_serving(False)
    # Health says NOT_SERVING while calls are still answered: probes and load
    # balancers see it and route away before the server starts refusing calls.
    threading.Event().wait(settings.shutdown_drain_delay)
    orchestrator.events.close()
    server.stop(settings.shutdown_grace).wait()
    orchestrator.stop(settings.shutdown_grace)
    log.info("orchestrator stopped")


if __name__ == "__main__":
    main()
