"""The admin's one port to the orchestrator: typed gRPC calls with a deadline, the
bearer token, and gRPC errors translated into the few cases a page handles.

Errors::

    OrchestratorError            anything else the orchestrator answered (HTTP 502)
    ├── OrchestratorUnavailableError  unreachable, too slow, or it refused our token (HTTP 503)
    ├── OrchestratorNotFoundError     unknown campaign id (HTTP 404)
    └── OrchestratorRejectedError     the request is invalid; ``violations`` name the fields
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import grpc
from google.protobuf import message as _message
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from brandcast.admin.settings import AdminSettings
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class OrchestratorError(Exception):
    """The orchestrator answered with an error the admin cannot fix by itself."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class OrchestratorUnavailableError(OrchestratorError):
    """The orchestrator cannot be reached, is too slow, or refuses the admin's token."""


class OrchestratorNotFoundError(OrchestratorError):
    """The campaign (or other object) does not exist."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class OrchestratorRejectedError(OrchestratorError):
    """The orchestrator found the request invalid (INVALID_ARGUMENT, ALREADY_EXISTS...)."""

    def __init__(
        self, message: str, code: grpc.StatusCode, violations: list[FieldViolation]
    ) -> None:
        super().__init__(message, code)
        self.violations = violations


async def _noop() -> None:
    return None


@dataclass
class OrchestratorStubs:
    """The two gRPC services the admin calls, and how to release their channel."""

    campaigns: campaign_service_pb2_grpc.CampaignServiceAsyncStub
    suppressions: campaign_service_pb2_grpc.SuppressionServiceAsyncStub
    close: Callable[[], Awaitable[None]] = field(default=_noop)


#: Builds the stubs once the event loop runs (grpc.aio channels belong to a loop).
StubFactory = Callable[[AdminSettings], OrchestratorStubs]


def grpc_stub_factory(settings: AdminSettings) -> OrchestratorStubs:
    """Stubs over an insecure channel to ``ADMIN_ORCHESTRATOR_ADDRESS`` (loopback or a mesh)."""
    channel = grpc.aio.insecure_channel(
        settings.orchestrator_address,
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ],
    )

    async def close() -> None:
        await channel.close(grace=1.0)

    return OrchestratorStubs(
        campaigns=campaign_service_pb2_grpc.CampaignServiceStub(channel),
        suppressions=campaign_service_pb2_grpc.SuppressionServiceStub(channel),
        close=close,
    )


def _violations(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    for key, value in error.trailing_metadata() or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except _message.DecodeError:
            continue
        for detail in status.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                found.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
    return found


def translate_error(error: grpc.aio.AioRpcError) -> OrchestratorError:
    """Map a gRPC failure to the admin's error tree."""
    code = error.code()
    details = error.details() or code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return OrchestratorUnavailableError(
            f"the orchestrator did not answer ({code.name.lower()}: {details})", code
        )
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        # The token itself is never repeated: pages may be screenshotted.
        return OrchestratorUnavailableError(
            "the orchestrator refused the admin's API token (check ADMIN_API_TOKEN)", code
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return OrchestratorNotFoundError(details, code)
    if code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    ):
        return OrchestratorRejectedError(details, code, _violations(error))
    return OrchestratorError(f"the orchestrator failed ({code.name.lower()}: {details})", code)


