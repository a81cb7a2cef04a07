"""A small SMS-only Brandcast for the fault suite: orchestrator, SMS emulator and
SMS worker as real processes on one vhost and one database.

The full local stack (nine processes) takes ~20 s to start on this 2-core
machine; the SMS path alone exercises every fault the suite injects (worker
crashes, broker cuts, provider faults, orchestrator crashes) in a fraction of
that. Rate limits and the prefix cap are off unless a test asks for them, so
sizes measure the pipeline, not the throttles.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString

import grpc
import httpx

from brandcast.orchestrator.aio_server import ThreadedAioServer
from brandcast.orchestrator.server import Orchestrator, bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.shared import topology
from brandcast.shared.bus import connect
from brandcast.shared.bus_codec import batch_from_message
from brandcast.shared.devstack import DevStack, Process, free_port
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc
from tests.faults.log_leaks import scan_logs
from tests.redis_keys import forget_keys, forget_sms_namespace

BIN = Path(sys.executable).parent

#: Log folders of every rig this process started, for the log scan (scenario 16); each
#: rig also scans its own when it stops (a parallel run spreads rigs over processes).
LOG_DIRS: list[Path] = []

FINAL_STATUSES = frozenset(
    {
        campaign_pb2.DELIVERY_STATUS_SENT,
        campaign_pb2.DELIVERY_STATUS_DELIVERED,
        campaign_pb2.DELIVERY_STATUS_FAILED,
        campaign_pb2.DELIVERY_STATUS_BOUNCED,
        campaign_pb2.DELIVERY_STATUS_SUPPRESSED,
        campaign_pb2.DELIVERY_STATUS_CANCELLED,
    }
)


#: Bay Area codes: 30,000 distinct fictional 555 numbers.
_AREA_CODES = ("415", "628", "650")


def phone(index: int) -> str:
    """A valid, fictional US number (+1 415 555 NNNN, then 628 and 650)."""
    area, line = divmod(index, 10_000)
    return f"+1{_AREA_CODES[area]}555{line:04d}"


def sms_spec(
    size: int, *, name: str = "fault drill", body: str = "", first: int = 0
) -> campaign_pb2.CampaignSpec:
    """An SMS-only campaign to ``size`` distinct numbers from ``first`` (below 30,000)."""
    assert size > 0
    assert first + size <= 10_000 * len(_AREA_CODES)
    spec = campaign_pb2.CampaignSpec(name=name)
    spec.brand_kit.name = "Acme Coffee"
    spec.brand_kit.sms_sender = "+14155550100"
    spec.brand_kit.default_locale = "en"
    spec.core_message.headline = "Spring blend"
    spec.core_message.body = body or "Roasted this week. Club members get 15% off."
    spec.channels.sms.enabled = True
    spec.channels.sms.ignore_quiet_hours = True
    spec.audience.extend(
        campaign_pb2.Recipient(id=f"r{i:05d}", phone=phone(i), locale="en")
        for i in range(first, first + size)
    )
    return spec


@dataclass
class SmsRig:
    stack: DevStack
    env: dict[str, str]
    ports: dict[str, int]
    data_dir: Path
    database_url: str
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sms_emulator']}"

    # -- processes ---------------------------------------------------------------

    def process(self, name: str, env: Mapping[str, str] | None = None) -> Process:
        """A fresh definition of one of the rig's processes (to start or restart)."""
        merged = {**self.env, **(env or {})}
        if name == "sms-emulator":
            argv = [
                str(BIN / "brandcast-sms"),
                "emulator",
                "--port",
                str(self.ports["sms_emulator"]),
                "--callback-delay",
                "0.05",
            ]
            return Process(name, argv, merged, port=self.ports["sms_emulator"])
        if name == "orchestrator":
            return Process(
                name, [str(BIN / "brandcast-orchestrator")], merged, port=self.ports["grpc"]
            )
        if name.startswith("sms-worker"):
            concurrency = merged.get("RIG_WORKER_CONCURRENCY", "1")
            argv = [str(BIN / "brandcast-sms"), "worker", "--concurrency", concurrency]
            return Process(name, argv, merged, ready=lambda: self._worker_ready(name))
        raise KeyError(name)

    def start(self, name: str, env: Mapping[str, str] | None = None) -> Process:
        process = self.stack.start(self.process(name, env))
        self.processes[name] = process
        return process

    def _worker_ready(self, name: str) -> bool:
        path = self.stack.log_dir / f"{name}.log"
        return path.exists() and b" ready." in path.read_bytes()

    def pid(self, name: str) -> int:
        popen = self.stack.processes[name].popen
        assert popen is not None
        return popen.pid

    def alive(self, name: str) -> bool:
        popen = self.stack.processes[name].popen
        return popen is not None and popen.poll() is None

    # -- the API -----------------------------------------------------------------

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(
            self.grpc_address,
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
        )

    def submit(self, spec: campaign_pb2.CampaignSpec, key: str = "") -> str:
        with self.channel() as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            response = stub.SubmitCampaign(
                campaign_service_pb2.SubmitCampaignRequest(
                    spec=spec, idempotency_key=key or uuid.uuid4().hex
                ),
                timeout=120,
                metadata=self._auth(),
            )
        return str(response.campaign.id)

    def call(self, method: str, request: Any) -> Any:
        """A unary CampaignService call, e.g. ``call("PauseCampaign", request)``."""
        with self.channel() as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            return getattr(stub, method)(request, timeout=30, metadata=self._auth())

    def _auth(self) -> tuple[tuple[str, str], ...] | None:
        token = self.env.get("API_TOKENS", "").split(",")[0].strip()
        return (("authorization", f"Bearer {token}"),) if token else None

    # -- what the store and the provider hold ---------------------------------------

    def statuses(self, campaign_id: str) -> dict[int, int]:
        """Deliveries per status, read from the store itself (SQLite or PostgreSQL)."""
        rows = self._query(
            "SELECT status, COUNT(*) FROM deliveries WHERE campaign_id = %s GROUP BY status",
            campaign_id,
        )
        return {int(status): int(count) for status, count in rows}

    def deliveries(self, campaign_id: str) -> list[tuple[str, str, int, int, str]]:
        """(id, idempotency key, status, attempts, error code) of every delivery."""
        rows = self._query(
            "SELECT id, idempotency_key, status, attempts, error_code FROM deliveries"
            " WHERE campaign_id = %s",
            campaign_id,
        )
        return [(str(a), str(b), int(c), int(d), str(e)) for a, b, c, d, e in rows]

    def campaign_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM campaigns")[0][0])

    def _query(self, sql: LiteralString, *params: Any) -> list[tuple[Any, ...]]:
        if self.database_url.startswith("sqlite:///"):
            path = self.database_url.removeprefix("sqlite:///")
            with sqlite3.connect(path, timeout=30) as conn:
                return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
        import psycopg

        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            return list(conn.execute(sql, params).fetchall())

    def settled(self, campaign_id: str, size: int) -> bool:
        counts = self.statuses(campaign_id)
        return sum(n for s, n in counts.items() if s in FINAL_STATUSES) == size

    def wait_settled(self, campaign_id: str, size: int, timeout: float) -> float:
        """Seconds until every delivery is final; fail with the counts otherwise."""
        started = time.monotonic()
        while not self.settled(campaign_id, size):
            if time.monotonic() - started > timeout:
                named = {
                    campaign_pb2.DeliveryStatus.Name(s): n  # type: ignore[arg-type]
                    for s, n in self.statuses(campaign_id).items()
                }
                raise AssertionError(f"not settled after {timeout:.0f}s: {named}")
            time.sleep(0.25)
        return time.monotonic() - started

    def emulator_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = httpx.get(
            f"{self.emulator_url}/_emulator/messages", timeout=30
        ).json()
        return messages

    def emulator_requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = httpx.get(
            f"{self.emulator_url}/_emulator/requests", timeout=30
        ).json()
        return requests

    def emulator_stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.emulator_url}/_emulator/stats", timeout=10).json()
        return stats

    def add_fault(self, number: str, kind: str, count: int, **spec: Any) -> None:
        body = {"number": number, "kind": kind, "count": count, **spec}
        httpx.post(
            f"{self.emulator_url}/_emulator/faults", json=body, timeout=10
        ).raise_for_status()


