from __future__ import annotations

import threading
import time

import pytest

from brandcast.shared import email_layouts
from brandcast.shared.delivery import Outcome, RetryPolicy, process_batch
from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.worker import mark_attempted
from brandcast.v1 import bus_pb2, campaign_pb2


def _batch(*addresses: str, attempt: int = 0) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1",
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            bus_pb2.DispatchItem(
                delivery_id=f"d{i}", idempotency_key=f"k{i}", address=a, attempt=attempt
            )
            for i, a in enumerate(addresses)
        ],
        trace_context={"traceparent": "00-abc-def-01"},
    )


def _deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
    if item.address == "permanent":
        raise PermanentProviderError("21211", "invalid To", provider="twilio")
    if item.address == "transient":
        raise TransientProviderError("429", "slow down", provider="twilio", retry_after=7.0)
    return Outcome(provider="twilio", provider_message_id=f"SM-{item.delivery_id}")


def test_each_outcome_becomes_the_right_receipt_or_retry() -> None:
    result = process_batch(_batch("ok", "permanent", "transient"), _deliver, RetryPolicy())

    by_id = {r.delivery_id: r for r in result.receipts}
    assert set(by_id) == {"d0", "d1"}
    assert by_id["d0"].status == campaign_pb2.DELIVERY_STATUS_SENT
    assert by_id["d0"].provider_message_id == "SM-d0"
    assert by_id["d0"].attempts == 1
    assert by_id["d0"].idempotency_key == "k0"
    assert by_id["d0"].trace_context["traceparent"] == "00-abc-def-01"
    assert by_id["d1"].status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert (by_id["d1"].error_code, by_id["d1"].provider) == ("21211", "twilio")

    assert result.retry is not None
    assert [i.delivery_id for i in result.retry.items] == ["d2"]
    assert result.retry.items[0].attempt == 1
    assert result.retry.campaign_id == "c1"
    assert result.retry_delay >= 7.0  # never sooner than Retry-After
    assert result.exhausted is None


def test_a_receipt_carries_every_field_and_nothing_of_another_item() -> None:
    """Receipts are copied from a per-batch template: each must be whole and its own."""
    started = time.time_ns()
    result = process_batch(_batch("ok", "permanent"), _deliver, RetryPolicy())
    sent, failed = result.receipts
    for receipt in (sent, failed):
        assert started <= receipt.occurred_at.ToNanoseconds() <= time.time_ns()
        receipt.ClearField("occurred_at")
    common = {
        "campaign_id": "c1",
        "channel": campaign_pb2.CHANNEL_SMS,
        "attempts": 1,
        "trace_context": {"traceparent": "00-abc-def-01"},
        "provider": "twilio",
    }
    assert sent == bus_pb2.DeliveryReceipt(
        delivery_id="d0",
        idempotency_key="k0",
        status=campaign_pb2.DELIVERY_STATUS_SENT,
        provider_message_id="SM-d0",
        **common,  # type: ignore[arg-type]
    )
    assert failed == bus_pb2.DeliveryReceipt(
        delivery_id="d1",
        idempotency_key="k1",
        status=campaign_pb2.DELIVERY_STATUS_FAILED,
        error_code="21211",
        error_message="invalid To",
        **common,  # type: ignore[arg-type]
    )


def test_exhausted_items_fail_and_are_parked() -> None:
    result = process_batch(_batch("transient", attempt=4), _deliver, RetryPolicy(max_attempts=5))

    assert result.retry is None
    assert result.exhausted is not None
    assert [i.delivery_id for i in result.exhausted.items] == ["d0"]
    (receipt,) = result.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipt.attempts == 5
    assert "gave up after 5 attempts" in receipt.error_message