def _chunks(
    items: Iterable[campaign_pb2.Recipient], size: int
) -> Iterator[list[campaign_pb2.Recipient]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Orchestrator:
    """Typed calls to the orchestrator, each with a deadline and the bearer token."""

    def __init__(self, stubs: OrchestratorStubs, *, api_token: str, timeout: float) -> None:
        self._stubs = stubs
        self._timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {api_token}"),) if api_token else ()
        )

    async def close(self) -> None:
        await self._stubs.close()

    async def list_campaigns(
        self, page_size: int = 50, page_token: str = ""
    ) -> campaign_service_pb2.ListCampaignsResponse:
        request = campaign_service_pb2.ListCampaignsRequest(
            page_size=page_size, page_token=page_token
        )
        try:
            return await self._stubs.campaigns.ListCampaigns(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def get_campaign(self, campaign_id: str) -> campaign_pb2.Campaign:
        request = campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id)
        try:
            response = await self._stubs.campaigns.GetCampaign(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        return response.campaign

    async def list_deliveries(
        self, request: campaign_service_pb2.ListDeliveriesRequest
    ) -> campaign_service_pb2.ListDeliveriesResponse:
        try:
            return await self._stubs.campaigns.ListDeliveries(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def get_delivery(self, campaign_id: str, delivery_id: str) -> campaign_pb2.Delivery:
        request = campaign_service_pb2.GetDeliveryRequest(
            campaign_id=campaign_id, delivery_id=delivery_id
        )
        try:
            response = await self._stubs.campaigns.GetDelivery(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        return response.delivery

    async def export(
        self, request: campaign_service_pb2.ExportDeliveriesRequest
    ) -> AsyncGenerator[bytes, None]:
        """The export's bytes as the orchestrator streams them (no overall
        deadline: a million rows take a while; the caller stops by closing)."""
        call = self._stubs.campaigns.ExportDeliveries(request, metadata=self._metadata)
        try:
            async for chunk in call:
                yield chunk.data
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        finally:
            call.cancel()

    async def preview(
        self, spec: campaign_pb2.CampaignSpec, sample_size: int = 1
    ) -> campaign_service_pb2.PreviewCampaignResponse:
        request = campaign_service_pb2.PreviewCampaignRequest(spec=spec, sample_size=sample_size)
        try:
            return await self._stubs.campaigns.PreviewCampaign(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def submit(
        self,
        spec: campaign_pb2.CampaignSpec,
        *,
        idempotency_key: str,
        audience: Iterable[campaign_pb2.Recipient],
        chunk_size: int = 1000,
        skip_invalid_addresses: bool = False,
        test: bool = False,
    ) -> campaign_service_pb2.SubmitCampaignStreamResponse:
        """Submit with the audience streamed in chunks, so no message grows with the audience."""

        async def requests() -> AsyncIterator[campaign_service_pb2.SubmitCampaignStreamRequest]:
            yield campaign_service_pb2.SubmitCampaignStreamRequest(
                header=campaign_service_pb2.SubmitCampaignRequest(
                    spec=spec,
                    idempotency_key=idempotency_key,
                    skip_invalid_addresses=skip_invalid_addresses,
                    test=test,
                )
            )
            sent = len(spec.audience)
            for chunk in _chunks(audience, chunk_size):
                sent += len(chunk)
                yield campaign_service_pb2.SubmitCampaignStreamRequest(
                    chunk=campaign_service_pb2.RecipientChunk(recipients=chunk)
                )
            # Declares the whole audience sent: without it the server stores nothing.
            yield campaign_service_pb2.SubmitCampaignStreamRequest(
                end=campaign_service_pb2.StreamEnd(recipient_count=sent)
            )

        try:
            # Large audiences take longer to persist than one ordinary call.
            return await self._stubs.campaigns.SubmitCampaignStream(
                requests(), timeout=self._timeout * 6, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def cancel(self, campaign_id: str) -> campaign_service_pb2.CancelCampaignResponse:
        request = campaign_service_pb2.CancelCampaignRequest(campaign_id=campaign_id)
        try:
            return await self._stubs.campaigns.CancelCampaign(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def pause(self, campaign_id: str) -> campaign_service_pb2.PauseCampaignResponse:
        request = campaign_service_pb2.PauseCampaignRequest(campaign_id=campaign_id)
        try:
            return await self._stubs.campaigns.PauseCampaign(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def resume(self, campaign_id: str) -> campaign_service_pb2.ResumeCampaignResponse:
        request = campaign_service_pb2.ResumeCampaignRequest(campaign_id=campaign_id)
        try:
            return await self._stubs.campaigns.ResumeCampaign(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def watch(
        self, campaign_id: str, resume_cursor: str = ""
    ) -> AsyncGenerator[campaign_service_pb2.WatchCampaignResponse, None]:
        """Progress events until the orchestrator ends the stream or the caller stops."""
        request = campaign_service_pb2.WatchCampaignRequest(
            campaign_id=campaign_id, resume_cursor=resume_cursor
        )
        call = self._stubs.campaigns.WatchCampaign(request, metadata=self._metadata)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        finally:
            call.cancel()

    async def list_suppressions(
        self, request: campaign_service_pb2.ListSuppressionsRequest
    ) -> campaign_service_pb2.ListSuppressionsResponse:
        try:
            return await self._stubs.suppressions.ListSuppressions(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc

    async def add_suppression(
        self, channel: campaign_pb2.Channel.ValueType, address: str, reason: str, actor: str = ""
    ) -> campaign_service_pb2.Suppression:
        request = campaign_service_pb2.AddSuppressionRequest(
            channel=channel, address=address, reason=reason, actor=actor
        )
        try:
            response = await self._stubs.suppressions.AddSuppression(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        return response.suppression

    async def remove_suppression(
        self, channel: campaign_pb2.Channel.ValueType, address: str, *, reason: str, actor: str
    ) -> bool:
        """Allow an address again, with the reason and who asked (the audit trail)."""
        request = campaign_service_pb2.RemoveSuppressionRequest(
            channel=channel, address=address, reason=reason, actor=actor
        )
        try:
            response = await self._stubs.suppressions.RemoveSuppression(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
        return response.removed

    async def list_suppression_audit(
        self, request: campaign_service_pb2.ListSuppressionAuditRequest
    ) -> campaign_service_pb2.ListSuppressionAuditResponse:
        try:
            return await self._stubs.suppressions.ListSuppressionAudit(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc) from exc
