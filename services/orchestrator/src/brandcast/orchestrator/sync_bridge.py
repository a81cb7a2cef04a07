"""Synchronous gRPC handlers served by the ``grpc.aio`` server.

The servicers are plain blocking code (SQLAlchemy, the intake): each call runs
on a worker thread of a bounded pool while the event loop goes on serving
others. The context a handler gets is a full ``grpc.ServicerContext``, unlike
grpcio's own sync-on-aio shim (no ``is_active``, no ``abort_with_status``, no
callbacks on cancel): a cancelled upload must notice, and interceptors read
the status code.

Everything the loop owns is touched from the worker thread only through
``run_coroutine_threadsafe``; what the call's peer and metadata are is copied
when the call starts, since the call object is freed once the call ends while
a handler thread may still be finishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
import grpc.aio

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]

log = logging.getLogger(__name__)


class AbortedCall(Exception):  # noqa: N818  # grpc's own name for it is _AbortError
    """Raised by ``abort``: the status is sent; the handler unwinds."""


class CallEnded(grpc.RpcError):
    """The request stream broke off: the client cancelled or the deadline passed."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED

    def details(self) -> str:
        return "the call ended before the request stream did"


class SyncServicerContext(grpc.ServicerContext):
    def __init__(
        self, context: grpc.aio.ServicerContext[Any, Any], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._context = context
        self._loop = loop
        self._metadata = tuple(context.invocation_metadata() or ())
        self._peer = context.peer()
        self._peer_identities = context.peer_identities()
        self._peer_identity_key = context.peer_identity_key()
        self._auth_context = context.auth_context()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._ended = False

    # -- the call's lifetime ---------------------------------------------------

    def end(self) -> None:
        """The call is over (answered, cancelled or past its deadline): run the callbacks."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a gRPC call's termination callback failed")

    def is_active(self) -> bool:
        if self._ended:
            return False
        remaining = self._context.time_remaining()
        return remaining is None or remaining > 0

    def time_remaining(self) -> float | None:  # type: ignore[override]
        return self._context.time_remaining()

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._lock:
            if self._ended:
                return False
            self._callbacks.append(callback)
            return True

    def cancel(self) -> bool:
        # Any error: the call has ended some other way already.
        with contextlib.suppress(Exception):
            self._on_loop(self._context.abort(grpc.StatusCode.CANCELLED, "cancelled by the server"))
        return True

    # -- the status ------------------------------------------------------------

    def abort(self, code: grpc.StatusCode, details: str = "") -> None:  # type: ignore[override]
        self._abort(code, details, ())

    def abort_with_status(self, status: grpc.Status) -> None:  # type: ignore[override]
        self._abort(status.code, status.details, tuple(status.trailing_metadata or ()))

    def _abort(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...]) -> None:
        if not self._ended:
            # Any error: the expected AbortError, or the call ended first.
            with contextlib.suppress(Exception):
                self._on_loop(self._context.abort(code, details, trailing))
        raise AbortedCall(code, details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._context.set_details(details)

    def code(self) -> grpc.StatusCode | None:
        return self._context.code()

    def details(self) -> str:
        return self._context.details()

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        self._context.set_trailing_metadata(tuple(trailing_metadata))

    def trailing_metadata(self) -> Any:
        return self._context.trailing_metadata()

    def send_initial_metadata(self, initial_metadata: Any) -> None:
        self._on_loop(self._context.send_initial_metadata(tuple(initial_metadata)))

    def set_compression(self, compression: grpc.Compression) -> None:
        self._context.set_compression(compression)

    def disable_next_message_compression(self) -> None:
        self._context.disable_next_message_compression()

    # -- who calls -------------------------------------------------------------

    def invocation_metadata(self) -> Any:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> Any:
        return self._peer_identities

    def peer_identity_key(self) -> Any:
        return self._peer_identity_key

    def auth_context(self) -> Any:
        return self._auth_context

    # -- the loop's side of the call, from a worker thread ---------------------

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # the loop is closed: the server has stopped
            coroutine.close()
            raise
        return future.result()

    def read(self) -> Any:
        return self._on_loop(self._context.read())

    def write(self, message: Any) -> None:
        self._on_loop(self._context.write(message))


class _Requests(Iterator[Any]):
    """The request stream as a blocking iterator, for a sync handler's thread."""

    def __init__(self, context: SyncServicerContext) -> None:
        self._context = context

    def __next__(self) -> Any:
        if not self._context.is_active():
            raise CallEnded()
        try:
            message = self._context.read()
        except Exception as exc:
            raise CallEnded() from exc
        if message is grpc.aio.EOF:
            # The core ends the reads of a cancelled call as if the client had
            # half-closed: tell them apart by the call's own state.
            if not self._context.is_active():
                raise CallEnded()
            raise StopIteration
        return message


def _send_all(responses: Iterable[Any], context: SyncServicerContext) -> None:
    """Write a sync handler's responses as they come, one at a time (the write
    waits for flow control, as the sync server did); stop once the call ended."""
    iterator = iter(responses)
    try:
        for response in iterator:
            if not context.is_active():
                return
            try:
                context.write(response)
            except Exception:
                return  # the client left or the server stopped
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # GeneratorExit in the handler, as when a sync client leaves


def is_async(behaviour: Callable[..., Any] | None) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


def _in_pool(
    executor: Executor, run: Callable[[Any, SyncServicerContext], Any]
) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        loop = asyncio.get_running_loop()
        sync = SyncServicerContext(context, loop)
        try:
            return await loop.run_in_executor(executor, run, request, sync)
        except AbortedCall:
            return None  # grpc raises the abort it recorded and sends nothing more
        finally:
            # On a client cancel or a passed deadline grpc cancels this task: the
            # handler's thread learns it from is_active() and its callbacks.
            sync.end()

    return handle


def adapt(handler: Handler, executor: Executor) -> Handler:
    """The same method with each sync behaviour run in ``executor``; async ones stay."""
    replace: Callable[..., Handler] = handler._replace  # type: ignore[attr-defined]
    if handler.unary_unary is not None and not is_async(handler.unary_unary):
        unary_unary = handler.unary_unary
        return replace(unary_unary=_in_pool(executor, unary_unary))
    if handler.stream_unary is not None and not is_async(handler.stream_unary):
        stream_unary = handler.stream_unary
        return replace(
            stream_unary=_in_pool(
                executor, lambda _requests, context: stream_unary(_Requests(context), context)
            )
        )
    if handler.unary_stream is not None and not is_async(handler.unary_stream):
        unary_stream = handler.unary_stream
        return replace(
            unary_stream=_in_pool(
                executor,
                lambda request, context: _send_all(unary_stream(request, context), context),
            )
        )
    if handler.stream_stream is not None and not is_async(handler.stream_stream):
        stream_stream = handler.stream_stream
        return replace(
            stream_stream=_in_pool(
                executor,
                lambda _requests, context: _send_all(
                    stream_stream(_Requests(context), context), context
                ),
            )
        )
    return handler
