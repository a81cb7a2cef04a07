"""SIGTERM drains the real ``brandcast-orchestrator`` process: watchers are told to
resume elsewhere, the dispatcher and collector stop, and the process exits 0.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from brandcast.shared.devstack import DevStack, Process, free_port
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2
API = campaign_service_pb2
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
def orchestrator(broker_url: str, tmp_path: Path) -> Iterator[tuple[DevStack, str]]:
    port = free_port()
    env = {
        "BROKER_URL": broker_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'orchestrator.db'}",
        "GRPC_ADDRESS": f"127.0.0.1:{port}",
        "SHUTDOWN_GRACE": "20",
        "LOG_LEVEL": "INFO",
    }
    with DevStack(tmp_path / "logs") as stack:
        stack.start(Process("orchestrator", [str(BIN / "brandcast-orchestrator")], env, port=port))
        yield stack, f"127.0.0.1:{port}"


def test_sigterm_ends_watches_with_resume_and_exits_cleanly(
    orchestrator: tuple[DevStack, str],
) -> None:
    stack, address = orchestrator
    spec = S.CampaignSpec(
        name="Drain",
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(email=S.EmailSettings(enabled=True)),
        audience=[S.Recipient(id="r1", email="r1@example.com")],
    )
    with grpc.insecure_channel(address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        cid = stub.SubmitCampaign(API.SubmitCampaignRequest(spec=spec), timeout=10).campaign.id
        # No adapter consumes the queue: the delivery stays queued, the watch open.
        stream = stub.WatchCampaign(
            API.WatchCampaignRequest(campaign_id=cid, include_deliveries=True), timeout=60
        )
        seen = [next(stream)]
        stack.signal("orchestrator", signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as ended:
            seen.extend(stream)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "resume the watch from the last cursor" in (ended.value.details() or "")
    assert all(message.cursor for message in seen)

    process = stack.processes["orchestrator"].popen
    assert process is not None
    assert process.wait(30) == 0, stack.tail("orchestrator")
    assert "orchestrator stopped" in stack.tail("orchestrator")
