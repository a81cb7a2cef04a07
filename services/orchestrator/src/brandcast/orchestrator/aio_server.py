"""The gRPC server: ``grpc.aio`` on an event loop thread of its own, driven like ``grpc.Server``.

A sync ``grpc.server`` runs every call on a pool thread from start to end, so
each open WatchCampaign stream held a thread (issue #19: a thousand watches, a
thousand threads). Here the event loop serves the streams: an idle watch is a
suspended coroutine, and only the blocking work (store reads, the servicers'
sync methods) takes a pool thread, for as long as it runs.

``ThreadedAioServer`` keeps the sync server's surface (``start``, ``stop(grace)``
returning an event, ``wait_for_termination``), so the process, the tests and
the benchmarks drive it the way they drove ``grpc.server``. Servicers register
through the generated ``add_*_to_server`` functions as before; the sync
interceptors (counting, bearer tokens, undecodable requests) run on each call's
handler before it is adapted, so they see sync and async handlers alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent import futures
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import grpc
import grpc.aio

from brandcast.orchestrator.sync_bridge import adapt

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]

T = TypeVar("T")


class _Handlers(grpc.GenericRpcHandler):
    """Every registered method, through the interceptors, then adapted to the loop."""

    def __init__(
        self, interceptors: Sequence[grpc.ServerInterceptor], executor: futures.Executor
    ) -> None:
        self._interceptors = tuple(interceptors)
        self._executor = executor
        self._methods: dict[str, Handler] = {}
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, Handler]
    ) -> None:
        for method, handler in method_handlers.items():
            self._methods[f"/{service_name}/{method}"] = handler

    def _lookup(self, details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self._methods.get(details.method)
        if handler is not None:
            return handler
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        def chain(index: int) -> Callable[[grpc.HandlerCallDetails], Handler | None]:
            if index == len(self._interceptors):
                return self._lookup
            return lambda details: self._interceptors[index].intercept_service(
                chain(index + 1), details
            )

        handler = chain(0)(handler_call_details)
        return None if handler is None else adapt(handler, self._executor)


class ThreadedAioServer:
    def __init__(
        self,
        *,
        workers: int,
        interceptors: Sequence[grpc.ServerInterceptor],
        options: Sequence[tuple[str, Any]],
        maximum_concurrent_rpcs: int,
    ) -> None:
        self._executor = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc")
        self._loop = asyncio.new_event_loop()
        # Handlers reach the pool with run_in_executor(None, ...).
        self._loop.set_default_executor(self._executor)
        self._thread = threading.Thread(target=self._run, name="grpc-loop", daemon=True)
        self._thread.start()
        self._handlers = _Handlers(interceptors, self._executor)
        self._stopped = threading.Event()
        self._stopping = False

        async def create() -> grpc.aio.Server:
            # Made on its loop: grpc.aio binds a server to the loop it is created in.
            return grpc.aio.server(
                handlers=[self._handlers],
                options=list(options),
                maximum_concurrent_rpcs=maximum_concurrent_rpcs,
            )

        self._server = self._call(create())

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    # What the generated add_*_to_server functions call.
    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._handlers.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, Handler]
    ) -> None:
        self._handlers.add_registered_method_handlers(service_name, method_handlers)

    def add_insecure_port(self, address: str) -> int:
        async def add() -> int:
            return self._server.add_insecure_port(address)

        return self._call(add())

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        async def add() -> int:
            return self._server.add_secure_port(address, credentials)

        return self._call(add())

    def start(self) -> None:
        self._call(self._server.start())

    def stop(self, grace: float | None = None) -> threading.Event:
        """Refuse new calls at once, cancel those still running after ``grace``
        seconds; the event is set once every call has ended."""
        if self._stopping:
            # A second stop with a shorter grace shortens the wait, as with grpc.Server.
            if not self._stopped.is_set() and self._loop.is_running():
                asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)
            return self._stopped
        self._stopping = True

        async def stop() -> None:
            try:
                await self._server.stop(grace)
                # Calls grpc has just cancelled unwind first (a sync handler's
                # call stops waiting for its thread), so no task dies pending.
                left = asyncio.all_tasks() - {asyncio.current_task()}
                for task in left:
                    task.cancel()
                if left:
                    await asyncio.wait(left, timeout=1.0)
            finally:
                self._executor.shutdown(wait=False)
                self._stopped.set()
                self._loop.call_soon(self._loop.stop)

        asyncio.run_coroutine_threadsafe(stop(), self._loop)
        return self._stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped; True if ``timeout`` passed first (as grpc.Server)."""
        return not self._stopped.wait(timeout)

    @property
    def executor(self) -> futures.Executor:
        return self._executor
