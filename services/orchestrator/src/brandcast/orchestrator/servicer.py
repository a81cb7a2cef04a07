"""gRPC servicers: decode the request, call a plain function, map errors to statuses.

Expected errors (``brandcast.orchestrator.errors``) become their status codes;
INVALID_ARGUMENT carries a ``google.rpc.BadRequest`` with one field violation
per problem. Anything else is logged and answered INTERNAL.
"""

# Method names are the RPC names the generated base classes define.
# ruff: noqa: N802

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final, NamedTuple, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status
from sqlalchemy.exc import DBAPIError

from brandcast.orchestrator.controls import CampaignControls
from brandcast.orchestrator.errors import (
    CallEndedError,
    CampaignNotFoundError,
    IdempotencyConflictError,
    InvalidCampaignError,
    OrchestratorError,
    ShuttingDownError,
    TooManyWatchesError,
)
from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.export import export_chunks
from brandcast.orchestrator.intake import (
    MAX_VIOLATIONS,
    CampaignIntake,
    SubmitResult,
    inline_audience_violations,
    render_violations,
)
from brandcast.orchestrator.pace_report import CampaignPace
from brandcast.orchestrator.rendering import CampaignRenderer, FieldViolation, RenderError
from brandcast.orchestrator.store import MAX_LEDGER_READ, QueryDeadlineError, Store
from brandcast.orchestrator.sync_bridge import AbortedCall, CallEnded
from brandcast.orchestrator.validation import normalize_address, validate_spec
from brandcast.orchestrator.watch import HEARTBEAT_SECONDS, watch_campaign_async
from brandcast.shared import metrics, telemetry
from brandcast.v1 import campaign_pb2
from brandcast.v1 import campaign_service_pb2 as api
from brandcast.v1 import campaign_service_pb2_grpc as api_grpc

log = logging.getLogger(__name__)

TRACE_HEADERS: Final = ("traceparent", "tracestate")
F = TypeVar("F", bound=Callable[..., Any])


def _invalid_status(violations: list[FieldViolation]) -> grpc.Status:
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    message = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    if len(violations) > 5:
        message += f" (and {len(violations) - 5} more)"
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=message or "invalid request", details=[detail]
    )
    return rpc_status.to_status(status)  # type: ignore[no-any-return]


def abort_invalid(context: grpc.ServicerContext, violations: list[FieldViolation]) -> NoReturn:
    context.abort_with_status(_invalid_status(violations))
    raise AssertionError("unreachable")  # abort raises


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


