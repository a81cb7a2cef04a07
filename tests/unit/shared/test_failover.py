from __future__ import annotations

import pytest

from brandcast.shared import metrics
from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError
from brandcast.shared.failover import Failover


class Provider:
    def __init__(self, name: str, *, down: bool = False, throttled: bool = False) -> None:
        self.name, self.down, self.throttled, self.calls = name, down, throttled, 0

    def send(self) -> Outcome:
        self.calls += 1
        if self.down:
            raise TransientProviderError("refused", "connection refused", outage=True)
        if self.throttled:
            raise TransientProviderError("429", "slow down", retry_after=1)
        return Outcome(provider=self.name)


def test_outage_on_primary_goes_to_secondary() -> None:
    primary, secondary = Provider("smtp", down=True), Provider("postmark")
    outcome = Failover([primary, secondary]).call(lambda p: p.send())
    assert outcome.provider == "postmark"


def test_throttling_is_not_an_outage() -> None:
    primary, secondary = Provider("smtp", throttled=True), Provider("postmark")
    with pytest.raises(TransientProviderError):
        Failover([primary, secondary]).call(lambda p: p.send())
    assert secondary.calls == 0


def test_broken_primary_is_skipped_until_cooldown_ends() -> None:
    now = [0.0]
    primary, secondary = Provider("a", down=True), Provider("b")
    failover = Failover([primary, secondary], threshold=2, cooldown=10, clock=lambda: now[0])
    for _ in range(5):
        failover.call(lambda p: p.send())
    assert primary.calls == 2  # tripped after two outages, then skipped
    primary.down = False
    now[0] = 11.0
    assert failover.call(lambda p: p.send()).provider == "a"


def test_all_down_raises_the_last_outage() -> None:
    with pytest.raises(TransientProviderError) as info:
        Failover([Provider("a", down=True), Provider("b", down=True)]).call(lambda p: p.send())
    assert info.value.outage


def test_only_consecutive_outages_trip_the_breaker() -> None:
    now = [0.0]
    primary, secondary = Provider("a"), Provider("b")
    failover = Failover([primary, secondary], threshold=2, cooldown=10, clock=lambda: now[0])
    for _ in range(3):
        primary.down = True
        assert failover.call(lambda p: p.send()).provider == "b"
        primary.down = False
        assert failover.call(lambda p: p.send()).provider == "a"  # resets the count
    assert primary.calls == 6
    primary.down = True
    for _ in range(2):
        failover.call(lambda p: p.send())
    assert primary.calls == 8
    failover.call(lambda p: p.send())
    assert primary.calls == 8, "tripped: skipped during the cooldown"


def test_an_open_breaker_shows_in_the_circuit_gauge_until_the_next_success() -> None:
    now = [0.0]
    primary, secondary = Provider("gauge-a", down=True), Provider("gauge-b")
    failover = Failover(
        [primary, secondary], threshold=2, cooldown=10, clock=lambda: now[0], channel="sms"
    )
    registry = metrics.registry_for("adapter")
    labels = {"channel": "sms", "provider": "gauge-a"}
    for _ in range(2):
        failover.call(lambda p: p.send())
    assert registry.get_sample_value("brandcast_provider_circuit_open", labels) == 1
    primary.down = False
    now[0] = 11.0
    assert failover.call(lambda p: p.send()).provider == "gauge-a"
    assert registry.get_sample_value("brandcast_provider_circuit_open", labels) == 0
