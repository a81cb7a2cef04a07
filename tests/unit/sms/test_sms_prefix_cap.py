from __future__ import annotations

import uuid

import pytest

from brandcast.sms.prefix_cap import LocalPrefixCap, PrefixCap, RedisPrefixCap, prefix_cap

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "local"])
def cap_and_clock(request: pytest.FixtureRequest) -> tuple[PrefixCap, Clock]:
    clock = Clock()
    if request.param == "redis":
        namespace = f"test-{uuid.uuid4().hex[:8]}"
        return RedisPrefixCap(REDIS_URL, 3, namespace=namespace, window=60, clock=clock), clock
    return LocalPrefixCap(3, window=60, clock=clock), clock


def test_cap_refuses_past_the_limit_per_prefix(cap_and_clock: tuple[PrefixCap, Clock]) -> None:
    cap, _ = cap_and_clock
    assert [cap.admit("44740", f"k{i}") for i in range(5)] == [True, True, True, False, False]
    # Another prefix has its own count.
    assert cap.admit("44741", "k9")


def test_a_retried_delivery_is_not_counted_twice(cap_and_clock: tuple[PrefixCap, Clock]) -> None:
    cap, _ = cap_and_clock
    for _ in range(5):
        assert cap.admit("33612", "same-key")
    assert cap.admit("33612", "k2")
    assert cap.admit("33612", "k3")
    assert not cap.admit("33612", "k4")
    assert cap.admit("33612", "same-key")


def test_the_window_resets(cap_and_clock: tuple[PrefixCap, Clock]) -> None:
    cap, clock = cap_and_clock
    for i in range(3):
        assert cap.admit("1212", f"a{i}")
    assert not cap.admit("1212", "late")
    clock.now += 60
    assert cap.admit("1212", "late")


def test_redis_cap_is_shared_between_instances() -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    first = RedisPrefixCap(REDIS_URL, 2, namespace=namespace)
    second = RedisPrefixCap(REDIS_URL, 2, namespace=namespace)
    assert first.admit("4915", "a")
    assert second.admit("4915", "b")
    assert not first.admit("4915", "c")
    assert not second.admit("4915", "d")


def test_zero_means_no_cap() -> None:
    cap = prefix_cap(REDIS_URL, 0)
    assert all(cap.admit("44740", f"k{i}") for i in range(1000))
