"""What every benchmark shares: throwaway broker vhosts and databases, the benchmark
campaign, streamed submission, waiting for every receipt, and RSS sampling.

Nothing here is timed against a wall-clock budget: benchmarks wait for a
condition with a timeout and report what they measured.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil

from brandcast.shared import channels
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

RABBITMQ_HOST = os.environ.get("BENCH_RABBITMQ_HOST", "127.0.0.1:5672")
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SETTLED_FIELDS = ("sent", "delivered", "failed", "bounced", "suppressed", "cancelled")
#: One brand account per network of the channel table.
SOCIAL_NETWORKS = tuple(network.value for network in channels.NETWORKS)

#: Adapter settings every benchmark stack uses: no rate limits or pumping guard (they
#: exist to protect real providers and would measure themselves, not the pipeline).
UNTHROTTLED_ENV = {
    "SMS_RATE_LIMIT": "0",
    "SMS_PUMPING_GUARD": "false",
    "SOCIAL_RATE_LIMIT": "0",
    "EMAIL_RATE_LIMIT": "0",
    "LOG_LEVEL": "WARNING",
    # As docker-compose.yml deploys the stack: batches and receipts compressed,
    # each e-mail layout once per batch.
    "BUS_COMPRESSION": "zstd",
    "BUS_SHARED_EMAIL_LAYOUTS": "true",
}
NULL_PROVIDERS_ENV = {
    "EMAIL_PROVIDERS": "null",
    "SMS_PROVIDERS": "null",
    "SOCIAL_NULL_NETWORK": "true",
}


def _rabbitmqctl(*args: str, attempts: int = 3) -> None:
    # rabbitmqctl fails now and then while other vhosts are being created or deleted.
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            ["rabbitmqctl", "-q", *args], check=False, capture_output=True, text=True, timeout=120
        )
        if done.returncode == 0:
            return
        if attempt == attempts:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
        time.sleep(attempt)


@contextlib.contextmanager
def throwaway_vhost() -> Iterator[str]:
    """A fresh RabbitMQ vhost (deleted afterwards); yields its AMQP URL."""
    vhost = f"brandcast-bench-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{RABBITMQ_HOST}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); yields its SQLAlchemy URL."""
    import psycopg  # noqa: PLC0415 - only the benchmarks that need a database pay for it

    name = f"brandcast_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+psycopg://"
        )
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def campaign_spec(*, social: bool = True, name: str = "Bench") -> campaign_pb2.CampaignSpec:
    """The benchmark campaign: built-in templates, email + SMS (+ four social accounts)."""
    spec = campaign_pb2.CampaignSpec(name=name)
    kit = spec.brand_kit
    kit.name = "Acme Coffee"
    kit.email_sender.address = "news@acme.example"
    kit.sms_sender = "+14155550100"
    kit.postal_address = "1 Main St, Springfield"
    kit.legal_footer = "You receive this email because you subscribed at acme.example."
    core = spec.core_message
    core.headline = "Our spring blend is here"
    core.body = "Bright, floral and roasted last week. Every bag ordered this week ships free."
    core.cta_text = "Order now"
    core.cta_url = "https://acme.example/spring"
    spec.channels.email.enabled = True
    spec.channels.sms.enabled = True
    if social:
        spec.channels.social.enabled = True
        for index, network in enumerate(SOCIAL_NETWORKS):
            kit.social_accounts.add(id=f"acme-{index}", network=network)
    return spec


def recipient(i: int) -> campaign_pb2.Recipient:
    return campaign_pb2.Recipient(
        id=f"r{i}",
        email=f"person{i}@example.com",
        phone=f"+1415{2_000_000 + i:07d}",
        name=f"Person {i}",
        locale="en-US",
    )


def stream_requests(
    spec: campaign_pb2.CampaignSpec, recipients: int, key: str, chunk: int = 2000
) -> Iterator[campaign_service_pb2.SubmitCampaignStreamRequest]:
    """The header, the audience in chunks built lazily (1M recipients fit nowhere), the end."""
    yield campaign_service_pb2.SubmitCampaignStreamRequest(
        header=campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key=key)
    )
    for start in range(0, recipients, chunk):
        request = campaign_service_pb2.SubmitCampaignStreamRequest()
        request.chunk.recipients.extend(
            recipient(i) for i in range(start, min(start + chunk, recipients))
        )
        yield request
    yield campaign_service_pb2.SubmitCampaignStreamRequest(
        end=campaign_service_pb2.StreamEnd(recipient_count=recipients)
    )


def settled(campaign: campaign_pb2.Campaign) -> int:
    return sum(getattr(c, f) for c in campaign.counters for f in SETTLED_FIELDS)


def total(campaign: campaign_pb2.Campaign) -> int:
    return sum(c.total for c in campaign.counters)


@dataclass
class CampaignRun:
    deliveries: int
    seconds: float
    submit_seconds: float
    failed: int
    #: The first few failed deliveries' channel, provider and error.
    failure_reasons: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds


