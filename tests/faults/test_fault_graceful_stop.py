"""Scenario 9: SIGTERM every service under load.

The orchestrator's health turns NOT_SERVING before it refuses calls, the SMS
worker finishes the batch it is sending (no duplicates once restarted), and
after a restart every delivery is final: 0 lost.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = 600


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path,
        broker_url,
        database_url,
        extra_env={"DISPATCH_BATCH_SIZE": "50", "SHUTDOWN_DRAIN_DELAY": "1"},
    )


def watch_health(address: str, seen: list[str], stop: threading.Event) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while not stop.is_set():
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            except grpc.RpcError as error:
                name = f"error:{error.code().name}"
            if not seen or seen[-1] != name:
                seen.append(name)
            if name.startswith("error") and "NOT_SERVING" in seen:
                return
            stop.wait(0.02)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_everything_under_load(rig: SmsRig) -> None:
    campaign_id = rig.submit(sms_spec(SIZE))
    wait_until(lambda: rig.emulator_stats()["messages"] >= SIZE // 4, 120, "a quarter sent")

    seen: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_health, args=(rig.grpc_address, seen, stop))
    watcher.start()
    wait_until(lambda: bool(seen), 10, "the first health answer")
    # To the main process only, as docker and Kubernetes do (a process-group SIGTERM
    # also hits Celery's pool children, which then die mid-batch: see the README).
    for name in ("sms-worker", "orchestrator"):
        os.kill(rig.pid(name), signal.SIGTERM)
    try:
        wait_until(lambda: not rig.alive("orchestrator"), 30, "the orchestrator to drain")
        wait_until(lambda: not rig.alive("sms-worker"), 60, "the worker to finish its batch")
    finally:
        stop.set()
        watcher.join(10)
    sent_at_stop = rig.emulator_stats()["messages"]
    worker_log = (rig.stack.log_dir / "sms-worker.log").read_text(errors="replace")
    exit_codes = {
        name: rig.stack.processes[name].popen.returncode  # type: ignore[union-attr]
        for name in ("sms-worker", "orchestrator")
    }

    rig.start("orchestrator")
    rig.start("sms-worker")
    drained = rig.wait_settled(campaign_id, SIZE, timeout=180)
    statuses = rig.statuses(campaign_id)
    stats = rig.emulator_stats()
    print(
        f"\nscenario=9 size={SIZE} sent_before_stop={sent_at_stop} health={seen} "
        f"exit_codes={exit_codes} final={sum(statuses.values())} "
        f"lost={SIZE - sum(statuses.values())} duplicates_at_provider={stats['duplicates']} "
        f"drain_after_restart={drained:.1f}s"
    )
    assert seen[0] == "SERVING"
    assert "NOT_SERVING" in seen
    assert seen.index("NOT_SERVING") < next(i for i, s in enumerate(seen) if s.startswith("error"))
    assert exit_codes == {"sms-worker": 0, "orchestrator": 0}
    assert "WorkerLostError" not in worker_log
    assert statuses == {campaign_pb2.DELIVERY_STATUS_SENT: SIZE}
    # The batch being sent at SIGTERM was finished and acked, not sent again later.
    assert stats["duplicates"] == 0