def _status_for(exc: Exception) -> _Status:
    """The status an exception of a call answers."""
    if isinstance(exc, InvalidCampaignError):
        status = _invalid_status(exc.violations)
        return _Status(status.code, status.details, tuple(status.trailing_metadata))
    if isinstance(exc, CampaignNotFoundError):
        return _Status(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, IdempotencyConflictError):
        return _Status(grpc.StatusCode.ALREADY_EXISTS, str(exc))
    if isinstance(exc, CallEnded):
        # The request stream broke off where no handler code expected it (its
        # first message): the deadline passed or the client left.
        exc = CallEndedError()
    if isinstance(exc, CallEndedError):
        return _Status(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc))
    if isinstance(exc, ShuttingDownError):
        return _Status(grpc.StatusCode.UNAVAILABLE, str(exc))
    if isinstance(exc, TooManyWatchesError):
        return _Status(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
    if isinstance(exc, OrchestratorError):
        return _Status(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # The database restarted or the connection dropped: the pool has been
        # refreshed, so a retry is expected to succeed.
        log.warning("database connection lost during a gRPC call: %s", exc.orig)
        return _Status(grpc.StatusCode.UNAVAILABLE, "database connection lost; retry")
    log.exception("unexpected error in a gRPC call", exc_info=exc)
    return _Status(grpc.StatusCode.INTERNAL, "internal error; see the orchestrator's log")


def _abort_for(context: grpc.ServicerContext, exc: Exception) -> NoReturn:
    status = _status_for(exc)
    if status.trailing_metadata:
        context.abort_with_status(status)  # type: ignore[arg-type]
    context.abort(status.code, status.details)
    raise AssertionError("unreachable")


def mapped_errors(method: F) -> F:
    """Turn expected errors of a unary-response method into gRPC statuses."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            if _is_abort(exc):
                raise
            _abort_for(context, exc)

    return wrapper  # type: ignore[return-value]


def _is_abort(exc: Exception) -> bool:
    # context.abort raises an exception that must pass through: the bridge's
    # own on the aio server, grpc's (a bare Exception subclass) on a sync one.
    return (
        isinstance(exc, AbortedCall | grpc.aio.AbortError)
        or type(exc).__name__ == "_AbortError"
        or (type(exc) is Exception and not exc.args)
    )


def _page_size(value: int, default: int, maximum: int) -> int:
    return min(value or default, maximum)


def _deadline(context: grpc.ServicerContext) -> float | None:
    """Seconds left of the call's deadline; None without one (grpc then says None or huge)."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 24 * 3600:
        return None
    return max(0.001, remaining)


def _bad_token(field: str) -> InvalidCampaignError:
    return InvalidCampaignError([FieldViolation(field, "not a page token of this API")])


class CampaignServicer(api_grpc.CampaignServiceServicer):
    def __init__(
        self,
        store: Store,
        intake: CampaignIntake,
        events: CampaignEvents,
        *,
        on_accepted: Callable[[SubmitResult], None] = lambda result: None,
        controls: CampaignControls | None = None,
        pace: CampaignPace | None = None,
        watch_heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._watch_heartbeat = watch_heartbeat
        self._store = store
        self._intake = intake
        self._events = events
        self._on_accepted = on_accepted
        self._controls = controls or CampaignControls(store, None, None)
        self._pace = pace or CampaignPace(None)

    @mapped_errors
    def SubmitCampaign(
        self, request: api.SubmitCampaignRequest, context: grpc.ServicerContext
    ) -> api.SubmitCampaignResponse:
        with telemetry.span("SubmitCampaign", _trace_context(context)) as trace_context:
            result = self._intake.submit(
                request, trace_context=trace_context, is_active=context.is_active
            )
        _accepted(result)
        self._on_accepted(result)
        return api.SubmitCampaignResponse(
            campaign=result.campaign,
            duplicate=result.duplicate,
            warnings=result.warnings,
            skipped=result.skipped,
            merged_duplicates=result.merged_duplicates,
        )

    @mapped_errors
    def SubmitCampaignStream(
        self,
        request_iterator: Iterator[api.SubmitCampaignStreamRequest],
        context: grpc.ServicerContext,
    ) -> api.SubmitCampaignStreamResponse:
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidCampaignError(
                [FieldViolation("header", "the first message must carry the campaign header")]
            )

        def chunks() -> Iterator[api.RecipientChunk]:
            received = len(first.header.spec.audience)
            try:
                for n, message in enumerate(request_iterator):
                    part = message.WhichOneof("part")
                    if part == "end":
                        _check_stream_end(message.end, received, request_iterator)
                        return
                    if part != "chunk":
                        raise InvalidCampaignError(
                            [
                                FieldViolation(
                                    f"chunks[{n}]", "only the first message carries a header"
                                )
                            ]
                        )
                    received += len(message.chunk.recipients)
                    yield message.chunk
            except grpc.RpcError as exc:
                # grpc raises this from the request stream once the deadline passed
                # or the client cancelled: stop reading and roll back.
                raise CallEndedError from exc
            # The client half-closed without declaring the end: it may have been
            # cancelled between its last chunk and the cancellation reaching us,
            # so what arrived is not known to be the whole audience.
            raise InvalidCampaignError([FieldViolation("end", STREAM_WITHOUT_END)])

        with telemetry.span("SubmitCampaignStream", _trace_context(context)) as trace_context:
            result = self._intake.submit(
                first.header, chunks(), trace_context=trace_context, is_active=context.is_active
            )
        _accepted(result)
        self._on_accepted(result)
        return api.SubmitCampaignStreamResponse(
            campaign=result.campaign,
            duplicate=result.duplicate,
            warnings=result.warnings,
            recipients_received=result.recipients_received,
            skipped=result.skipped,
            merged_duplicates=result.merged_duplicates,
        )

    @mapped_errors
    def PreviewCampaign(
        self, request: api.PreviewCampaignRequest, context: grpc.ServicerContext
    ) -> api.PreviewCampaignResponse:
        # The same checks as submit, so a preview never shows what submit then refuses.
        violations = validate_spec(request.spec) + inline_audience_violations(request.spec)
        if violations:
            raise InvalidCampaignError(violations[:MAX_VIOLATIONS])
        try:
            renderer = CampaignRenderer(request.spec)
            sample = list(request.spec.audience[: _page_size(request.sample_size, 3, 100)])
            variants = renderer.preview(sample)
        except RenderError as exc:
            raise InvalidCampaignError(render_violations(exc)) from exc
        return api.PreviewCampaignResponse(variants=variants)

    @mapped_errors
    def GetCampaign(
        self, request: api.GetCampaignRequest, context: grpc.ServicerContext
    ) -> api.GetCampaignResponse:
        campaign = self._store.get_campaign(request.campaign_id)
        if campaign is None:
            raise CampaignNotFoundError(request.campaign_id)
        campaign.pace.extend(self._pace(campaign.id, campaign.state, campaign.counters))
        return api.GetCampaignResponse(campaign=campaign)

    @mapped_errors
    def ListCampaigns(
        self, request: api.ListCampaignsRequest, context: grpc.ServicerContext
    ) -> api.ListCampaignsResponse:
        try:
            campaigns, token = self._store.list_campaigns(
                _page_size(request.page_size, 50, 500), request.page_token
            )
        except ValueError as exc:
            raise _bad_token("page_token") from exc
        for campaign in campaigns:
            summarize_spec(campaign.spec)
        return api.ListCampaignsResponse(campaigns=campaigns, next_page_token=token)

    @mapped_errors
    def ListDeliveries(
        self, request: api.ListDeliveriesRequest, context: grpc.ServicerContext
    ) -> api.ListDeliveriesResponse:
        if self._store.campaign_state(request.campaign_id) is None:
            raise CampaignNotFoundError(request.campaign_id)
        try:
            deliveries, token = self._store.list_deliveries(
                request.campaign_id,
                channel=request.channel,
                status=request.status,
                page_size=_page_size(request.page_size, 100, 1000),
                page_token=request.page_token,
                timeout=_deadline(context),
            )
        except QueryDeadlineError as exc:
            raise CallEndedError from exc
        except ValueError as exc:
            raise _bad_token("page_token") from exc
        return api.ListDeliveriesResponse(deliveries=deliveries, next_page_token=token)

    async def WatchCampaign(
        self, request: api.WatchCampaignRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[api.WatchCampaignResponse]:
        # Served on the event loop: an idle watch is a suspended coroutine, not
        # a parked thread. A client's cancel (or a passed deadline) cancels it
        # at its current await, and the finally gives its place back.
        try:
            watch = self._events.watch(request.campaign_id, _client_of(context))
            try:
                async for response in watch_campaign_async(
                    self._store,
                    self._events,
                    request,
                    watch,
                    heartbeat=self._watch_heartbeat,
                    pace=self._pace,
                ):
                    yield response
            finally:
                self._events.release(watch)
        except Exception as exc:
            if _is_abort(exc):
                raise
            status = _status_for(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)

    @mapped_errors
    def CancelCampaign(
        self, request: api.CancelCampaignRequest, context: grpc.ServicerContext
    ) -> api.CancelCampaignResponse:
        campaign, cancelled = self._controls.cancel(request.campaign_id)
        self._events.publish([request.campaign_id])
        return api.CancelCampaignResponse(campaign=campaign, cancelled=cancelled)

    @mapped_errors
    def GetDelivery(
        self, request: api.GetDeliveryRequest, context: grpc.ServicerContext
    ) -> api.GetDeliveryResponse:
        delivery = self._store.get_delivery(request.campaign_id, request.delivery_id)
        if delivery is None:
            raise CampaignNotFoundError(
                f"{request.campaign_id} has no delivery {request.delivery_id!r}"
            )
        return api.GetDeliveryResponse(delivery=delivery)

    @mapped_errors
    def ListDeliveryEvents(
        self, request: api.ListDeliveryEventsRequest, context: grpc.ServicerContext
    ) -> api.ListDeliveryEventsResponse:
        if request.after_position >= 2**63:
            raise InvalidCampaignError(
                [FieldViolation("after_position", "beyond any position of the ledger")]
            )
        campaign_id = request.campaign_id or None
        if campaign_id is not None and self._store.campaign_state(campaign_id) is None:
            raise CampaignNotFoundError(campaign_id)
        events = self._store.read_ledger(
            request.after_position,
            _page_size(request.limit, 500, MAX_LEDGER_READ),
            campaign_id=campaign_id,
        )
        after = events[-1].position if events else request.after_position
        return api.ListDeliveryEventsResponse(events=events, next_position=after)

    def ExportDeliveries(
        self, request: api.ExportDeliveriesRequest, context: grpc.ServicerContext
    ) -> Iterator[api.ExportDeliveriesResponse]:
        try:
            if self._store.campaign_state(request.campaign_id) is None:
                raise CampaignNotFoundError(request.campaign_id)
            pages = self._store.iter_delivery_rows(
                request.campaign_id, channel=request.channel, status=request.status
            )
            for chunk in export_chunks(pages, request.format):
                if not context.is_active():
                    return  # the caller hung up: stop reading pages
                yield chunk
        except Exception as exc:
            if _is_abort(exc):
                raise
            _abort_for(context, exc)

    @mapped_errors
    def DuplicateCampaign(
        self, request: api.DuplicateCampaignRequest, context: grpc.ServicerContext
    ) -> api.DuplicateCampaignResponse:
        found = self._store.campaign_spec(request.campaign_id)
        if found is None:
            raise CampaignNotFoundError(request.campaign_id)
        spec, _ = found
        spec.name = request.name or f"{spec.name} (copy)"[:200]
        chunks = (
            api.RecipientChunk(recipients=page)
            for page in self._store.iter_recipients(request.campaign_id)
        )
        # The option is not stored, but its trace is: an original with SKIPPED
        # deliveries was accepted with skip_invalid_addresses (intake keeps invalid
        # recipients only then), and its copy must skip the same addresses.
        skip_invalid = any(c.skipped for c in self._store.counters(request.campaign_id))
        with telemetry.span("DuplicateCampaign", _trace_context(context)) as trace_context:
            result = self._intake.submit(
                api.SubmitCampaignRequest(
                    spec=spec,
                    idempotency_key=request.idempotency_key,
                    skip_invalid_addresses=skip_invalid,
                ),
                chunks,
                trace_context=trace_context,
                is_active=context.is_active,
                duplicated_from=request.campaign_id,
            )
        _accepted(result)
        self._on_accepted(result)
        return api.DuplicateCampaignResponse(campaign=result.campaign)

    @mapped_errors
    def PauseCampaign(
        self, request: api.PauseCampaignRequest, context: grpc.ServicerContext
    ) -> api.PauseCampaignResponse:
        campaign = self._controls.pause(request.campaign_id)
        self._events.publish([request.campaign_id])
        return api.PauseCampaignResponse(campaign=campaign)

    @mapped_errors
    def ResumeCampaign(
        self, request: api.ResumeCampaignRequest, context: grpc.ServicerContext
    ) -> api.ResumeCampaignResponse:
        campaign = self._controls.resume(request.campaign_id)
        self._events.publish([request.campaign_id])
        return api.ResumeCampaignResponse(campaign=campaign)


class SuppressionServicer(api_grpc.SuppressionServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _address(channel: int, address: str) -> str:
        try:
            return normalize_address(channel, address)
        except ValueError as exc:
            field = "channel" if "only email and sms" in str(exc) else "address"
            raise InvalidCampaignError([FieldViolation(field, str(exc))]) from exc

    @mapped_errors
    def AddSuppression(
        self, request: api.AddSuppressionRequest, context: grpc.ServicerContext
    ) -> api.AddSuppressionResponse:
        address = self._address(request.channel, request.address)
        suppression = self._store.add_suppression(
            request.channel, address, request.reason, _actor(request.actor, context)
        )
        return api.AddSuppressionResponse(suppression=suppression)

    @mapped_errors
    def RemoveSuppression(
        self, request: api.RemoveSuppressionRequest, context: grpc.ServicerContext
    ) -> api.RemoveSuppressionResponse:
        address = self._address(request.channel, request.address)
        reason = request.reason.strip()
        if not reason or len(reason) > MAX_AUDIT_TEXT:
            # Removing a suppression undoes a person's opt-out: it must say why.
            raise InvalidCampaignError(
                [FieldViolation("reason", f"required, at most {MAX_AUDIT_TEXT} characters")]
            )
        if len(request.actor) > MAX_ACTOR:
            raise InvalidCampaignError([FieldViolation("actor", f"at most {MAX_ACTOR} characters")])
        removed = self._store.remove_suppression(
            request.channel, address, reason=reason, actor=_actor(request.actor, context)
        )
        return api.RemoveSuppressionResponse(removed=removed)

    @mapped_errors
    def ListSuppressionAudit(
        self, request: api.ListSuppressionAuditRequest, context: grpc.ServicerContext
    ) -> api.ListSuppressionAuditResponse:
        try:
            entries, token = self._store.list_suppression_audit(
                channel=request.channel,
                address=request.address,
                page_size=_page_size(request.page_size, 50, 500),
                page_token=request.page_token,
            )
        except ValueError as exc:
            raise _bad_token("page_token") from exc
        return api.ListSuppressionAuditResponse(entries=entries, next_page_token=token)

    @mapped_errors
    def ListSuppressions(
        self, request: api.ListSuppressionsRequest, context: grpc.ServicerContext
    ) -> api.ListSuppressionsResponse:
        try:
            items, token = self._store.list_suppressions(
                channel=request.channel,
                query=request.query,
                page_size=_page_size(request.page_size, 100, 1000),
                page_token=request.page_token,
            )
        except ValueError as exc:
            raise _bad_token("page_token") from exc
        return api.ListSuppressionsResponse(suppressions=items, next_page_token=token)


STREAM_WITHOUT_END: Final = (
    "the stream stopped without its end message (StreamEnd); nothing was stored"
)


def _check_stream_end(
    end: api.StreamEnd, received: int, rest: Iterator[api.SubmitCampaignStreamRequest]
) -> None:
    """The declared end must count what arrived and be the last message."""
    if end.recipient_count != received:
        raise InvalidCampaignError(
            [
                FieldViolation(
                    "end.recipient_count",
                    f"declares {end.recipient_count} recipients but {received} arrived",
                )
            ]
        )
    if next(rest, None) is not None:
        raise InvalidCampaignError([FieldViolation("end", "must be the last message")])


def _accepted(result: SubmitResult) -> None:
    if result.duplicate or result.campaign.test:
        return
    metrics.CAMPAIGNS_ACCEPTED.inc()
    log.info(
        "accepted campaign with %d recipients",
        result.recipients_received,
        extra={"campaign_id": result.campaign.id},
    )


def summarize_spec(spec: campaign_pb2.CampaignSpec) -> None:
    """Reduce a spec to what a list shows (name, brand, schedule, priority,
    labels, enabled channels): a page of 500 whole specs could reach the
    message size limit, and one campaign's spec comes from GetCampaign."""
    summary = campaign_pb2.CampaignSpec(
        name=spec.name,
        brand_kit=campaign_pb2.BrandKit(name=spec.brand_kit.name),
        priority=spec.priority,
        labels=spec.labels,
    )
    if spec.HasField("schedule"):
        summary.schedule.CopyFrom(spec.schedule)
    for channel in ("email", "sms", "social"):
        if getattr(spec.channels, channel).enabled:
            getattr(summary.channels, channel).enabled = True
    spec.CopyFrom(summary)


#: Longest reason kept for a suppression change, and longest actor name.
MAX_AUDIT_TEXT: Final = 500
MAX_ACTOR: Final = 200


def _actor(named: str, context: grpc.ServicerContext) -> str:
    """Who asks for a suppression change: the name the caller gave, else the client."""
    return named.strip()[:MAX_ACTOR] or "api:" + _client_of(context)


def _client_of(context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]) -> str:
    """Who holds a watch, for the per-client cap: the bearer token's digest
    when there is one (many users behind one admin share it), else the peer's host."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            return "token:" + hashlib.sha256(value.encode()).hexdigest()[:16]
    peer = context.peer() or ""
    return "peer:" + peer.rsplit(":", 1)[0]


def _trace_context(context: grpc.ServicerContext) -> dict[str, str]:
    return {
        key: value
        for key, value in context.invocation_metadata() or ()
        if key in TRACE_HEADERS and isinstance(value, str)
    }
