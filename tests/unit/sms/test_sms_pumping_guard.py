"""The pumping guard's rules, in Redis and in process: ranges, never-seen numbers, baselines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from brandcast.sms.pumping_guard import (
    GuardLimits,
    LocalPumpingGuard,
    PumpingGuard,
    RedisPumpingGuard,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
LIMITS = GuardLimits(list_block_limit=4, one_off_block_limit=2, new_numbers_floor=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "redis"])
def guard_and_clock(request: pytest.FixtureRequest) -> Iterator[tuple[PumpingGuard, Clock]]:
    clock = Clock()
    if request.param == "local":
        yield LocalPumpingGuard(LIMITS, clock=clock), clock
        return
    namespace = f"guard-test-{uuid.uuid4().hex[:8]}"
    yield RedisPumpingGuard(REDIS_URL, LIMITS, namespace=namespace, clock=clock), clock
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"brandcast:{namespace}:*"):
        client.delete(key)


def test_a_list_is_held_only_when_it_crowds_one_hundred_block(
    guard_and_clock: tuple[PumpingGuard, Clock],
) -> None:
    guard, _ = guard_and_clock
    spread = [f"1415{exchange}{line:04d}" for exchange in range(200, 260) for line in (7, 4321)]
    assert all(guard.check(n, prefix="1415", kind="list").admitted for n in spread)
    walk = [f"14155550{i:03d}" for i in range(100, 106)]
    verdicts = [guard.check(n, prefix="1415", kind="list") for n in walk]
    assert [v.admitted for v in verdicts] == [True] * 4 + [False] * 2
    assert verdicts[-1].reason == "4 numbers in the range +141555501xx this hour (limit 4)"


def test_one_off_traffic_to_never_seen_numbers_is_held_past_the_floor(
    guard_and_clock: tuple[PumpingGuard, Clock],
) -> None:
    guard, _ = guard_and_clock
    numbers = [f"447400{n:06d}" for n in (111, 222_333, 444_555, 666_777, 888_999)]
    verdicts = [guard.check(n, prefix="44740", kind="one_off") for n in numbers]
    assert [v.admitted for v in verdicts] == [True, True, True, False, False]
    assert "3 never-texted numbers under +44740" in verdicts[-1].reason
    # A number texted before (a returning user) is not new; a retry is not counted twice.
    assert guard.check(numbers[0], prefix="44740", kind="one_off").admitted


def test_numbers_a_campaign_texted_are_known_to_one_off_traffic(
    guard_and_clock: tuple[PumpingGuard, Clock],
) -> None:
    guard, clock = guard_and_clock
    customers = [f"1415{exchange}1234" for exchange in range(300, 310)]
    for number in customers:
        assert guard.check(number, prefix="1415", kind="list").admitted
    clock.now += 7200  # later, those customers sign in with a one-time code
    assert all(guard.check(n, prefix="1415", kind="one_off").admitted for n in customers)


def test_a_prefix_with_a_busy_baseline_may_take_more_new_numbers(
    guard_and_clock: tuple[PumpingGuard, Clock],
) -> None:
    guard, clock = guard_and_clock
    fresh = (f"1212{exchange}{line:04d}" for exchange in range(200, 999) for line in (1, 2))
    # 24 hours of 3 new sign-ups an hour: a mean of 3, so 3 x 3 = 9 may come in an hour.
    for _ in range(24):
        assert all(guard.check(next(fresh), prefix="1212", kind="one_off").admitted for _ in "abc")
        clock.now += 3600
    verdicts = [guard.check(next(fresh), prefix="1212", kind="one_off") for _ in range(10)]
    assert [v.admitted for v in verdicts] == [True] * 9 + [False]
    assert "its 24-hour mean is 3.0 an hour" in verdicts[-1].reason
