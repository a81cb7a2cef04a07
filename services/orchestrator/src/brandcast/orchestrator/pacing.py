"""How much work the dispatcher may put on the bus per channel, and how fast it goes.

The dispatcher releases only a short lead per channel: ``DISPATCH_LEAD_SECONDS``
of sending at the channel's pace, in batches of about ``BATCH_SECONDS`` of
sending each (at most ``DISPATCH_BATCH_SIZE``). A cancel or a pause then has
little to catch up with on the bus, a small campaign waits seconds rather than
behind a big one's whole audience, and a worker stopping mid-batch has seconds
of work to hand back.

The pace comes from the adapters: every receipt batch of a dispatch worker
carries its ``SendingCapacity`` (the configured rate limit, and how many
provider answers asked to slow down), and the receipts themselves say how fast
deliveries actually settle. A limited channel is paced at its limit unless the
provider throttles, then at what it actually manages; an unlimited channel
keeps a generous floor of work queued, so pacing never slows a fast pipeline
down. Nothing here costs a round trip: it counts what the dispatcher published
and what the collector received.

Counts are per orchestrator process. With several replicas each keeps its own
lead (so the bus holds replicas × lead) and counts the receipts its collector
happens to take; the worker-side cancel and pause checks do not depend on it.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from brandcast.shared import topology
from brandcast.v1 import bus_pb2, campaign_pb2

#: A batch is about this many seconds of sending at the channel's pace.
BATCH_SECONDS: Final = 2.0
#: Seconds of receipts the measured rates look back over.
WINDOW: Final = 10.0
#: Deliveries in flight on a channel before its adapters have reported anything.
PROBE: Final = 20
#: Seconds after a throttled answer during which the measured rate rules.
THROTTLE_MEMORY: Final = 30.0

PACE_WAITING: Final = "waiting for the first receipts"
PACE_THROTTLED: Final = "provider throttling"
PACE_MEASURED: Final = "measured"
PACE_PAUSED: Final = "paused"

_LABELS: Final = {"sms": "SMS", "email": "Email", "social": "Social"}


class _Rate:
    """Events per second over the last ``WINDOW`` seconds."""

    def __init__(self) -> None:
        self._events: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0
        self._since = 0.0

    def add(self, now: float, count: int) -> None:
        if not self._events:
            self._since = now
        self._events.append((now, count))
        self._total += count
        self._trim(now)

    def per_second(self, now: float) -> float:
        self._trim(now)
        if not self._events:
            return 0.0
        # A young window (the first receipts) counts from when it started, at
        # least a second, so the first batch does not read as a huge rate.
        span = max(1.0, min(WINDOW, now - self._since))
        return self._total / span

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - WINDOW:
            _, count = self._events.popleft()
            self._total -= count
        if self._events and self._since < now - WINDOW:
            self._since = now - WINDOW


@dataclass
class _Channel:
    in_flight: int = 0
    reported: bool = False
    rate_limit: float = 0.0
    setting: str = ""
    throttled_at: float = -math.inf
    settled: _Rate = field(default_factory=_Rate)
    by_campaign: dict[str, _Rate] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelRate:
    """A channel's pace as people see it."""

    #: Deliveries per second now (measured; the limit before anything was measured).
    per_second: float
    #: The limiting setting, "provider throttling", "measured" or "waiting ...".
    reason: str
    #: The configured ceiling, 0 when none is reported.
    rate_limit: float


