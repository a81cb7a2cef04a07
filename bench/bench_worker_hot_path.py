"""An adapter worker's CPU per delivery, without the broker: the path issue #23 profiled.

    uv run python bench/bench_worker_hot_path.py [--items 500] [--rounds 7]

Each row delivers one dispatch batch (really rendered e-mails or SMS, to the
addresses bench_e2e's recipients have) to the null providers, as a worker task
does after decoding it: ``process_batch`` through the worker's ``_timed``
wrapper (latency histogram, logging), one item at a time (parallelism 1, so
thread hand-offs are not measured). Metrics are written as in a deployed
worker: to a ``PROMETHEUS_MULTIPROC_DIR``. Rows that time one part alone say
so; "shared layouts" rows send e-mails as ``BUS_SHARED_EMAIL_LAYOUTS=true`` does.
"New recipients" send each round to addresses not seen before (a first campaign
to a list); "the same recipients" send one batch again (the next campaign).

Timed as CPU time of this process (``time.process_time``), median of the rounds,
divided by the batch's items.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

# Before prometheus_client is first imported, as run_worker does in a worker.
_MULTIPROC_DIR = tempfile.mkdtemp(prefix="bench-worker-metrics-")
atexit.register(shutil.rmtree, _MULTIPROC_DIR, ignore_errors=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _MULTIPROC_DIR)

from bench_bus import batch as rendered_batch  # noqa: E402
from harness import NULL_PROVIDERS_ENV, UNTHROTTLED_ENV, recipient  # noqa: E402

from brandcast.shared.delivery import Outcome  # noqa: E402
from brandcast.v1 import bus_pb2  # noqa: E402

os.environ.update(UNTHROTTLED_ENV | NULL_PROVIDERS_ENV)


@dataclass(frozen=True)
class Measured:
    name: str
    items: int
    us_per_delivery: float


_first_recipient = itertools.count(step=1_000_000)


def _batches(
    channel: str, items: int, count: int, *, laid_out: bool = False
) -> list[bus_pb2.DispatchBatch]:
    """``count`` batches to recipients that no other call of this returned
    (``laid_out``: e-mails as BUS_SHARED_EMAIL_LAYOUTS sends them)."""
    template = rendered_batch(channel, items, laid_out=laid_out)
    first = next(_first_recipient)
    batches = []
    for number in range(count):
        built = bus_pb2.DispatchBatch()
        built.CopyFrom(template)
        for index, item in enumerate(built.items):
            person = recipient(first + number * items + index)
            item.address = person.phone if channel == "sms" else person.email
        batches.append(built)
    return batches


def _cpu_us_per_item(work: Callable[[int], object], items: int, rounds: int) -> float:
    """``work(round)`` for rounds 1.. ``rounds`` (round 0 warms up), CPU µs per item."""
    work(0)
    samples = []
    for number in range(1, rounds + 1):
        started = time.process_time()
        work(number)
        samples.append((time.process_time() - started) / items * 1e6)
    return statistics.median(samples)


def _sms_deliver() -> Any:
    from brandcast.sms.bootstrap import bootstrap  # noqa: PLC0415 - after the env above
    from brandcast.sms.settings import SmsSettings  # noqa: PLC0415

    return bootstrap(SmsSettings())


def _email_deliver() -> Any:
    from brandcast.email.bootstrap import bootstrap  # noqa: PLC0415 - after the env above
    from brandcast.email.settings import EmailSettings  # noqa: PLC0415

    return bootstrap(EmailSettings()).deliver


_NOTHING_DONE: Final = Outcome(provider="nothing")


def _channel_rows(channel: str, deliver: Any, items: int, rounds: int) -> list[Measured]:
    from brandcast.shared import worker  # noqa: PLC0415 - after the env above
    from brandcast.shared.delivery import RetryPolicy, process_batch  # noqa: PLC0415

    policy = RetryPolicy()
    results = []

    def row(name: str, work: Callable[[int], object]) -> None:
        results.append(Measured(f"{channel}: {name}", items, _cpu_us_per_item(work, items, rounds)))

    def whole_path(batch: bus_pb2.DispatchBatch) -> None:
        with worker._timed(deliver, channel) as timed:
            outcome = process_batch(batch, timed, policy)
        assert len(outcome.receipts) == len(batch.items)

    def deliver_only(batch: bus_pb2.DispatchBatch) -> None:
        for item in batch.items:
            deliver(batch, item)

    def runtime_only(batch: bus_pb2.DispatchBatch) -> None:
        with worker._timed(lambda _batch, _item: _NOTHING_DONE, channel) as timed:
            process_batch(batch, timed, policy)

    # Batch 0 is the warm-up's; each round of a "new" row sends to other recipients.
    fresh = _batches(channel, items, rounds + 1)
    row("runtime alone (a deliver that does nothing)", lambda n: runtime_only(fresh[n]))
    row("whole path, new recipients", lambda n: whole_path(fresh[n]))
    row("whole path, the same recipients", lambda n: whole_path(fresh[0]))
    others = _batches(channel, items, rounds + 1)
    row("deliver alone, new recipients", lambda n: deliver_only(others[n]))
    if channel == "email":
        laid_out = _batches(channel, items, rounds + 1, laid_out=True)
        row("whole path, new recipients, shared layouts", lambda n: whole_path(laid_out[n]))
        laid_out_others = _batches(channel, items, rounds + 1, laid_out=True)
        row(
            "deliver alone, new recipients, shared layouts",
            lambda n: deliver_only(laid_out_others[n]),
        )
    if channel == "sms":
        check = deliver.destinations.check
        addresses = [
            [item.address for item in batch.items] for batch in _batches(channel, items, rounds + 1)
        ]
        row("DestinationPolicy.check, new", lambda n: [check(a) for a in addresses[n]])
        row("DestinationPolicy.check, seen", lambda n: [check(a) for a in addresses[0]])
    return results


def measure(items: int = 500, rounds: int = 7) -> list[Measured]:
    return [
        *_channel_rows("sms", _sms_deliver(), items, rounds),
        *_channel_rows("email", _email_deliver(), items, rounds),
    ]


def table(results: list[Measured]) -> list[str]:
    lines = [
        "| path (metrics in multiprocess mode) | items | CPU per delivery |",
        "|---|---:|---:|",
    ]
    for result in results:
        lines.append(f"| {result.name} | {result.items} | {result.us_per_delivery:.1f} µs |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print("\n".join(table(measure(args.items, args.rounds))))


if __name__ == "__main__":
    main()
