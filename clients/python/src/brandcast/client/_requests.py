"""What the sync and asyncio clients share: request messages, results and channel options."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from brandcast.client._audience import DEFAULT_CHUNK_SIZE, RecipientLike, chunks
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2

#: Called with the number of recipients handed to the connection so far.
ProgressCallback = Callable[[int], None]

#: Default deadline of a streamed submit, whose audience may take minutes to send.
STREAM_TIMEOUT: Final = 600.0

#: Reconnect quickly after the orchestrator restarts: grpc's defaults back off to
#: two minutes, and a call made while the channel waits fails at once.
CHANNEL_OPTIONS: Final[tuple[tuple[str, int], ...]] = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


def new_idempotency_key() -> str:
    return f"bc-{uuid.uuid4()}"


@dataclass(frozen=True)
class SubmitResult:
    """The accepted campaign, or the earlier one when the idempotency key matched."""

    campaign: campaign_pb2.Campaign
    duplicate: bool
    warnings: tuple[variant_pb2.RenderWarning, ...]
    idempotency_key: str
    recipients_received: int
    #: Addresses skipped with ``skip_invalid_addresses`` (the first 100).
    skipped: tuple[campaign_service_pb2.SkippedAddress, ...]
    #: Deliveries not created because another recipient had the same address.
    merged_duplicates: int


def end_of_stream(recipient_count: int) -> campaign_service_pb2.SubmitCampaignStreamRequest:
    """The declared end of a streamed submit: without it (a client that stopped half-way)
    the server stores nothing and the idempotency key stays free for the retry."""
    return campaign_service_pb2.SubmitCampaignStreamRequest(
        end=campaign_service_pb2.StreamEnd(recipient_count=recipient_count)
    )


def submit_request(
    spec: campaign_pb2.CampaignSpec,
    idempotency_key: str,
    *,
    skip_invalid_addresses: bool = False,
    keep_duplicate_addresses: bool = False,
    test: bool = False,
) -> campaign_service_pb2.SubmitCampaignRequest:
    return campaign_service_pb2.SubmitCampaignRequest(
        spec=spec,
        idempotency_key=idempotency_key,
        skip_invalid_addresses=skip_invalid_addresses,
        keep_duplicate_addresses=keep_duplicate_addresses,
        test=test,
    )


def stream_messages(
    header: campaign_service_pb2.SubmitCampaignRequest,
    audience: Iterable[RecipientLike],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: ProgressCallback | None = None,
) -> Iterator[campaign_service_pb2.SubmitCampaignStreamRequest]:
    """Header, chunks, declared end. Reports progress once grpc took each chunk."""
    yield campaign_service_pb2.SubmitCampaignStreamRequest(header=header)
    sent = len(header.spec.audience)
    for chunk in chunks(audience, chunk_size):
        yield campaign_service_pb2.SubmitCampaignStreamRequest(
            chunk=campaign_service_pb2.RecipientChunk(recipients=chunk)
        )
        # grpc asks for the next message only once it has taken this one.
        sent += len(chunk)
        if on_progress is not None:
            on_progress(sent)
    yield end_of_stream(sent)


def submit_result(
    response: campaign_service_pb2.SubmitCampaignResponse
    | campaign_service_pb2.SubmitCampaignStreamResponse,
    idempotency_key: str,
) -> SubmitResult:
    received = getattr(response, "recipients_received", None)
    return SubmitResult(
        campaign=response.campaign,
        duplicate=response.duplicate,
        warnings=tuple(response.warnings),
        idempotency_key=idempotency_key,
        recipients_received=(
            int(received) if received is not None else response.campaign.audience_size
        ),
        skipped=tuple(response.skipped),
        merged_duplicates=response.merged_duplicates,
    )


class RecordedStream:
    """A request stream that keeps the exception its source raised.

    grpc swallows an exception raised while it reads the requests into
    ``UNKNOWN: Exception iterating requests!``; the caller wants the real one
    (``audience[1500]: no Recipient field 'mail'``). The call is cancelled either
    way, so the declared end is never sent and the server stores nothing.
    """

    def __init__(
        self,
        messages: Iterable[campaign_service_pb2.SubmitCampaignStreamRequest]
        | AsyncIterable[campaign_service_pb2.SubmitCampaignStreamRequest],
    ) -> None:
        self._messages = messages
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[campaign_service_pb2.SubmitCampaignStreamRequest]:
        assert isinstance(self._messages, Iterable)
        try:
            yield from self._messages
        except Exception as exc:
            self.error = exc
            raise

    async def __aiter__(self) -> AsyncIterator[campaign_service_pb2.SubmitCampaignStreamRequest]:
        try:
            if isinstance(self._messages, AsyncIterable):
                async for message in self._messages:
                    yield message
            else:
                for message in self._messages:
                    yield message
        except Exception as exc:
            self.error = exc
            raise
