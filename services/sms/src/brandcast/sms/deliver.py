"""One SMS delivery: checks, limits, then the provider (with failover).

Order matters: refusals (bad or costly numbers, capped prefixes) never reach a
provider and never spend rate-limit budget; the rate limit is taken per
provider inside the failover so a secondary is throttled by its own limit.

A retried delivery first asks every provider whether an earlier attempt reached
it after all (no SMS provider here has an idempotency key): only when none has
the message is it sent again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.shared.failover import Failover
from brandcast.shared.ratelimit import RateLimiter
from brandcast.sms.destinations import DestinationPolicy
from brandcast.sms.prefix_cap import PREFIX_CAP_EXCEEDED, PrefixCap
from brandcast.sms.providers import SmsProvider
from brandcast.sms.providers._port import ReportCallback
from brandcast.v1 import bus_pb2

#: Seconds by which the provider's clock may run behind the orchestrator's: a lookup
#: accepts messages created this long before the batch was published.
CLOCK_SKEW = 300.0
#: How far back a lookup looks when the batch carries no publish time.
LOOKUP_FALLBACK_WINDOW = 24 * 3600.0


@dataclass
class SmsDelivery:
    """``deliver(batch, item) -> Outcome`` for the shared runtime, wired by bootstrap."""

    destinations: DestinationPolicy
    prefix_cap: PrefixCap
    prefix_digits: int
    providers: Failover[SmsProvider]
    provider_limits: Mapping[str, RateLimiter]
    #: Builds the per-sender limiter on first use of a sender (None: no sender limit).
    sender_limit: Callable[[str], RateLimiter] | None
    default_sender: str
    callback_base_url: str
    _sender_limits: dict[str, RateLimiter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        if item.WhichOneof("variant") != "sms":
            raise PermanentProviderError(
                "invalid_variant", f"variant: expected sms, got {item.WhichOneof('variant')}"
            )
        text = item.sms.text
        if not text.strip():
            raise PermanentProviderError("empty_text", "sms.text: empty message")
        destination = self.destinations.check(item.address)
        key = item.idempotency_key or item.delivery_id
        prefix = destination.prefix(self.prefix_digits)
        if not self.prefix_cap.admit(prefix, key):
            raise PermanentProviderError(
                PREFIX_CAP_EXCEEDED,
                f"address: hourly cap for destination prefix +{prefix} reached",
            )
        sender = item.sms.sender or self.default_sender
        if self.sender_limit is not None:
            self._limit_for(sender).acquire()
        if item.attempt > 0:
            earlier = self._sent_earlier(batch, destination.e164, sender, text)
            if earlier is not None:
                return earlier
        report = ReportCallback(self.callback_base_url, item.delivery_id, batch.campaign_id)

        def send(provider: SmsProvider) -> Outcome:
            limit = self.provider_limits.get(provider.name)
            if limit is not None:
                limit.acquire()
            return provider.send(destination.e164, sender, text, idempotency_key=key, report=report)

        return self.providers.call(send)

    def _sent_earlier(
        self, batch: bus_pb2.DispatchBatch, to: str, sender: str, text: str
    ) -> Outcome | None:
        """The message an earlier attempt left at any provider (its answer may have been lost)."""
        if batch.HasField("created_at"):
            since = batch.created_at.seconds - CLOCK_SKEW
        else:
            since = time.time() - LOOKUP_FALLBACK_WINDOW
        for provider in self.providers.providers:
            found = provider.find_sent(to, sender, text, since=since)
            if found is not None:
                return found
        return None

    def _limit_for(self, sender: str) -> RateLimiter:
        assert self.sender_limit is not None
        with self._lock:
            limit = self._sender_limits.get(sender)
            if limit is None:
                limit = self._sender_limits[sender] = self.sender_limit(sender)
            return limit
