"""Scenario 3: SIGKILL the orchestrator between committing deliveries and
publishing them, and again while it collects receipts; after each restart
everything drains. Reports the time to drain after the restart."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brandcast.shared.devstack import wait_until
from brandcast.v1 import campaign_pb2
from tests.faults.rig import SmsRig, running_rig, sms_spec

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

SIZE = 500
S = campaign_pb2


@pytest.fixture
def rig(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[SmsRig]:
    yield from running_rig(
        tmp_path, broker_url, database_url, extra_env={"DISPATCH_BATCH_SIZE": "50"}
    )


def kill_and_restart(rig: SmsRig) -> None:
    rig.stack.signal("orchestrator", signal.SIGKILL)
    wait_until(lambda: not rig.alive("orchestrator"), 10, "the orchestrator to die")
    rig.start("orchestrator")


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_orchestrator_killed_before_publishing_and_while_collecting(rig: SmsRig) -> None:
    # 1. Killed right after the campaign was committed and answered.
    first = rig.submit(sms_spec(SIZE, name="killed before publishing"))
    rig.stack.signal("orchestrator", signal.SIGKILL)
    statuses = rig.statuses(first)
    unpublished = statuses.get(S.DELIVERY_STATUS_PENDING, 0)
    wait_until(lambda: not rig.alive("orchestrator"), 10, "the orchestrator to die")
    restarted = time.monotonic()
    rig.start("orchestrator")
    rig.wait_settled(first, SIZE, timeout=180)
    drain_publish = time.monotonic() - restarted

    # 2. Killed while receipts stream in.
    second = rig.submit(sms_spec(SIZE, name="killed while collecting"))
    wait_until(
        lambda: rig.statuses(second).get(S.DELIVERY_STATUS_SENT, 0) >= SIZE // 4,
        120,
        "receipts to be collected",
    )
    collected = rig.statuses(second).get(S.DELIVERY_STATUS_SENT, 0)
    restarted = time.monotonic()
    kill_and_restart(rig)
    rig.wait_settled(second, SIZE, timeout=180)
    drain_collect = time.monotonic() - restarted

    finals = [rig.statuses(c) for c in (first, second)]
    stats = rig.emulator_stats()
    messages = rig.emulator_messages()
    print(
        f"\nscenario=3 size=2x{SIZE} unpublished_at_kill={unpublished} "
        f"drain_after_restart={drain_publish:.1f}s collected_at_kill={collected} "
        f"drain_after_restart={drain_collect:.1f}s "
        f"final={sum(sum(f.values()) for f in finals)} "
        f"lost={2 * SIZE - sum(sum(f.values()) for f in finals)} "
        f"duplicates_at_provider={stats['duplicates']}"
    )
    for final in finals:
        assert final == {S.DELIVERY_STATUS_SENT: SIZE}
    assert len({m["delivery_ref"] for m in messages}) == len(messages) == 2 * SIZE
