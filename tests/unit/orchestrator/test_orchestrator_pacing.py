"""The pacer's arithmetic and the fair split of a round (no I/O)."""

from __future__ import annotations

from brandcast.orchestrator.fairness import fair_shares
from brandcast.orchestrator.pacing import PROBE, Pacer, pace_summary
from brandcast.v1 import bus_pb2, campaign_pb2

SMS = campaign_pb2.CHANNEL_SMS
T = campaign_pb2.CAMPAIGN_PRIORITY_TRANSACTIONAL
M = campaign_pb2.CAMPAIGN_PRIORITY_MARKETING


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def receipts(count: int, *, rate_limit: float = 0.0, throttled: int = 0) -> bus_pb2.ReceiptBatch:
    batch = bus_pb2.ReceiptBatch(
        capacity=bus_pb2.SendingCapacity(
            rate_limit=rate_limit,
            rate_limit_setting="SMS_RATE_LIMIT" if rate_limit else "",
            throttled=throttled,
            channel=SMS,
        )
    )
    for i in range(count):
        batch.receipts.add(
            delivery_id=f"d{i}",
            campaign_id="c1",
            channel=SMS,
            status=campaign_pb2.DELIVERY_STATUS_SENT,
        )
    return batch


def test_a_rate_limited_channel_keeps_a_few_seconds_queued_in_two_second_batches() -> None:
    clock = Clock()
    pacer = Pacer(lead_seconds=5, max_batch=1000, clock=clock)
    assert pacer.allowance(SMS) == PROBE  # nothing known yet: a probe
    pacer.released(SMS, PROBE)
    assert pacer.allowance(SMS) == 0
    woken: list[tuple[int, int]] = []
    pacer.on_drain = lambda channel, handed_back: woken.append((channel, handed_back))

    clock.now += 2
    pacer.settled(receipts(20, rate_limit=10))

    assert woken == [(SMS, 0)]  # room on the bus; nothing back in the outbox
    assert pacer.in_flight(SMS) == 0
    assert pacer.allowance(SMS) == 50  # 5 s at 10/s
    assert pacer.batch_size(SMS) == 20  # 2 s at 10/s
    rate = pacer.rate(SMS)
    assert (rate.reason, rate.rate_limit) == ("SMS_RATE_LIMIT", 10)


def test_deliveries_handed_back_are_counted_for_the_wake() -> None:
    pacer = Pacer(lead_seconds=5, clock=Clock())
    woken: list[tuple[int, int]] = []
    pacer.on_drain = lambda channel, handed_back: woken.append((channel, handed_back))
    batch = receipts(3, throttled=2)
    for receipt in batch.receipts[1:]:
        receipt.status = campaign_pb2.DELIVERY_STATUS_DEFERRED
    pacer.settled(batch)
    # The dispatcher must claim again for these two even when its outbox was empty.
    assert woken == [(SMS, 2)]


def test_throttling_paces_by_what_gets_through() -> None:
    clock = Clock()
    pacer = Pacer(lead_seconds=5, clock=clock)
    for _ in range(10):
        clock.now += 1
        pacer.settled(receipts(2, rate_limit=10, throttled=1))
    assert pacer.rate(SMS).reason == "provider throttling"
    # 5 s at the ~2/s measured (20 over the 9 s since the first), not 50 at the limit.
    assert 10 <= pacer.allowance(SMS) <= 12
    assert pacer.batch_size(SMS) == 4


def test_an_unlimited_channel_is_never_held_below_its_floor() -> None:
    pacer = Pacer(lead_seconds=5, unlimited_floor=20_000, clock=Clock())
    pacer.settled(receipts(5))
    assert pacer.allowance(SMS) == 20_000
    assert pacer.batch_size(SMS) == 1000
    assert pacer.rate(SMS).reason == "measured"


def test_callback_receipts_do_not_drain_the_lead() -> None:
    pacer = Pacer(clock=Clock())
    pacer.released(SMS, 10)
    callbacks = receipts(5)
    callbacks.ClearField("capacity")
    pacer.settled(callbacks)
    assert pacer.in_flight(SMS) == 10


def test_transactional_goes_first_but_marketing_keeps_its_share() -> None:
    shares = dict(fair_shares(100, [("m1", M), ("t1", T), ("m2", M)], 0.2))
    assert shares == {"t1": 80, "m1": 10, "m2": 10}
    assert dict(fair_shares(100, [("m1", M), ("m2", M)], 0.2)) == {"m1": 50, "m2": 50}
    assert dict(fair_shares(9, [("t1", T)], 0.2)) == {"t1": 9}


def test_the_remainder_and_the_turns_rotate() -> None:
    campaigns = [("a", M), ("b", M), ("c", M)]
    firsts = {fair_shares(1, campaigns, 0.2, start=round_)[0][0] for round_ in range(3)}
    assert firsts == {"a", "b", "c"}
    assert sum(n for _, n in fair_shares(7, campaigns, 0.2, start=1)) == 7
    # One delivery per round between the classes: marketing every fifth round.
    rounds = [fair_shares(1, [("t", T), ("m", M)], 0.2, start=r)[0][0] for r in range(10)]
    assert rounds.count("m") == 2


def test_the_summary_reads_like_the_issue() -> None:
    pacer = Pacer(clock=Clock())
    pacer.settled(receipts(0, rate_limit=10))
    assert pace_summary(SMS, pacer.rate(SMS), 20_000, 2000) == (
        "SMS: 10/s (SMS_RATE_LIMIT), 20,000 left, about 33 min"
    )