def start_sms_rig(
    data_dir: Path,
    *,
    broker_url: str,
    database_url: str,
    extra_env: Mapping[str, str] | None = None,
    workers: int = 1,
) -> SmsRig:
    """Emulator, orchestrator and ``workers`` SMS worker processes, all ready."""
    ports = {"grpc": free_port(), "sms_emulator": free_port(), "closed": free_port()}
    env = {
        "BROKER_URL": broker_url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "GRPC_ADDRESS": f"127.0.0.1:{ports['grpc']}",
        "DISPATCH_POLL_INTERVAL": "0.2",
        "SMS_TWILIO_BASE_URL": f"http://127.0.0.1:{ports['sms_emulator']}",
        # Status callbacks go to a closed port: receipts of the send itself are what
        # the suite counts, and 2 x 10,000 callbacks would only load the 2 cores.
        "SMS_CALLBACK_BASE_URL": f"http://127.0.0.1:{ports['closed']}",
        "SMS_RATE_LIMIT": "0",
        "SMS_PUMPING_GUARD": "false",
        "SMS_REDIS_NAMESPACE": f"faults-{uuid.uuid4().hex[:8]}",
        # Pauses and cancels of this rig's campaigns reach only this rig's workers.
        "CONTROL_KEY_PREFIX": f"faults-{uuid.uuid4().hex[:8]}:control",
        "SMS_RETRY_BASE_DELAY": "0.2",
        "SMS_RETRY_MAX_DELAY": "2",
        **(extra_env or {}),
    }
    stack = DevStack(data_dir / "logs", base_env=None)
    LOG_DIRS.append(stack.log_dir)
    rig = SmsRig(stack, env, ports, data_dir, database_url)
    try:
        rig.start("sms-emulator")
        rig.start("orchestrator")
        for index in range(workers):
            rig.start("sms-worker" if index == 0 else f"sms-worker-{index}")
    except BaseException:
        stack.stop()
        raise
    return rig


