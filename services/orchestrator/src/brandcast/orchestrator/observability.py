"""The orchestrator's metrics endpoint and gRPC request counting.

The counters themselves live in ``brandcast.shared.metrics`` (one catalogue
for every service); this module wires the orchestrator-only parts: the outbox
backlog computed from the store when Prometheus scrapes, and an interceptor
that counts every call by method and status code.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from sqlalchemy import func, select, text

from brandcast.orchestrator.store import Store
from brandcast.orchestrator.store.schema import OUTBOX_SQL, deliveries
from brandcast.shared import metrics

log = logging.getLogger(__name__)


def outbox_backlog(store: Store, now_us: int | None = None) -> int:
    """Deliveries due for dispatch that the broker has not confirmed yet."""
    now = now_us if now_us is not None else int(time.time() * 1_000_000)
    query = (
        select(func.count())
        .select_from(deliveries)
        # The literal predicate lets PostgreSQL count from the partial index.
        .where(text(OUTBOX_SQL), deliveries.c.not_before_us <= now)
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def serve_orchestrator_metrics(port: int, store: Store) -> None:
    """``/metrics`` on ``port`` (0 turns it off); the backlog is counted per scrape."""
    if port <= 0:
        return

    def backlog() -> float:
        try:
            return float(outbox_backlog(store))
        except Exception:
            log.exception("cannot count the outbox backlog")
            return float("nan")

    metrics.OUTBOX_BACKLOG.set_function(backlog)
    metrics.serve_metrics(port, role="orchestrator")


class RequestCountingInterceptor(grpc.ServerInterceptor):
    """Counts ``brandcast_grpc_requests_total{method, code}`` for every call.

    Put it first among the interceptors so refused calls (no token) count too.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = str(handler_call_details.method).rsplit("/", 1)[-1]
        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                _counted_stream(handler.stream_stream, method), **options
            )
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                _counted(handler.stream_unary, method), **options
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                _counted_stream(handler.unary_stream, method), **options
            )
        return grpc.unary_unary_rpc_method_handler(_counted(handler.unary_unary, method), **options)


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()  # type: ignore[attr-defined]  # grpcio >= 1.38, not in the stubs
    if code is None:
        return "UNKNOWN" if failed else "OK"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return str(code)


def _counted(behaviour: Callable[..., Any] | None, method: str) -> Callable[..., Any]:
    assert behaviour is not None, "the handler's own kind of behaviour"
    if inspect.iscoroutinefunction(behaviour):
        return _counted_async(behaviour, method)

    def counted(request: Any, context: grpc.ServicerContext) -> Any:
        failed = True
        try:
            response = behaviour(request, context)
            failed = False
            return response
        finally:
            metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed)).inc()

    return counted


def _counted_stream(behaviour: Callable[..., Any] | None, method: str) -> Callable[..., Any]:
    assert behaviour is not None, "the handler's own kind of behaviour"
    if inspect.isasyncgenfunction(behaviour):
        return _counted_async_stream(behaviour, method)

    def counted(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        failed = True
        try:
            yield from behaviour(request, context)
            failed = False
        except GeneratorExit:
            # The client went away mid-stream (a watcher closing is routine).
            metrics.GRPC_REQUESTS.labels(method, "CANCELLED").inc()
            raise
        except BaseException:
            metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed=True)).inc()
            raise
        metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed)).inc()

    return counted


def _counted_async(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    """The same count for a call answered on the event loop (health checks)."""

    async def counted(request: Any, context: Any) -> Any:
        failed = True
        try:
            response = await behaviour(request, context)
            failed = False
            return response
        finally:
            metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed)).inc()

    return counted


def _counted_async_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    """The same count for a stream served on the event loop (WatchCampaign)."""

    async def counted(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except (GeneratorExit, asyncio.CancelledError):
            # The client went away mid-stream (a watcher closing is routine).
            metrics.GRPC_REQUESTS.labels(method, "CANCELLED").inc()
            raise
        except BaseException:
            metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed=True)).inc()
            raise
        metrics.GRPC_REQUESTS.labels(method, _code_name(context, failed=False)).inc()

    return counted
