"""The blocking client: typed methods over CampaignService and SuppressionService."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc

from brandcast.client._audience import DEFAULT_CHUNK_SIZE, RecipientLike, replayable
from brandcast.client._config import ClientConfig
from brandcast.client._errors import UnavailableError, from_rpc_error, status_code
from brandcast.client._requests import (
    CHANNEL_OPTIONS,
    STREAM_TIMEOUT,
    ProgressCallback,
    RecordedStream,
    SubmitResult,
    new_idempotency_key,
    stream_messages,
    submit_request,
    submit_result,
)
from brandcast.client._retry import NO_RETRY, RetryPolicy
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

api = campaign_service_pb2
T = TypeVar("T")

#: Seconds a watch keeps reconnecting without hearing from the server before it gives up.
WATCH_RECONNECT_FOR = 60.0


class Client:
    """A connection to the orchestrator's API.

    ``Client()`` reads ``BRANDCAST_ADDRESS``, ``BRANDCAST_TOKEN`` and
    ``BRANDCAST_TLS_CA``; arguments override them. Every unary call has a default
    deadline (``timeout``, 30 s), which each method's ``timeout`` overrides. Use it
    as a context manager, or call :meth:`close`.
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
            grpc.secure_channel(self.config.address, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(self.config.address, options=options)
        )
        self._campaigns = campaign_service_pb2_grpc.CampaignServiceStub(self._channel)
        self._suppressions = campaign_service_pb2_grpc.SuppressionServiceStub(self._channel)
        self._metadata = self.config.metadata()

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- campaigns ---------------------------------------------------------------------

    def submit_campaign(
        self,
        spec: campaign_pb2.CampaignSpec,
        *,
        audience: Iterable[RecipientLike] | None = None,
        idempotency_key: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        skip_invalid_addresses: bool = False,
        keep_duplicate_addresses: bool = False,
        test: bool = False,
    ) -> SubmitResult:
        """Submit a campaign; answers once it and all its deliveries are stored.

        Without ``audience`` the recipients are ``spec.audience``, sent in one message.
        With it (a list, a generator, :func:`read_csv`) they are streamed in chunks of
        ``chunk_size``, in flat memory; ``on_progress(n)`` is called after each chunk.
        An idempotency key is generated when none is given, so a retry never makes two
        campaigns; it is returned in the result. A streamed submit is retried after
        UNAVAILABLE only when its audience can be read again (not a generator).
        ``skip_invalid_addresses``, ``keep_duplicate_addresses`` and ``test`` are the
        request's options of the same names.
        """
        key = idempotency_key or new_idempotency_key()
        request = submit_request(
            spec,
            key,
            skip_invalid_addresses=skip_invalid_addresses,
            keep_duplicate_addresses=keep_duplicate_addresses,
            test=test,
        )
        if audience is None:
            response = self._unary(
                "SubmitCampaign", self._campaigns.SubmitCampaign, request, timeout
            )
            return submit_result(response, key)
        policy = None if replayable(audience) else NO_RETRY

        def send(deadline: float) -> api.SubmitCampaignStreamResponse:
            messages = RecordedStream(stream_messages(request, audience, chunk_size, on_progress))
            try:
                response: api.SubmitCampaignStreamResponse = self._campaigns.SubmitCampaignStream(
                    iter(messages), timeout=deadline, metadata=self._metadata
                )
            except grpc.RpcError:
                if messages.error is not None:
                    raise messages.error from None  # the audience's own error, not grpc's
                raise
            return response

        stream_response = self._with_retries(
            "SubmitCampaignStream", send, timeout or STREAM_TIMEOUT, policy
        )
        return submit_result(stream_response, key)

    def preview_campaign(
        self,
        spec: campaign_pb2.CampaignSpec,
        *,
        sample_size: int = 0,
        timeout: float | None = None,
    ) -> api.PreviewCampaignResponse:
        """Render the variants of ``sample_size`` audience members (default 3, at most 100)."""
        request = api.PreviewCampaignRequest(spec=spec, sample_size=sample_size)
        response: api.PreviewCampaignResponse = self._unary(
            "PreviewCampaign", self._campaigns.PreviewCampaign, request, timeout
        )
        return response

    def get_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        request = api.GetCampaignRequest(campaign_id=campaign_id)
        response = self._unary("GetCampaign", self._campaigns.GetCampaign, request, timeout)
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    def list_campaigns(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> Iterator[campaign_pb2.Campaign]:
        """Every campaign, newest first, fetched a page at a time as you iterate."""
        request = api.ListCampaignsRequest(page_size=page_size)
        for page in self._pages("ListCampaigns", self._campaigns.ListCampaigns, request, timeout):
            yield from page.campaigns

    def list_deliveries(
        self,
        campaign_id: str,
        *,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        status: campaign_pb2.DeliveryStatus.ValueType = campaign_pb2.DELIVERY_STATUS_UNSPECIFIED,
        page_size: int = 0,
        timeout: float | None = None,
    ) -> Iterator[campaign_pb2.Delivery]:
        """A campaign's deliveries (optionally one channel or status), page by page."""
        request = api.ListDeliveriesRequest(
            campaign_id=campaign_id, channel=channel, status=status, page_size=page_size
        )
        for page in self._pages("ListDeliveries", self._campaigns.ListDeliveries, request, timeout):
            yield from page.deliveries

    def watch(
        self,
        campaign_id: str,
        *,
        include_deliveries: bool = False,
        resume_cursor: str = "",
        reconnect_for: float = WATCH_RECONNECT_FOR,
        on_resume: Callable[[str], None] | None = None,
    ) -> Iterator[api.WatchCampaignResponse]:
        """Progress (with ``include_deliveries``, delivery) events until all deliveries settle.

        When the connection drops or the server restarts (UNAVAILABLE), the watch
        reconnects with backoff and resumes after the last event's cursor: no event
        is missed or repeated (a fresh progress event opens each new connection).
        It gives up with :class:`UnavailableError` after ``reconnect_for`` seconds
        without an answer. Pass an event's ``cursor`` as ``resume_cursor`` to go on
        later from there. ``on_resume(cursor)`` is called before each reconnection.
        """
        cursor = resume_cursor
        retry = 0
        heard_from = time.monotonic()
        while True:
            request = api.WatchCampaignRequest(
                campaign_id=campaign_id, resume_cursor=cursor, include_deliveries=include_deliveries
            )
            call = self._campaigns.WatchCampaign(request, metadata=self._metadata)
            try:
                for event in call:
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
                time.sleep(self.config.retry.backoff(retry))
                retry += 1
                if on_resume is not None:
                    on_resume(cursor)
            finally:
                call.cancel()

    def cancel_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> api.CancelCampaignResponse:
        """Cancel every delivery not yet handed to a provider."""
        request = api.CancelCampaignRequest(campaign_id=campaign_id)
        response: api.CancelCampaignResponse = self._unary(
            "CancelCampaign", self._campaigns.CancelCampaign, request, timeout
        )
        return response

    def pause_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        """Stop releasing the campaign's deliveries (nothing is lost)."""
        request = api.PauseCampaignRequest(campaign_id=campaign_id)
        response = self._unary("PauseCampaign", self._campaigns.PauseCampaign, request, timeout)
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    def resume_campaign(
        self, campaign_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Campaign:
        """Release a paused campaign's deliveries again, from where it stopped."""
        request = api.ResumeCampaignRequest(campaign_id=campaign_id)
        response = self._unary("ResumeCampaign", self._campaigns.ResumeCampaign, request, timeout)
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    def get_delivery(
        self, campaign_id: str, delivery_id: str, *, timeout: float | None = None
    ) -> campaign_pb2.Delivery:
        """One delivery with its history (attempts, status changes, provider answers)."""
        request = api.GetDeliveryRequest(campaign_id=campaign_id, delivery_id=delivery_id)
        response = self._unary("GetDelivery", self._campaigns.GetDelivery, request, timeout)
        delivery: campaign_pb2.Delivery = response.delivery
        return delivery

    def export_deliveries(
        self,
        campaign_id: str,
        *,
        export_format: api.ExportFormat.ValueType = api.EXPORT_FORMAT_CSV,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        status: campaign_pb2.DeliveryStatus.ValueType = campaign_pb2.DELIVERY_STATUS_UNSPECIFIED,
        timeout: float | None = None,
    ) -> Iterator[bytes]:
        """A campaign's deliveries as CSV (or JSON lines), in chunks of bytes: write
        them one after another to a file. Any size streams in flat memory."""
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
                for chunk in call:
                    started = True
                    yield chunk.data
                return
            except grpc.RpcError as exc:
                code = status_code(exc)
                if started or not self.config.retry.should_retry("ExportDeliveries", code, attempt):
                    raise from_rpc_error(exc) from exc
            finally:
                call.cancel()
            time.sleep(self.config.retry.backoff(attempt - 1))

    def duplicate_campaign(
        self,
        campaign_id: str,
        *,
        name: str = "",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> campaign_pb2.Campaign:
        """A new campaign with the spec and audience of ``campaign_id`` (name: "<old> (copy)")."""
        request = api.DuplicateCampaignRequest(
            campaign_id=campaign_id,
            name=name,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        response = self._unary(
            "DuplicateCampaign",
            self._campaigns.DuplicateCampaign,
            request,
            timeout or STREAM_TIMEOUT,
        )
        campaign: campaign_pb2.Campaign = response.campaign
        return campaign

    # -- suppressions ------------------------------------------------------------------

    def add_suppression(
        self,
        channel: campaign_pb2.Channel.ValueType,
        address: str,
        *,
        reason: str = "",
        timeout: float | None = None,
    ) -> api.Suppression:
        request = api.AddSuppressionRequest(channel=channel, address=address, reason=reason)
        response = self._unary(
            "AddSuppression", self._suppressions.AddSuppression, request, timeout
        )
        suppression: api.Suppression = response.suppression
        return suppression

    def remove_suppression(
        self,
        channel: campaign_pb2.Channel.ValueType,
        address: str,
        *,
        reason: str,
        actor: str = "",
        timeout: float | None = None,
    ) -> bool:
        """True when the address was suppressed and no longer is. It undoes the
        person's opt-out: ``reason`` is required and kept in the audit trail
        with ``actor`` (who asks; empty records this client)."""
        request = api.RemoveSuppressionRequest(
            channel=channel, address=address, reason=reason, actor=actor
        )
        response = self._unary(
            "RemoveSuppression", self._suppressions.RemoveSuppression, request, timeout
        )
        return bool(response.removed)

    def list_suppressions(
        self,
        *,
        channel: campaign_pb2.Channel.ValueType = campaign_pb2.CHANNEL_UNSPECIFIED,
        query: str = "",
        page_size: int = 0,
        timeout: float | None = None,
    ) -> Iterator[api.Suppression]:
        request = api.ListSuppressionsRequest(channel=channel, query=query, page_size=page_size)
        pages = self._pages(
            "ListSuppressions", self._suppressions.ListSuppressions, request, timeout
        )
        for page in pages:
            yield from page.suppressions

    # -- plumbing ----------------------------------------------------------------------

    def _unary(
        self, method: str, rpc: Callable[..., Any], request: Any, timeout: float | None
    ) -> Any:
        return self._with_retries(
            method,
            lambda deadline: rpc(request, timeout=deadline, metadata=self._metadata),
            timeout or self.config.timeout,
        )

    def _pages(
        self, method: str, rpc: Callable[..., Any], request: Any, timeout: float | None
    ) -> Iterator[Any]:
        while True:
            page = self._unary(method, rpc, request, timeout)
            yield page
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def _with_retries(
        self,
        method: str,
        attempt_call: Callable[[float], T],
        timeout: float,
        policy: RetryPolicy | None = None,
    ) -> T:
        policy = policy or self.config.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return attempt_call(timeout)
            except grpc.RpcError as exc:
                if not policy.should_retry(method, status_code(exc), attempt):
                    raise from_rpc_error(exc) from exc
            time.sleep(policy.backoff(attempt - 1))
