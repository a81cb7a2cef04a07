"""The asyncio twin of :class:`~brandcast.client.Client` (``grpc.aio``): same methods, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio

from brandcast.client._audience import DEFAULT_CHUNK_SIZE, RecipientLike, replayable, to_recipient
from brandcast.client._config import ClientConfig
from brandcast.client._errors import UnavailableError, from_rpc_error, status_code
from brandcast.client._requests import (
    CHANNEL_OPTIONS,
    STREAM_TIMEOUT,
    ProgressCallback,
    RecordedStream,
    SubmitResult,
    end_of_stream,
    new_idempotency_key,
    stream_messages,
    submit_request,
    submit_result,
)
from brandcast.client._retry import NO_RETRY, RetryPolicy
from brandcast.client._sync import WATCH_RECONNECT_FOR
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

api = campaign_service_pb2
T = TypeVar("T")


async def _async_stream_messages(
    header: api.SubmitCampaignRequest,
    audience: AsyncIterable[RecipientLike],
    chunk_size: int,
    on_progress: ProgressCallback | None,
) -> AsyncIterator[api.SubmitCampaignStreamRequest]:
    """``stream_messages`` for an audience that is itself read asynchronously."""
    yield api.SubmitCampaignStreamRequest(header=header)
    sent = len(header.spec.audience)
    chunk: list[campaign_pb2.Recipient] = []
    index = 0
    async for item in audience:
        chunk.append(to_recipient(item, index))
        index += 1
        if len(chunk) == chunk_size:
            yield api.SubmitCampaignStreamRequest(chunk=api.RecipientChunk(recipients=chunk))
            sent += len(chunk)
            chunk = []
            if on_progress is not None:
                on_progress(sent)
    if chunk:
        yield api.SubmitCampaignStreamRequest(chunk=api.RecipientChunk(recipients=chunk))
        sent += len(chunk)
        if on_progress is not None:
            on_progress(sent)
    yield end_of_stream(sent)


class AsyncClient:
    """A ``grpc.aio`` connection to the orchestrator's API; see :class:`~brandcast.client.Client`.

    Create it inside the running event loop; use ``async with`` or ``await close()``.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        tls_ca: str | Path | None = None,
        tls: bool | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        self.config = config or ClientConfig.resolve(
            address, token=token, tls_ca=tls_ca, tls=tls, timeout=timeout, retry=retry
        )
        options = list(CHANNEL_OPTIONS) + list(self.config.channel_options)
        credentials = self.config.credentials()
        self._channel = (
            grpc.aio.secure_channel(self.config.address, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(self.config.address, options=options)
        )
        self._campaigns = campaign_service_pb2_grpc.CampaignServiceStub(self._channel)
        self._suppressions = campaign_service_pb2_grpc.SuppressionServiceStub(self._channel)
        self._metadata = self.config.metadata()

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- campaigns ---------------------------------------------------------------------

    async def submit_campaign(
        self,
        spec: campaign_pb2.CampaignSpec,
        *,
        audience: Iterable[RecipientLike] | AsyncIterable[RecipientLike] | None = None,
        idempotency_key: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        skip_invalid_addresses: bool = False,
        keep_duplicate_addresses: bool = False,
        test: bool = False,
    ) -> SubmitResult:
        """See :meth:`Client.submit_campaign`; ``audience`` may also be an async iterable."""
        key = idempotency_key or new_idempotency_key()
        request = submit_request(
            spec,
            key,
            skip_invalid_addresses=skip_invalid_addresses,
            keep_duplicate_addresses=keep_duplicate_addresses,
            test=test,
        )
        if audience is None:
            response = await self._unary(
                "SubmitCampaign", self._campaigns.SubmitCampaign, request, timeout
            )
            return submit_result(response, key)
        policy = None if isinstance(audience, Iterable) and replayable(audience) else NO_RETRY

        async def send(deadline: float) -> api.SubmitCampaignStreamResponse:
            messages: Any
            if isinstance(audience, AsyncIterable):
                messages = _async_stream_messages(request, audience, chunk_size, on_progress)
            else:
                messages = stream_messages(request, audience, chunk_size, on_progress)
            recorded = RecordedStream(messages)
            try:
                response: api.SubmitCampaignStreamResponse = (
                    await self._campaigns.SubmitCampaignStream(
                        recorded.__aiter__(), timeout=deadline, metadata=self._metadata
                    )
                )
            except (grpc.RpcError, asyncio.CancelledError):
                # grpc.aio cancels the call when the request stream raises.
                if recorded.error is not None:
                    raise recorded.error from None  # the audience's own error, not grpc's
                raise
            return response

        stream_response = await self._with_retries(
            "SubmitCampaignStream", send, timeout or STREAM_TIMEOUT, policy
        )
        return submit_result(stream_response, key)

    async def preview_campaign(
        self, spec: campaign_pb2.CampaignSpec, *, sample_size: int = 0, timeout: float | None = None
    ) -> api.PreviewCampaignResponse:
        request = api.PreviewCampaignRequest(spec=spec, sample_size=sample_size)
        response: api.PreviewCampaignResponse = await self._unary(
            "PreviewCampaign", self._campaigns.PreviewCampaign, request, timeout
        )
        return response

    async def get_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        request = api.GetCampaignRequest(campaign_id=campaign_id)
        response = await self._unary("GetCampaign", self._campaigns.GetCampaign, request, timeout)
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    async def list_campaigns(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> AsyncIterator[campaign_pb2.Campaign]:
        request = api.ListCampaignsRequest(page_size=page_size)
        async for page in self._pages(
            "ListCampaigns", self._campaigns.ListCampaigns, request, timeout
        ):
            for campaign in page.campaigns:
                yield campaign

    async def list_deliveries(
        self,
        campaign_id: str,
        *,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        status: campaign_pb2.DeliveryStatus.ValueType = campaign_pb2.DELIVERY_STATUS_UNSPECIFIED,
        page_size: int = 0,
        timeout: float | None = None,
    ) -> AsyncIterator[campaign_pb2.Delivery]:
        request = api.ListDeliveriesRequest(
            campaign_id=campaign_id, channel=channel, status=status, page_size=page_size
        )
        async for page in self._pages(
            "ListDeliveries", self._campaigns.ListDeliveries, request, timeout
        ):
            for delivery in page.deliveries:
                yield delivery

    async def watch(
        self,
        campaign_id: str,
        *,
        include_deliveries: bool = False,
        resume_cursor: str = "",
        reconnect_for: float = WATCH_RECONNECT_FOR,
        on_resume: Callable[[str], None] | None = None,
    ) -> AsyncIterator[api.WatchCampaignResponse]:
        """See :meth:`Client.watch`: resumes from its cursor after UNAVAILABLE."""
        cursor = resume_cursor
        retry = 0
        heard_from = time.monotonic()
        while True:
            request = api.WatchCampaignRequest(
                campaign_id=campaign_id, resume_cursor=cursor, include_deliveries=include_deliveries
            )
            call = self._campaigns.WatchCampaign(request, metadata=self._metadata)
            try:
                async for event in call:
                    cursor = event.cursor
                    retry = 0
                    heard_from = time.monotonic()
                    yield event
                return
            except grpc.RpcError as exc:
                if status_code(exc) != grpc.StatusCode.UNAVAILABLE:
                    raise from_rpc_error(exc) from exc
                if time.monotonic() - heard_from > reconnect_for:
                    raise UnavailableError(
                        grpc.StatusCode.UNAVAILABLE,
                        f"no answer from {self.config.address} for {reconnect_for:.0f} s; "
                        f"resume later from cursor {cursor!r}",
                    ) from exc
                await asyncio.sleep(self.config.retry.backoff(retry))
                retry += 1
                if on_resume is not None:
                    on_resume(cursor)
            finally:
                call.cancel()

    async def cancel_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> api.CancelCampaignResponse:
        request = api.CancelCampaignRequest(campaign_id=campaign_id)
        response: api.CancelCampaignResponse = await self._unary(
            "CancelCampaign", self._campaigns.CancelCampaign, request, timeout
        )
        return response

    async def pause_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        request = api.PauseCampaignRequest(campaign_id=campaign_id)
        response = await self._unary(
            "PauseCampaign", self._campaigns.PauseCampaign, request, timeout
        )
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    async def resume_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        request = api.ResumeCampaignRequest(campaign_id=campaign_id)
        response = await self._unary(
            "ResumeCampaign", self._campaigns.ResumeCampaign, request, timeout
        )
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    async def get_delivery(
        self, campaign_id: str, delivery_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Delivery:
        request = api.GetDeliveryRequest(campaign_id=campaign_id, delivery_id=delivery_id)
        response = await self._unary("GetDelivery", self._campaigns.GetDelivery, request, timeout)
        delivery: campaign_pb2.Delivery = response.delivery
        return delivery

    async def export_deliveries(
        self,
        campaign_id: str,
        *,
        export_format: api.ExportFormat.ValueType = api.EXPORT_FORMAT_CSV,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        status: campaign_pb2.DeliveryStatus.ValueType = campaign_pb2.DELIVERY_STATUS_UNSPECIFIED,
        timeout: float | None = None,
    ) -> AsyncIterator[bytes]:
        """See :meth:`Client.export_deliveries`."""
        request = api.ExportDeliveriesRequest(
            campaign_id=campaign_id, channel=channel, status=status, format=export_format
        )
        deadline = timeout or STREAM_TIMEOUT
        attempt = 0
        while True:
            attempt += 1
            call = self._campaigns.ExportDeliveries(
                request, timeout=deadline, metadata=self._metadata
            )
            started = False
            try:
                async for chunk in call:
                    started = True
                    yield chunk.data
                return
            except grpc.RpcError as exc:
                code = status_code(exc)
                if started or not self.config.retry.should_retry("ExportDeliveries", code, attempt):
                    raise from_rpc_error(exc) from exc
            finally:
                call.cancel()
            await asyncio.sleep(self.config.retry.backoff(attempt - 1))

    async def duplicate_campaign(
        self,
        campaign_id: str,
        *,
        name: str = "",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> campaign_pb2.Campaign:
        request = api.DuplicateCampaignRequest(
            campaign_id=campaign_id,
            name=name,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        response = await self._unary(
            "DuplicateCampaign",
            self._campaigns.DuplicateCampaign,
            request,
            timeout or STREAM_TIMEOUT,
        )
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    # -- suppressions ------------------------------------------------------------------

    async def add_suppression(
        self,
        channel: campaign_pb2.Channel.ValueType,
        address: str,
        *,
        reason: str = "",
        timeout: float | None = None,
    ) -> api.Suppression:
        request = api.AddSuppressionRequest(channel=channel, address=address, reason=reason)
        response = await self._unary(
            "AddSuppression", self._suppressions.AddSuppression, request, timeout
        )
        suppression: api.Suppression = response.suppression
        return suppression

    async def remove_suppression(
        self,
        channel: campaign_pb2.Channel.ValueType,
        address: str,
        *,
        reason: str,
        actor: str = "",
        timeout: float | None = None,
    ) -> bool:
        """As ``Client.remove_suppression``."""
        request = api.RemoveSuppressionRequest(
            channel=channel, address=address, reason=reason, actor=actor
        )
        response = await self._unary(
            "RemoveSuppression", self._suppressions.RemoveSuppression, request, timeout
        )
        return bool(response.removed)

    async def list_suppressions(
        self,
        *,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        query: str = "",
        page_size: int = 0,
        timeout: float | None = None,
    ) -> AsyncIterator[api.Suppression]:
        request = api.ListSuppressionsRequest(channel=channel, query=query, page_size=page_size)
        async for page in self._pages(
            "ListSuppressions", self._suppressions.ListSuppressions, request, timeout
        ):
            for suppression in page.suppressions:
                yield suppression

    # -- plumbing ----------------------------------------------------------------------

    async def _unary(
        self, method: str, rpc: Callable[..., Any], request: Any, timeout: float | None
    ) -> Any:
        async def attempt(deadline: float) -> Any:
            return await rpc(request, timeout=deadline, metadata=self._metadata)

        return await self._with_retries(method, attempt, timeout or self.config.timeout)

    async def _pages(
        self, method: str, rpc: Callable[..., Any], request: Any, timeout: float | None
    ) -> AsyncIterator[Any]:
        while True:
            page = await self._unary(method, rpc, request, timeout)
            yield page
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def _with_retries(
        self,
        method: str,
        attempt_call: Callable[[float], Awaitable[T]],
        timeout: float,
        policy: RetryPolicy | None = None,
    ) -> T:
        policy = policy or self.config.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_call(timeout)
            except grpc.RpcError as exc:
                if not policy.should_retry(method, status_code(exc), attempt):
                    raise from_rpc_error(exc) from exc
            await asyncio.sleep(policy.backoff(attempt - 1))
