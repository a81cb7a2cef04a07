"""Each channel's rate, pace reason, remaining deliveries and ETA for one campaign,
as ``GetCampaign`` and ``WatchCampaign`` show them (``ChannelPace``)."""

from __future__ import annotations

from collections.abc import Sequence

from brandcast.orchestrator.pacing import PACE_PAUSED, ChannelRate, Pacer, pace_summary
from brandcast.v1 import campaign_pb2


class CampaignPace:
    """Reads the pacer of this process; without one (an API-only process) it
    reports nothing rather than guess."""

    def __init__(self, pacer: Pacer | None) -> None:
        self._pacer = pacer

    def __call__(
        self, campaign_id: str, state: int, counters: Sequence[campaign_pb2.ChannelCounters]
    ) -> list[campaign_pb2.ChannelPace]:
        if self._pacer is None:
            return []
        out = []
        for counter in counters:
            remaining = counter.pending + counter.scheduled + counter.queued
            rate = self._pacer.rate(counter.channel)
            mine = self._pacer.campaign_rate(counter.channel, campaign_id)
            if state == campaign_pb2.CAMPAIGN_STATE_PAUSED:
                rate = ChannelRate(rate.per_second, PACE_PAUSED, rate.rate_limit)
                mine = 0.0
            # Before this campaign's own receipts show its share, plan on the channel's rate.
            expected = mine or (rate.per_second if rate.reason != PACE_PAUSED else 0.0)
            eta = remaining / expected if remaining and expected > 0 else 0.0
            out.append(
                campaign_pb2.ChannelPace(
                    channel=counter.channel,
                    rate_per_second=rate.per_second,
                    campaign_rate_per_second=mine,
                    pace_reason=rate.reason,
                    rate_limit=rate.rate_limit,
                    remaining=remaining,
                    eta_seconds=eta,
                    summary=pace_summary(counter.channel, rate, remaining, eta),
                )
            )
        return out