class Pacer:
    """Per channel: how many deliveries may be released now, and in what batches.

    The dispatcher calls ``released`` after publishing and asks ``allowance``
    and ``batch_size``; the collector calls ``settled`` with each dispatch
    worker's receipt batch, which wakes the dispatcher through ``on_drain``.
    Thread-safe.
    """

    def __init__(
        self,
        *,
        lead_seconds: float = 5.0,
        max_batch: int = 1000,
        unlimited_floor: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lead = lead_seconds
        self._max_batch = max_batch
        self._floor = unlimited_floor
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: dict[int, _Channel] = collections.defaultdict(_Channel)
        #: Called with a channel and how many of its deliveries were handed
        #: back (returned to the outbox) once a receipt batch is applied.
        self.on_drain: Callable[[int, int], None] = lambda channel, handed_back: None

    # -- what the dispatcher and the collector report ----------------------------

    def released(self, channel: int, count: int) -> None:
        with self._lock:
            self._channels[channel].in_flight += count

    def settled(self, batch: bus_pb2.ReceiptBatch) -> None:
        """A dispatch worker's receipt batch (one carrying ``capacity``)."""
        if not batch.HasField("capacity"):
            return  # provider callbacks: these deliveries left the bus earlier
        now = self._clock()
        per_channel: collections.Counter[int] = collections.Counter()
        per_campaign: collections.Counter[tuple[int, str]] = collections.Counter()
        handed_back: collections.Counter[int] = collections.Counter()
        for receipt in batch.receipts:
            per_channel[receipt.channel] += 1
            if receipt.status == campaign_pb2.DELIVERY_STATUS_DEFERRED:
                handed_back[receipt.channel] += 1
            else:
                per_campaign[(receipt.channel, receipt.campaign_id)] += 1
        capacity = batch.capacity
        if capacity.channel and capacity.channel not in per_channel:
            per_channel[capacity.channel] = 0  # only throttled answers: no receipts
        with self._lock:
            for channel_id, count in per_channel.items():
                channel = self._channels[channel_id]
                channel.in_flight = max(0, channel.in_flight - count)
                channel.settled.add(now, count)
            for (channel_id, campaign_id), count in per_campaign.items():
                rates = self._channels[channel_id].by_campaign
                rates.setdefault(campaign_id, _Rate()).add(now, count)
                if len(rates) > 1000:
                    rates.pop(next(iter(rates)))
            for channel_id in per_channel:
                channel = self._channels[channel_id]
                channel.reported = True
                channel.rate_limit = capacity.rate_limit
                channel.setting = capacity.rate_limit_setting
                if capacity.throttled:
                    channel.throttled_at = now
        for channel_id in per_channel:
            self.on_drain(channel_id, handed_back[channel_id])

    # -- what the dispatcher asks ------------------------------------------------

    def allowance(self, channel: int) -> int:
        """How many more deliveries of ``channel`` may go on the bus now."""
        with self._lock:
            state = self._channels[channel]
            return max(0, self._target(state, self._clock()) - state.in_flight)

    def batch_size(self, channel: int) -> int:
        """Deliveries per broker message: about ``BATCH_SECONDS`` of sending."""
        with self._lock:
            state = self._channels[channel]
            pace = self._pace(state, self._clock())
        if pace is None:
            return self._max_batch if state.reported else min(self._max_batch, PROBE)
        return max(1, min(self._max_batch, round(pace * BATCH_SECONDS)))

    def in_flight(self, channel: int) -> int:
        with self._lock:
            return self._channels[channel].in_flight

    # -- what people are shown ---------------------------------------------------

    def rate(self, channel: int) -> ChannelRate:
        with self._lock:
            state = self._channels[channel]
            now = self._clock()
            measured = state.settled.per_second(now)
            if not state.reported:
                return ChannelRate(measured, PACE_WAITING, 0.0)
            if now - state.throttled_at < THROTTLE_MEMORY:
                return ChannelRate(measured, PACE_THROTTLED, state.rate_limit)
            if state.rate_limit > 0:
                return ChannelRate(measured or state.rate_limit, state.setting, state.rate_limit)
            return ChannelRate(measured, PACE_MEASURED, 0.0)

    def campaign_rate(self, channel: int, campaign_id: str) -> float:
        with self._lock:
            rate = self._channels[channel].by_campaign.get(campaign_id)
            return rate.per_second(self._clock()) if rate is not None else 0.0

    # -- the model ---------------------------------------------------------------

    def _pace(self, state: _Channel, now: float) -> float | None:
        """Deliveries per second to plan for; None when unknown or unlimited."""
        if not state.reported:
            return None
        measured = state.settled.per_second(now)
        if now - state.throttled_at < THROTTLE_MEMORY and measured > 0:
            # The provider answers 429: plan for what actually gets through.
            return min(measured, state.rate_limit) if state.rate_limit > 0 else measured
        if state.rate_limit > 0:
            return state.rate_limit
        return None

    def _target(self, state: _Channel, now: float) -> int:
        """Deliveries to keep in flight on the channel."""
        if not state.reported:
            return PROBE
        pace = self._pace(state, now)
        if pace is not None:
            return max(1, math.ceil(pace * self._lead))
        # Unlimited: never the bottleneck; twice the lead at the measured rate.
        measured = state.settled.per_second(now)
        return max(self._floor, math.ceil(2 * measured * self._lead))


def pace_summary(channel: int, rate: ChannelRate, remaining: int, eta_seconds: float) -> str:
    """ "SMS: 10/s (SMS_RATE_LIMIT), 20,000 left, about 33 min"."""
    name = topology.channel_name(channel)
    label = _LABELS.get(name, name)
    per_second = f"{rate.per_second:.0f}" if rate.per_second >= 10 else f"{rate.per_second:.1f}"
    text = f"{label}: {per_second}/s ({rate.reason}), {remaining:,} left"
    if remaining and eta_seconds > 0:
        text += f", about {_duration(eta_seconds)}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