def test_unexpected_errors_propagate_as_poison() -> None:
    def broken(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        raise RuntimeError("template exploded")

    with pytest.raises(RuntimeError):
        process_batch(_batch("ok"), broken, RetryPolicy())


@pytest.mark.parametrize("attempt", [1, 2, 5, 10, 30])
def test_backoff_grows_within_bounds(attempt: int) -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    ceiling = min(60.0, 2 ** (attempt - 1))
    for _ in range(50):
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling
    assert policy.delay(attempt, retry_after=120.0) >= 120.0


def test_parallel_calls_overlap_and_keep_item_order() -> None:
    active, peak, lock = [0], [0], threading.Lock()
    everyone_in = threading.Barrier(4, timeout=5)

    def slow(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if item.attempt == 0 and int(item.delivery_id[1:]) < 4:
            everyone_in.wait()  # only passes if four calls are in flight together
        with lock:
            active[0] -= 1
        return _deliver(batch, item)

    batch = _batch(*[("permanent" if i == 5 else f"ok-{i}") for i in range(12)])
    result = process_batch(batch, slow, RetryPolicy(), parallelism=4)

    assert peak[0] == 4
    assert [r.delivery_id for r in result.receipts] == [f"d{i}" for i in range(12)]
    assert result.receipts[5].status == campaign_pb2.DELIVERY_STATUS_FAILED


def test_parallel_bugs_still_propagate() -> None:
    def broken(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        if item.delivery_id == "d2":
            raise RuntimeError("template exploded")
        return _deliver(batch, item)

    with pytest.raises(RuntimeError):
        process_batch(_batch("ok", "ok", "ok", "ok"), broken, RetryPolicy(), parallelism=3)


def test_each_receipt_says_when_its_provider_answered() -> None:
    answered: dict[str, int] = {}

    def slow_second(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        if item.delivery_id == "d1":
            time.sleep(0.05)
        answered[item.delivery_id] = time.time_ns()
        return _deliver(batch, item)

    result = process_batch(_batch("ok", "ok", "permanent"), slow_second, RetryPolicy())

    occurred = {r.delivery_id: r.occurred_at.ToNanoseconds() for r in result.receipts}
    for delivery_id, at in answered.items():
        assert at <= occurred[delivery_id] < at + 20_000_000, delivery_id
    assert occurred["d1"] - occurred["d0"] >= 50_000_000


def test_helper_threads_outlive_the_batch() -> None:
    def threads_of_one_batch() -> set[int]:
        seen: set[int] = set()
        all_in = threading.Barrier(4, timeout=5)

        def note_thread(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
            seen.add(threading.get_ident())
            if int(item.delivery_id[1:]) < 4:
                all_in.wait()  # four calls in flight: the task's thread and three helpers
            return _deliver(batch, item)

        process_batch(_batch(*["ok"] * 8), note_thread, RetryPolicy(), parallelism=4)
        return seen

    first = threads_of_one_batch()
    assert len(first) == 4
    assert threads_of_one_batch() == first


def test_a_redelivered_batch_counts_as_attempted() -> None:
    # Its worker may have reached the provider before dying: adapters look items up.
    batch = bus_pb2.DispatchBatch(
        items=[bus_pb2.DispatchItem(delivery_id="a"), bus_pb2.DispatchItem(delivery_id="b")]
    )
    batch.items[1].attempt = 3
    mark_attempted(batch)
    assert [item.attempt for item in batch.items] == [1, 3]


def test_a_cancelled_or_paused_campaign_reaches_no_provider() -> None:
    from brandcast.shared.control import Control

    called: list[str] = []

    def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        called.append(item.delivery_id)
        return Outcome(provider="twilio")

    states = {"c1": Control.CANCELLED}
    cancelled = process_batch(
        _batch("a", "b"), deliver, RetryPolicy(), gate=lambda b: states[b.campaign_id]
    )
    states["c1"] = Control.PAUSED
    paused = process_batch(
        _batch("a", "b"), deliver, RetryPolicy(), parallelism=2, gate=lambda b: states["c1"]
    )

    assert called == []
    assert [r.status for r in cancelled.receipts] == [campaign_pb2.DELIVERY_STATUS_CANCELLED] * 2
    assert {r.error_code for r in cancelled.receipts} == {"campaign_cancelled"}
    assert [r.status for r in paused.receipts] == [campaign_pb2.DELIVERY_STATUS_DEFERRED] * 2
    assert {r.attempts for r in paused.receipts} == {0}  # no attempt was made


def test_a_stop_mid_batch_hands_the_rest_back_unsent() -> None:
    sent: list[str] = []
    stop = threading.Event()

    def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        sent.append(item.delivery_id)
        if len(sent) == 2:
            stop.set()  # SIGTERM arrives during the second call
        return Outcome(provider="twilio")

    result = process_batch(_batch("a", "b", "c", "d"), deliver, RetryPolicy(), stopping=stop.is_set)

    assert sent == ["d0", "d1"]
    assert [r.delivery_id for r in result.receipts] == ["d0", "d1"]
    assert result.handed_back is not None
    assert [i.delivery_id for i in result.handed_back.items] == ["d2", "d3"]
    assert result.handed_back.campaign_id == "c1"
    assert result.retry is None
    assert result.exhausted is None


def test_retries_and_dead_letters_of_laid_out_emails_keep_their_layouts() -> None:
    """A retried or parked sub-batch still puts its e-mails together (shared layouts)."""
    batch = bus_pb2.DispatchBatch(
        batch_id="b1", campaign_id="c1", channel=campaign_pb2.CHANNEL_EMAIL
    )
    batch.email_layouts.add(html_parts=["<p>", "preheader", "</p>"], text_parts=["text"])
    for i, address in enumerate(("ok", "transient", "transient")):
        item = batch.items.add(delivery_id=f"d{i}", address=address, attempt=2 if i == 2 else 0)
        item.laid_out_email.variant.subject = f"Hi {i}"
        item.laid_out_email.html_values.append(f"for d{i}")

    def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        email_layouts.bodies(batch, item.laid_out_email)  # as the email adapter does
        return _deliver(batch, item)

    result = process_batch(batch, deliver, RetryPolicy(max_attempts=3))
    assert result.retry is not None
    assert result.exhausted is not None
    for sub_batch, delivery_id in ((result.retry, "d1"), (result.exhausted, "d2")):
        # As the next worker (or a dead-letter reader) gets it: parsed from bytes.
        again = bus_pb2.DispatchBatch.FromString(sub_batch.SerializeToString())
        (item,) = again.items
        assert item.delivery_id == delivery_id
        assert email_layouts.bodies(again, item.laid_out_email) == (
            f"<p>for {delivery_id}</p>",
            "text",
        )
