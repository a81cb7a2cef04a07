"""Sharing one round's release across campaigns: weighted fair sharing by class.

Transactional campaigns go first, but marketing keeps ``marketing_share`` of
every round while transactional work waits (and transactional the rest while
marketing waits), so neither class starves the other. Within a class every
campaign gets an equal part; the remainder, and the turn of campaigns when
there are more of them than deliveries to release, rotates round by round.
Shares a campaign cannot use (it had fewer due) go to the next round, which
the dispatcher starts at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from brandcast.v1 import campaign_pb2


def fair_shares(
    allowance: int,
    campaigns: Sequence[tuple[str, int]],
    marketing_share: float,
    *,
    start: int = 0,
) -> list[tuple[str, int]]:
    """``(campaign id, deliveries)`` for this round, transactional first; no zeros.

    ``campaigns`` are ``(id, CampaignPriority)``; ``start`` rotates who gets the
    remainder (pass a round counter).
    """
    transactional = [c for c, p in campaigns if p == campaign_pb2.CAMPAIGN_PRIORITY_TRANSACTIONAL]
    marketing = [c for c, p in campaigns if p != campaign_pb2.CAMPAIGN_PRIORITY_TRANSACTIONAL]
    if transactional and marketing:
        for_marketing = min(allowance - 1, max(1, math.floor(allowance * marketing_share)))
        if allowance == 1:
            # One delivery to give: marketing gets its turn in proportion to its share.
            every = max(2, round(1 / marketing_share)) if marketing_share > 0 else 0
            for_marketing = 1 if every and start % every == 0 else 0
        for_transactional = allowance - for_marketing
    elif transactional:
        for_transactional, for_marketing = allowance, 0
    else:
        for_transactional, for_marketing = 0, allowance
    return [
        *_equal(for_transactional, transactional, start),
        *_equal(for_marketing, marketing, start),
    ]


def _equal(amount: int, ids: list[str], start: int) -> list[tuple[str, int]]:
    if amount <= 0 or not ids:
        return []
    offset = start % len(ids)
    rotated = ids[offset:] + ids[:offset]
    each, extra = divmod(amount, len(rotated))
    shares = [(c, each + (1 if i < extra else 0)) for i, c in enumerate(rotated)]
    return [(c, n) for c, n in shares if n > 0]
