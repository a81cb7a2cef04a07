"""What the sync and asyncio clients share: request messages, results and channel options."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
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

# The contract's declared end of a streamed submit (added by the hardening work);
# looked up by name so that this client also speaks to contracts without it.
_END_FIELD: Final = campaign_service_pb2.SubmitCampaignStreamRequest.DESCRIPTOR.fields_by_name.get(
    "end"
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


def end_of_stream(recipient_count: int) -> campaign_service_pb2.SubmitCampaignStreamRequest | None:
    """The last message of a streamed submit, when the contract declares one."""
    if _END_FIELD is None:
        return None
    message = campaign_service_pb2.SubmitCampaignStreamRequest()
    getattr(message, _END_FIELD.name).recipient_count = recipient_count
    return message


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
    end = end_of_stream(sent)
    if end is not None:
        yield end


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
