"""What one one-recipient campaign costs the orchestrator, part by part, in process.

    uv run python bench/bench_one_recipient.py [--campaigns 300] [--rounds 5]

The parts of ``bench_latency.py``'s path that run in the orchestrator's Python,
without the rest of the stack competing for the two cores:

- the campaign's renderer built, for a message sent again by another campaign
  (the same content, another campaign name: an API sending the same
  transactional message to one person after another) and for a new message
  each time (its headline changes);
- ``CampaignIntake.submit`` of a one-recipient campaign on PostgreSQL (a
  throwaway database), the renderer included;
- ``BusPublisher.publish_dispatch`` of a batch of one rendered e-mail to
  RabbitMQ (a throwaway vhost), zstd-compressed, confirmed.

CPU time of this process (``time.process_time``) per campaign, the best of the
rounds (as ``timeit`` reports): this machine's neighbours only ever add to it.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable

from harness import campaign_spec, recipient, throwaway_postgres, throwaway_vhost

from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.store import Store
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2


def _spec(i: int, *, new_message: bool) -> campaign_pb2.CampaignSpec:
    spec = campaign_spec(social=False, name=f"one recipient {i}")
    spec.channels.sms.enabled = False
    if new_message:
        spec.core_message.headline = f"Our spring blend, batch {i}"
    person = recipient(i)
    person.phone = ""
    spec.audience.append(person)
    return spec


def _renderers(specs: list[campaign_pb2.CampaignSpec]) -> Callable[[int], object]:
    return lambda i: CampaignRenderer(specs[i])


def _cpu_us(work: Callable[[int], object], count: int, rounds: int) -> float:
    """The fewest CPU microseconds per call of ``work(i)`` over ``rounds``."""
    per_call = []
    start = 0
    for _ in range(rounds):
        began = time.process_time()
        for i in range(start, start + count):
            work(i)
        per_call.append((time.process_time() - began) * 1e6 / count)
        start += count
    return min(per_call)


def measure(campaigns: int, rounds: int) -> list[tuple[str, float]]:
    results = []
    for label, new_message in (
        ("renderer, the same message again", False),
        ("renderer, a new message", True),
    ):
        specs = [_spec(i, new_message=new_message) for i in range(campaigns * (rounds + 1))]
        CampaignRenderer(specs[-1])  # warm-up: templates compiled, caches filled
        results.append((label, _cpu_us(_renderers(specs), campaigns, rounds)))
    with throwaway_postgres() as database_url:
        store = Store.open(database_url)
        try:
            intake = CampaignIntake(store)
            requests = [
                campaign_service_pb2.SubmitCampaignRequest(
                    spec=_spec(i, new_message=False), idempotency_key=uuid.uuid4().hex
                )
                for i in range(campaigns * (rounds + 1))
            ]
            for request in requests[-campaigns:]:  # warm-up: prepared statements
                intake.submit(request)
            results.append(
                (
                    "CampaignIntake.submit, PostgreSQL",
                    _cpu_us(lambda i: intake.submit(requests[i]), campaigns, rounds),
                )
            )
        finally:
            store.close()
    renderer = CampaignRenderer(_spec(0, new_message=False))
    email = renderer.email(recipient(0), unsubscribe_url="https://acme.example/u/t").variant
    with throwaway_vhost() as broker_url, BusPublisher(broker_url, compression="zstd") as bus:
        bus.declare_topology()

        def publish(i: int) -> None:
            batch = bus_pb2.DispatchBatch(
                batch_id=uuid.uuid4().hex, channel=campaign_pb2.CHANNEL_EMAIL, campaign_id="c"
            )
            batch.items.add(delivery_id=str(i), recipient_id=f"r{i}").email.CopyFrom(email)
            bus.publish_dispatch(batch)

        for i in range(campaigns):  # warm-up: connection, channel, declarations
            publish(i)
        results.append(
            ("BusPublisher.publish_dispatch, one e-mail", _cpu_us(publish, campaigns, rounds))
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for label, us in measure(args.campaigns, args.rounds):
        print(f"{label:<45} {us:>8,.0f} µs of CPU per campaign")


if __name__ == "__main__":
    main()
