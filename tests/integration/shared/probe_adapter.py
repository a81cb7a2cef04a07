"""A minimal adapter on the shared worker runtime, run as a real Celery worker.

Its provider is decided by the address: "ok..." is sent, "permanent..." is
refused, "transient..." is always throttled, "poison" raises a bug.
"""

from __future__ import annotations

import os
import sys

from brandcast.shared.delivery import Outcome, RetryPolicy
from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.worker import create_worker_app, register_delivery_task, worker_argv
from brandcast.v1 import bus_pb2

BROKER_URL = os.environ["BROKER_URL"]
app = create_worker_app("sms", BROKER_URL)


def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
    if item.address.startswith("permanent"):
        raise PermanentProviderError("21211", "invalid number", provider="probe")
    if item.address.startswith("transient"):
        raise TransientProviderError("429", "throttled", provider="probe", retry_after=0.1)
    if item.address == "poison":
        raise RuntimeError("template exploded")
    return Outcome(provider="probe", provider_message_id=f"p-{item.delivery_id}")


register_delivery_task(
    app,
    "sms",
    lambda: deliver,
    broker_url=BROKER_URL,
    policy=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2),
)

if __name__ == "__main__":
    app.worker_main(worker_argv("sms", int(sys.argv[1]) if len(sys.argv) > 1 else 1))
