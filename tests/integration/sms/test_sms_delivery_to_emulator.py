"""The delivery function wired by bootstrap, against the emulator over loopback."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from brandcast.shared.delivery import Outcome, RetryPolicy, process_batch
from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.sms.bootstrap import bootstrap
from brandcast.sms.emulator import EmulatorServer
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2

MOBILE = "+447400123456"


#: The client's timeout in the tests of a 'timeout' fault: well under the 3 s the
#: emulator holds such an answer back, and enough for the call after it to be
#: answered on a loaded machine (at 0.3 s the retry itself timed out at load 12).
_TIMEOUT = 1.0


def item(
    address: str = MOBILE, key: str = "idem-1", text: str = "Sale today"
) -> bus_pb2.DispatchItem:
    return bus_pb2.DispatchItem(
        delivery_id=f"d-{key}",
        idempotency_key=key,
        address=address,
        sms=variant_pb2.SmsVariant(text=text, sender="+15005550006"),
    )


def batch(*items: bus_pb2.DispatchItem) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1", campaign_id="c1", channel=campaign_pb2.CHANNEL_SMS, items=list(items)
    )


def send(settings: SmsSettings, one: bus_pb2.DispatchItem) -> Outcome:
    return bootstrap(settings)(batch(one), one)


def test_sends_to_the_emulator_with_a_per_delivery_callback(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    outcome = send(sms_settings(sms_callback_base_url="http://hooks.example:8031"), item())
    assert outcome.provider == "twilio"
    assert outcome.provider_message_id.startswith("SM")
    [message] = emulator.messages()
    assert message["to"] == MOBILE
    assert message["from"] == "+15005550006"
    assert message["body"] == "Sale today"
    assert message["sid"] == outcome.provider_message_id
    assert message["status_callback"] == "http://hooks.example:8031/status/twilio?d=d-idem-1&c=c1"


def test_429_is_transient_with_the_providers_retry_after(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    emulator.add_fault(MOBILE, "429", retry_after=4, count=1)
    deliver = bootstrap(sms_settings())
    with pytest.raises(TransientProviderError) as info:
        deliver(batch(item()), item())
    assert (info.value.code, info.value.retry_after, info.value.outage) == ("20429", 4.0, False)
    # The retry is never scheduled sooner than Retry-After, then it goes through.
    outcome = process_batch(batch(item()), deliver, RetryPolicy(base_delay=0.1))
    assert outcome.receipts[0].status == campaign_pb2.DELIVERY_STATUS_SENT
    emulator.add_fault(MOBILE, "429", retry_after=4, count=1)
    retried = process_batch(batch(item(key="idem-2")), deliver, RetryPolicy(base_delay=0.1))
    assert retried.retry is not None
    assert retried.retry_delay >= 4.0
    assert retried.retry.items[0].attempt == 1


def test_500_is_an_outage_and_retried(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    emulator.add_fault(MOBILE, "500", count=1)
    deliver = bootstrap(sms_settings())
    with pytest.raises(TransientProviderError) as info:
        deliver(batch(item()), item())
    assert info.value.outage
    assert info.value.code == "20500"
    assert deliver(batch(item()), item()).provider == "twilio"
    assert emulator.stats()["messages"] == 1


def retried(one: bus_pb2.DispatchItem, attempt: int = 1) -> bus_pb2.DispatchItem:
    again = bus_pb2.DispatchItem()
    again.CopyFrom(one)
    again.attempt = attempt
    return again


def published_batch(*items: bus_pb2.DispatchItem, ago: float = 0.0) -> bus_pb2.DispatchBatch:
    published = batch(*items)
    published.created_at.FromSeconds(int(time.time() - ago))
    return published


def test_a_retry_after_a_timeout_finds_the_accepted_message_instead_of_sending_again(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    emulator.add_fault(MOBILE, "timeout", count=1)
    deliver = bootstrap(sms_settings(sms_provider_timeout=_TIMEOUT))
    with pytest.raises(TransientProviderError) as info:
        deliver(published_batch(item()), item())
    assert (info.value.code, info.value.outage) == ("timeout", True)

    outcome = deliver(published_batch(item()), retried(item()))

    # Twilio had accepted the first request: the retry looked it up and sent nothing.
    [message] = emulator.messages()
    assert outcome.provider_message_id == message["sid"]
    assert emulator.stats() == {"messages": 1, "duplicates": 0, "lookups": 1}


def test_the_twilio_emulator_does_not_deduplicate_a_blind_retry(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    # As at Twilio: the same request twice is two SMS, whatever headers it carries.
    emulator.add_fault(MOBILE, "timeout", count=1)
    deliver = bootstrap(sms_settings(sms_provider_timeout=_TIMEOUT))
    with pytest.raises(TransientProviderError):
        deliver(batch(item()), item())
    deliver(batch(item()), item())  # attempt 0 again: no lookup, as a redelivery would be
    assert emulator.stats() == {"messages": 2, "duplicates": 1, "lookups": 0}


def test_a_retry_sends_when_twilio_has_no_such_message(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    deliver = bootstrap(sms_settings())
    # The same text to the same number long before this delivery was dispatched is not it.
    deliver(published_batch(item(key="old")), item(key="old"))
    emulator.add_fault(MOBILE, "500", count=1)
    with pytest.raises(TransientProviderError):
        deliver(published_batch(item()), item())

    outcome = deliver(published_batch(item(), ago=-3600), retried(item()))

    assert emulator.stats() == {"messages": 2, "duplicates": 0, "lookups": 1}
    assert outcome.provider_message_id == emulator.messages()[-1]["sid"]


def test_a_failed_lookup_retries_later_rather_than_guessing(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    deliver = bootstrap(
        sms_settings(sms_twilio_base_url="http://127.0.0.1:9", sms_provider_timeout=0.3)
    )
    with pytest.raises(TransientProviderError) as info:
        deliver(published_batch(item()), retried(item()))
    assert info.value.code == "connection_error"
    assert emulator.messages() == []


def test_permanent_400_fails_with_the_providers_code(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    emulator.add_fault(MOBILE, "400", code="21610")
    outcome = process_batch(batch(item()), bootstrap(sms_settings()), RetryPolicy())
    [receipt] = outcome.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert (receipt.error_code, receipt.provider) == ("21610", "twilio")
    assert outcome.retry is None
    assert emulator.messages() == []


def test_failover_to_vonage_when_twilio_is_down(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    emulator.add_fault(MOBILE, "500", provider="twilio", count=10)
    deliver = bootstrap(sms_settings(sms_providers="twilio,vonage"))
    outcome = deliver(batch(item()), item())
    assert outcome.provider == "vonage"
    [message] = emulator.messages()
    assert (message["provider"], message["to"], message["delivery_ref"]) == (
        "vonage",
        MOBILE,
        "idem-1",
    )


def test_failover_when_the_primary_refuses_connections(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    # Port 9 (discard) is closed on loopback: connection refused.
    deliver = bootstrap(
        sms_settings(sms_providers="twilio,vonage", sms_twilio_base_url="http://127.0.0.1:9")
    )
    assert deliver(batch(item()), item()).provider == "vonage"


def test_refused_numbers_never_reach_a_provider(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    items = [
        item("+449001234567", "premium"),
        item("+442071234567", "landline"),
        item("+79161234567", "russia"),
        item("+1202555012", "short"),
        item(MOBILE, "good"),
    ]
    outcome = process_batch(batch(*items), bootstrap(sms_settings()), RetryPolicy())
    codes = {r.delivery_id: (r.status, r.error_code) for r in outcome.receipts}
    failed = campaign_pb2.DELIVERY_STATUS_FAILED
    assert codes == {
        "d-premium": (failed, "premium_rate"),
        "d-landline": (failed, "landline"),
        "d-russia": (failed, "country_not_allowed"),
        "d-short": (failed, "invalid_number"),
        "d-good": (campaign_pb2.DELIVERY_STATUS_SENT, ""),
    }
    assert [m["to"] for m in emulator.messages()] == [MOBILE]


def one_off_batch(one: bus_pb2.DispatchItem, *, ago: float = 0.0) -> bus_pb2.DispatchBatch:
    published = published_batch(one, ago=ago)
    published.priority = campaign_pb2.CAMPAIGN_PRIORITY_TRANSACTIONAL
    return published


def test_the_pumping_guard_is_shared_by_processes_and_defers_before_it_fails(
    emulator: EmulatorServer, sms_settings: Callable[..., SmsSettings]
) -> None:
    settings = sms_settings(sms_pumping_new_numbers_floor=2, sms_max_attempts=3)
    first, second = bootstrap(settings), bootstrap(settings)
    numbers = ["+447400111111", "+447400222222", "+447400333333"]
    assert first(one_off_batch(item(numbers[0], "a")), item(numbers[0], "a")).provider
    assert second(one_off_batch(item(numbers[1], "b")), item(numbers[1], "b")).provider

    # A third never-seen number under +44 740 from one-off traffic: held, not failed.
    with pytest.raises(TransientProviderError) as held:
        first(one_off_batch(item(numbers[2], "c")), item(numbers[2], "c"))
    assert held.value.code == "pumping_guard_held"
    assert "never-texted numbers under +44740" in held.value.message
    assert held.value.retry_after is not None
    assert held.value.retry_after > 3600  # the attempts left are spread over 6 hours
    # Its last attempt, or any attempt after the window closed, fails it.
    with pytest.raises(PermanentProviderError) as blocked:
        first(one_off_batch(item(numbers[2], "c"), ago=7 * 3600), retried(item(numbers[2], "c")))
    assert blocked.value.code == "pumping_guard_blocked"
    # A number seen before goes out again.
    assert second(one_off_batch(item(numbers[0], "d")), item(numbers[0], "d")).provider
    assert len(emulator.messages()) == 3


def test_a_non_sms_variant_fails_clearly(sms_settings: Callable[..., SmsSettings]) -> None:
    wrong = bus_pb2.DispatchItem(delivery_id="d", address=MOBILE, email=variant_pb2.EmailVariant())
    outcome = process_batch(batch(wrong), bootstrap(sms_settings()), RetryPolicy())
    assert outcome.receipts[0].error_code == "invalid_variant"
