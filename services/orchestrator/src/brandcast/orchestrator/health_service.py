"""Health checking served on the event loop, its statuses set from any thread.

The process sets health from plain threads (start, SIGTERM), so the status
lives in grpc's sync ``HealthServicer``; this servicer answers from it on the
loop: a check never waits for a pool thread, and a ``Watch`` stream holds no
thread while it waits for the next change (the sync servicer's non-blocking
callback feeds it).
"""

# Method names are the RPC names of the generated base class.
# ruff: noqa: N802

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class _Callbacks:
    """The part of a servicer context the sync servicer uses to report, not to answer."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.callbacks: list[Callable[[], None]] = []

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self.callbacks.append(callback)
        return True


class LoopHealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    def __init__(self, statuses: health.HealthServicer) -> None:
        self._statuses = statuses

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        report = _Callbacks()
        response = self._statuses.Check(request, report)
        if report.code is not None:
            await context.abort(report.code, f"unknown service {request.service!r}")
        return response

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        loop = asyncio.get_running_loop()
        changes: asyncio.Queue[health_pb2.HealthCheckResponse | None] = asyncio.Queue()

        def send(response: health_pb2.HealthCheckResponse | None) -> None:
            # RuntimeError: the loop is closed, the server has stopped.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(changes.put_nowait, response)

        report = _Callbacks()
        self._statuses.Watch(request, report, send_response_callback=send)
        try:
            while (response := await changes.get()) is not None:
                yield response
        finally:
            for callback in report.callbacks:
                callback()  # unsubscribes this stream