def run_campaign(
    address: str,
    recipients: int,
    *,
    social: bool = True,
    timeout: float = 1800.0,
    poll: float | None = None,
) -> CampaignRun:
    """Submit one streamed campaign and wait until every delivery has its receipt stored.

    ``poll`` defaults to 0.25 s, and to 1 s above 100,000 deliveries: each
    GetCampaign counts the campaign's deliveries by status, work the database
    would otherwise take from the pipeline being measured (the error is at most
    one interval in a run of over a minute).
    """
    key = uuid.uuid4().hex
    with grpc.insecure_channel(address) as channel:
        stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
        spec = campaign_spec(social=social)
        # Each run's posts differ: X refuses a tweet that repeats one of the
        # account's earlier tweets, as the emulator does across runs on a stack.
        spec.core_message.hashtags.append(f"run{key[:6]}")
        started = time.perf_counter()
        response = stub.SubmitCampaignStream(
            stream_requests(spec, recipients, key), timeout=timeout
        )
        submitted = time.perf_counter() - started
        campaign_id = response.campaign.id
        expected = recipients * 2 + (len(SOCIAL_NETWORKS) if social else 0)
        if poll is None:
            poll = 0.25 if expected <= 100_000 else 1.0
        deadline = time.monotonic() + timeout
        while True:
            campaign = stub.GetCampaign(
                campaign_service_pb2.GetCampaignRequest(campaign_id=campaign_id), timeout=60
            ).campaign
            if total(campaign) == expected and settled(campaign) == expected:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{settled(campaign)}/{expected} settled after {timeout}s")
            time.sleep(poll)
        elapsed = time.perf_counter() - started
        failed = sum(c.failed + c.bounced for c in campaign.counters)
        reasons = _failure_reasons(stub, campaign_id) if failed else []
    return CampaignRun(expected, elapsed, submitted, failed, reasons)


def _failure_reasons(
    stub: campaign_service_pb2_grpc.CampaignServiceStub, campaign_id: str, limit: int = 5
) -> list[str]:
    """What the first few failed deliveries say, so a run's failures are explained."""
    out: list[str] = []
    for status in (campaign_pb2.DELIVERY_STATUS_FAILED, campaign_pb2.DELIVERY_STATUS_BOUNCED):
        page = stub.ListDeliveries(
            campaign_service_pb2.ListDeliveriesRequest(
                campaign_id=campaign_id, status=status, page_size=limit
            ),
            timeout=60,
        )
        out += [
            f"{campaign_pb2.Channel.Name(d.channel)} {d.provider or '-'} "
            f"{d.error_code}: {d.error_message[:120]}"
            for d in page.deliveries
        ]
    return out[:limit]


@dataclass
class RssSampler:
    """Peak RSS and CPU seconds of named processes (each with its children: prefork
    pools) while the sampler runs."""

    pids: dict[str, int]
    interval: float = 0.2
    peaks: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    _cpu_start: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            for name, pid in self.pids.items():
                rss, cpu = _tree_usage(pid)
                if rss > self.peaks.get(name, 0):
                    self.peaks[name] = rss
                self._cpu_start.setdefault(name, cpu)
                self.cpu_seconds[name] = cpu - self._cpu_start[name]
            if stopping:
                return  # the CPU counts end with the run, not an interval before
            self._stop.wait(self.interval)


def _tree_usage(pid: int) -> tuple[int, float]:
    """RSS bytes and user+system CPU seconds of ``pid`` and its children."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0.0
    rss, cpu = 0, 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            rss += process.memory_info().rss
            times = process.cpu_times()
            # children_*: children that ended and were reaped (database backends
            # that closed, worker pool processes replaced) still cost CPU.
            cpu += times.user + times.system + times.children_user + times.children_system
    return rss, cpu


#: Names of the shared servers in ``server_pids`` (CPU only: their memory is not ours).
SERVERS = ("postgresql-server", "rabbitmq-server")


def server_pids() -> dict[str, int]:
    """PostgreSQL's postmaster and RabbitMQ's Erlang VM on this machine, so a run
    can count their CPU too: every delivery costs them work. Other users of the
    same servers during a run are counted as well; the bench machine is quiet."""
    found: dict[str, int] = {}
    for process in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            name = process.info["name"]
            if name == "beam.smp":
                found["rabbitmq-server"] = process.pid
            elif name == "postgres" and psutil.Process(process.info["ppid"]).name() != "postgres":
                found["postgresql-server"] = process.pid
    return found


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    try:
        rabbit = subprocess.run(
            ["rabbitmqctl", "-q", "version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rabbit = "unknown"
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            postgres = str(row[0]) if row else "unknown"
    except Exception:  # the report says unknown rather than failing
        postgres = "unknown"
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{cpu} × {os.cpu_count()}",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "rabbitmq": rabbit,
        "postgresql": postgres,
    }
