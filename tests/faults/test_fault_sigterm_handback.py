"""SIGTERM to an SMS worker in the middle of a rate-limited batch (issue #22).

It finishes the provider calls in flight, hands the rest of its batch back to
the queue, and exits within ``WORKER_SHUTDOWN_SECONDS`` (10 s); the other
worker sends the rest. Nothing is lost, nothing fails, nothing is sent twice.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = 200


@pytest.fixture(params=["1", "2"], ids=["threads", "prefork"])
def rig(
    broker_url: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        # 10/s shared by both workers, two calls at a time each: a batch (about
        # 2 s of sending at the channel's pace) takes seconds to get through.
        # One process per worker (the batch on a thread), or prefork children.
        extra_env={
            "SMS_RATE_LIMIT": "10",
            "DELIVERY_PARALLELISM": "2",
            "RIG_WORKER_CONCURRENCY": request.param,
        },
        workers=2,
    )


def log(rig: SmsRig, name: str) -> str:
    return (rig.stack.log_dir / f"{name}.log").read_text(errors="replace")


def batches_started(rig: SmsRig, name: str) -> int:
    # With late acks and a prefetch of one, the next batch is received only when
    # the last one is done: "received" marks the start of a batch.
    return log(rig, name).count(" received")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_mid_batch_hands_the_rest_to_another_worker(rig: SmsRig) -> None:
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(lambda: rig.emulator_stats()["messages"] >= 20, 60, "sending at pace")
    started = batches_started(rig, "sms-worker")
    # Its next batch has just begun: about 4 s of sending (2 s at the channel's
    # 10/s, shared with the other worker) lie ahead of it.
    wait_until(lambda: batches_started(rig, "sms-worker") > started, 30, "a new batch")

    os.kill(rig.pid("sms-worker"), signal.SIGTERM)
    signalled = time.monotonic()
    wait_until(lambda: not rig.alive("sms-worker"), 15, "the worker to stop")
    stopped_in = time.monotonic() - signalled
    exit_code = rig.stack.processes["sms-worker"].popen.returncode  # type: ignore[union-attr]
    rig.wait_settled(campaign_id, SIZE, timeout=120)

    handed = [int(n) for n in re.findall(r"(\d+) handed back", log(rig, "sms-worker"))]
    statuses = rig.statuses(campaign_id)
    stats = rig.emulator_stats()
    print(
        f"\nstopped in {stopped_in:.1f}s (exit {exit_code}), handed back {handed}, "
        f"statuses {statuses}, duplicates {stats['duplicates']}"
    )
    assert stopped_in <= 10
    assert exit_code == 0
    assert sum(handed) > 0, "the batch in progress was handed back, not finished"
    assert " succeeded in " in log(rig, "sms-worker-1")
    assert statuses == {campaign_pb2.DELIVERY_STATUS_SENT: SIZE}
    assert stats["messages"] == SIZE
    assert stats["duplicates"] == 0
