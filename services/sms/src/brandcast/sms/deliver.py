"""One SMS delivery: checks, limits, then the provider (with failover).

Order matters: refusals (bad or costly numbers) and deliveries the pumping
guard holds never reach a provider and never spend rate-limit budget; the rate limit is taken per
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
from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.failover import Failover
from brandcast.shared.ratelimit import RateLimiter
from brandcast.sms.destinations import DestinationPolicy
from brandcast.sms.providers import SmsProvider
from brandcast.sms.providers._port import ReportCallback
from brandcast.sms.pumping_guard import BLOCKED, HELD, PumpingGuard, TrafficKind
from brandcast.v1 import bus_pb2, campaign_pb2

#: Seconds by which the provider's clock may run behind the orchestrator's: a lookup
#: accepts messages created this long before the batch was published.
CLOCK_SKEW = 300.0
#: How far back a lookup looks when the batch carries no publish time.
LOOKUP_FALLBACK_WINDOW = 24 * 3600.0


@dataclass
class SmsDelivery:
    """``deliver(batch, item) -> Outcome`` for the shared runtime, wired by bootstrap."""

    destinations: DestinationPolicy
    pumping_guard: PumpingGuard
    prefix_digits: int
    providers: Failover[SmsProvider]
    provider_limits: Mapping[str, RateLimiter]
    #: Builds the per-sender limiter on first use of a sender (None: no sender limit).
    sender_limit: Callable[[str], RateLimiter] | None
    default_sender: str
    callback_base_url: str
    #: Seconds after its dispatch a held delivery may still go out; then it fails.
    hold_window: float = 6 * 3600.0
    #: The runtime's attempts per delivery: a held one spreads them over its window.
    max_attempts: int = 5
    clock: Callable[[], float] = time.time
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
        verdict = self.pumping_guard.check(
            destination.e164.lstrip("+"),
            prefix=destination.prefix(self.prefix_digits),
            kind=traffic_kind(batch),
        )
        if not verdict.admitted:
            self._hold(batch, item, verdict.reason)
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

    def _hold(self, batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem, reason: str) -> None:
        """Defer a delivery the guard holds; fail it once its hold window has closed.

        The runtime counts every try as an attempt, so the retries are spread over
        what is left of the window: the last attempt falls at its end.
        """
        dispatched = batch.created_at.seconds if batch.HasField("created_at") else self.clock()
        remaining = dispatched + self.hold_window - self.clock()
        tries_left = self.max_attempts - item.attempt - 1
        if remaining <= 0 or tries_left <= 0:
            raise PermanentProviderError(
                BLOCKED, f"address: held by the SMS pumping guard until its window closed: {reason}"
            )
        raise TransientProviderError(
            HELD,
            f"address: held by the SMS pumping guard: {reason}",
            retry_after=max(60.0, remaining / tries_left),
        )

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


def traffic_kind(batch: bus_pb2.DispatchBatch) -> TrafficKind:
    """One-off (OTP, sign-up: what pumping abuses) or a send to a collected list."""
    if batch.priority == campaign_pb2.CAMPAIGN_PRIORITY_TRANSACTIONAL:
        return "one_off"
    return "list"