def running_rig(
    tmp_path: Path, broker_url: str, database_url: str, **kwargs: Any
) -> Iterator[SmsRig]:
    rig = start_sms_rig(
        tmp_path / "rig", broker_url=broker_url, database_url=database_url, **kwargs
    )
    try:
        yield rig
    finally:
        rig.stack.stop(grace=10)
        forget_sms_namespace(rig.env["SMS_REDIS_NAMESPACE"])
        forget_keys(f"{rig.env['CONTROL_KEY_PREFIX']}*")
    # Scenario 16 for this rig: its logs hold no personal data and none of its secrets.
    secrets = (rig.env.get("API_TOKENS", ""), rig.env.get("UNSUBSCRIBE_SECRET", ""))
    scan = scan_logs([rig.stack.log_dir], secrets)
    assert scan.found == {}, f"personal data or secrets in the rig's logs: {scan.found}"


@dataclass
class InProcessApi:
    """The orchestrator's real gRPC server in this process, on port 0."""

    orchestrator: Orchestrator
    server: ThreadedAioServer
    address: str
    channel: grpc.Channel
    campaigns: campaign_service_pb2_grpc.CampaignServiceStub
    suppressions: campaign_service_pb2_grpc.SuppressionServiceStub

    def campaign_count(self) -> int:
        return len(self.orchestrator.store.list_campaigns(page_size=1000, page_token="")[0])


@contextmanager
def in_process_api(database_url: str, **settings: Any) -> Iterator[InProcessApi]:
    """Serve the API (no dispatcher, no collector) until the block ends."""
    config = OrchestratorSettings(database_url=database_url, grpc_address="127.0.0.1:0", **settings)
    orchestrator = bootstrap(config, dispatch=False, collect=False)
    server, port = create_server(config, orchestrator)
    server.start()
    orchestrator.start()
    address = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(
        address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    try:
        yield InProcessApi(
            orchestrator,
            server,
            address,
            channel,
            campaign_service_pb2_grpc.CampaignServiceStub(channel),
            campaign_service_pb2_grpc.SuppressionServiceStub(channel),
        )
    finally:
        channel.close()
        server.stop(0).wait()
        orchestrator.stop()


def queue_counts(broker_url: str) -> dict[str, tuple[int, int]]:
    """(ready, unacknowledged) messages per queue of the test's vhost."""
    vhost = broker_url.rsplit("/", 1)[1]
    out = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    counts: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            counts[parts[0]] = (int(parts[1]), int(parts[2]))
    return counts


def dead_letters(broker_url: str, channel: str) -> list[bus_pb2.DispatchBatch]:
    """Read (and ack) every batch parked in ``channel``'s dead-letter queue."""
    batches: list[bus_pb2.DispatchBatch] = []
    with connect(broker_url) as connection:
        queue = topology.dead_letter_queue(channel)(connection.default_channel)
        queue.declare()
        while (message := queue.get(no_ack=True)) is not None:
            batches.append(batch_from_message(message.body, message.content_type))
    return batches
