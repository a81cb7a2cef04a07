"""Turning one dispatch batch into receipts: the adapter-independent core.

An adapter supplies ``deliver(batch, item) -> Outcome`` for its channel; this
module decides what becomes a receipt now, what is retried later (with
exponential backoff and full jitter, never sooner than a provider's
``Retry-After``) and what is given up on after ``max_attempts``.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.shared.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from brandcast.v1 import bus_pb2, campaign_pb2


@dataclass(frozen=True)
class Outcome:
    """What a provider did with one delivery."""

    provider: str
    status: campaign_pb2.DeliveryStatus.ValueType = campaign_pb2.DELIVERY_STATUS_SENT
    provider_message_id: str = ""
    public_url: str = ""
    error_code: str = ""
    error_message: str = ""


Deliver = Callable[[bus_pb2.DispatchBatch, bus_pb2.DispatchItem], Outcome]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` >= 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = random.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)


@dataclass
class BatchOutcome:
    receipts: list[bus_pb2.DeliveryReceipt] = field(default_factory=list)
    #: Items to try again after ``retry_delay`` seconds (attempt already incremented).
    retry: bus_pb2.DispatchBatch | None = None
    retry_delay: float = 0.0
    #: Items whose retries are exhausted: their receipts say failed, and the batch
    #: is kept in the dead-letter queue for inspection.
    exhausted: bus_pb2.DispatchBatch | None = None


def _receipt(
    batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem, attempts: int
) -> bus_pb2.DeliveryReceipt:
    occurred = Timestamp()
    occurred.FromNanoseconds(time.time_ns())
    return bus_pb2.DeliveryReceipt(
        delivery_id=item.delivery_id,
        campaign_id=batch.campaign_id,
        channel=batch.channel,
        attempts=attempts,
        idempotency_key=item.idempotency_key,
        occurred_at=occurred,
        trace_context=batch.trace_context,
    )


def failed_receipt(
    batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem, code: str, message: str
) -> bus_pb2.DeliveryReceipt:
    """A FAILED receipt for an item that never reached a provider's answer."""
    receipt = _receipt(batch, item, item.attempt + 1)
    receipt.status = campaign_pb2.DELIVERY_STATUS_FAILED
    receipt.error_code, receipt.error_message = code, message
    return receipt


def _sub_batch(
    batch: bus_pb2.DispatchBatch, items: list[bus_pb2.DispatchItem]
) -> bus_pb2.DispatchBatch:
    copy = bus_pb2.DispatchBatch()
    copy.CopyFrom(batch)
    del copy.items[:]
    copy.items.extend(items)
    return copy


def _attempt(
    deliver: Deliver, batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem
) -> Outcome | ProviderError:
    try:
        return deliver(batch, item)
    except ProviderError as exc:
        return exc


def _attempt_all(
    batch: bus_pb2.DispatchBatch, deliver: Deliver, parallelism: int
) -> list[Outcome | ProviderError]:
    """Every item's outcome, in item order; at most ``parallelism`` calls at once.

    Provider calls are network-bound, so threads overlap their waits. Each call
    runs in a copy of the caller's context, so tracing spans keep their parent.
    """
    if parallelism <= 1 or len(batch.items) <= 1:
        return [_attempt(deliver, batch, item) for item in batch.items]
    workers = min(parallelism, len(batch.items))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, _attempt, deliver, batch, item)
            for item in batch.items
        ]
        return [future.result() for future in futures]


def process_batch(
    batch: bus_pb2.DispatchBatch,
    deliver: Deliver,
    policy: RetryPolicy,
    *,
    parallelism: int = 1,
) -> BatchOutcome:
    """Deliver every item once. Exceptions other than provider errors propagate.

    ``deliver`` must be thread-safe when ``parallelism`` > 1.
    """
    result = BatchOutcome()
    retry_items: list[bus_pb2.DispatchItem] = []
    exhausted_items: list[bus_pb2.DispatchItem] = []
    longest_wait = 0.0
    for item, attempt in zip(batch.items, _attempt_all(batch, deliver, parallelism), strict=True):
        attempts = item.attempt + 1
        receipt = _receipt(batch, item, attempts)
        try:
            if isinstance(attempt, ProviderError):
                raise attempt
            outcome = attempt
        except PermanentProviderError as exc:
            receipt.status = campaign_pb2.DELIVERY_STATUS_FAILED
            receipt.provider, receipt.error_code, receipt.error_message = (
                exc.provider,
                exc.code,
                exc.message,
            )
        except TransientProviderError as exc:
            if attempts >= policy.max_attempts:
                receipt.status = campaign_pb2.DELIVERY_STATUS_FAILED
                receipt.provider, receipt.error_code = exc.provider, exc.code
                receipt.error_message = f"gave up after {attempts} attempts: {exc.message}"
                exhausted_items.append(item)
            else:
                again = bus_pb2.DispatchItem()
                again.CopyFrom(item)
                again.attempt = attempts
                retry_items.append(again)
                longest_wait = max(longest_wait, policy.delay(attempts, exc.retry_after))
                continue
        else:
            receipt.status = outcome.status
            receipt.provider = outcome.provider
            receipt.provider_message_id = outcome.provider_message_id
            receipt.public_url = outcome.public_url
            receipt.error_code = outcome.error_code
            receipt.error_message = outcome.error_message
        result.receipts.append(receipt)
    if retry_items:
        result.retry = _sub_batch(batch, retry_items)
        result.retry_delay = longest_wait
    if exhausted_items:
        result.exhausted = _sub_batch(batch, exhausted_items)
    return result
