"""INVALID_ARGUMENT, not INTERNAL, for request bytes that are not a valid message.

grpcio answers INTERNAL when a request cannot be deserialized (invalid UTF-8 in
a string field, truncated bytes), which tells a client the server is broken
when the client is. This interceptor makes deserialization tolerant: a request
that cannot be parsed reaches the handler as an :class:`UndecodableRequest`,
and the wrapped handler aborts with INVALID_ARGUMENT naming the parse error.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

if TYPE_CHECKING:
    # Subscripted only for the type checker: the runtime class is not generic.
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]


@dataclass(frozen=True)
class UndecodableRequest:
    reason: str


def _tolerant(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except (DecodeError, UnicodeDecodeError, ValueError) as exc:
            return UndecodableRequest(str(exc) or type(exc).__name__)

    return deserialize


def _refuse(context: grpc.ServicerContext, request: UndecodableRequest) -> None:
    context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message: {request.reason}"
    )


def _checked_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, UndecodableRequest):
            _refuse(context, request)
        yield request


def _guard_unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour):
        return _on_loop(behaviour, _checked_request)

    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, UndecodableRequest):
            _refuse(context, request)
        return behaviour(request, context)

    return guarded


def _guard_stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour):
        return _on_loop(behaviour, _checked_async_stream)

    def guarded(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return behaviour(_checked_stream(requests, context), context)

    return guarded


# Handlers served on the event loop (watches, health, reflection) get an aio
# context, whose abort is awaited.


async def _refuse_async(context: Any, request: UndecodableRequest) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message: {request.reason}"
    )


async def _checked_request(request: Any, context: Any) -> Any:
    if isinstance(request, UndecodableRequest):
        await _refuse_async(context, request)
    return request


async def _checked_async_stream(requests: AsyncIterator[Any], context: Any) -> Any:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, UndecodableRequest):
                await _refuse_async(context, request)
            yield request

    return checked()


def _on_loop(
    behaviour: Callable[..., Any], check: Callable[[Any, Any], Awaitable[Any]]
) -> Callable[..., Any]:
    """``behaviour`` with its request (or request stream) checked first, of the same kind."""
    if inspect.isasyncgenfunction(behaviour):

        async def streamed(request: Any, context: Any) -> AsyncIterator[Any]:
            async for response in behaviour(await check(request, context), context):
                yield response

        return streamed

    async def answered(request: Any, context: Any) -> Any:
        return await behaviour(await check(request, context), context)

    return answered


class UndecodableRequestInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        deserializer = _tolerant(handler.request_deserializer)
        # RpcMethodHandler is a namedtuple: swap the deserializer and guard the behaviour.
        replace: Callable[..., Handler] = handler._replace  # type: ignore[attr-defined]
        if handler.unary_unary is not None:
            return replace(
                request_deserializer=deserializer, unary_unary=_guard_unary(handler.unary_unary)
            )
        if handler.unary_stream is not None:
            return replace(
                request_deserializer=deserializer, unary_stream=_guard_unary(handler.unary_stream)
            )
        if handler.stream_unary is not None:
            return replace(
                request_deserializer=deserializer, stream_unary=_guard_stream(handler.stream_unary)
            )
        if handler.stream_stream is not None:
            return replace(
                request_deserializer=deserializer,
                stream_stream=_guard_stream(handler.stream_stream),
            )
        return handler
