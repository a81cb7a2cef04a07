"""One-recipient latency: ``SubmitCampaign`` → the receipt seen on ``WatchCampaign``.

    uv run python bench/bench_latency.py --campaigns 1000

Null providers inside the adapters, the real processes, RabbitMQ and PostgreSQL.
Each campaign has one recipient on email only; its clock starts before
``SubmitCampaign`` is called and stops when the watch stream shows the delivery SENT.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from harness import (
    NULL_PROVIDERS_ENV,
    UNTHROTTLED_ENV,
    RssSampler,
    campaign_spec,
    recipient,
    server_pids,
    throwaway_postgres,
    throwaway_vhost,
)
from local_stack import start_local_stack

from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

SETTLED = {
    campaign_pb2.DELIVERY_STATUS_SENT,
    campaign_pb2.DELIVERY_STATUS_DELIVERED,
    campaign_pb2.DELIVERY_STATUS_FAILED,
}


@dataclass
class LatencyResult:
    samples_ms: list[float]
    extra_env: dict[str, str]
    #: Per campaign: SubmitCampaign answered, QUEUED seen, settled seen (ms from the start).
    phases_ms: list[tuple[float, float, float]] = field(default_factory=list)
    #: CPU milliseconds per campaign of each process, the servers included: less
    #: sensitive than wall time to what else the machine runs.
    cpu_ms_per_campaign: dict[str, float] = field(default_factory=dict)

    def phase_medians(self) -> tuple[float, float, float]:
        """Median submit, submit → queued and queued → settled times."""
        submit = statistics.median(p[0] for p in self.phases_ms)
        queued = statistics.median(p[1] - p[0] for p in self.phases_ms)
        settled = statistics.median(p[2] - p[1] for p in self.phases_ms)
        return submit, queued, settled

    def cpu_summary(self) -> str:
        """``name X ms, ...``, the costliest process first."""
        ordered = sorted(self.cpu_ms_per_campaign.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {ms:.2f} ms" for name, ms in ordered)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)


def one_campaign(
    stub: campaign_service_pb2_grpc.CampaignServiceStub, i: int
) -> tuple[float, float, float]:
    """Milliseconds from the start to: the submit's answer, QUEUED seen, settled seen."""
    spec = campaign_spec(social=False, name=f"latency {i}")
    spec.channels.sms.enabled = False
    person = recipient(i)
    person.phone = ""
    spec.audience.append(person)
    started = time.perf_counter()
    response = stub.SubmitCampaign(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key=uuid.uuid4().hex),
        timeout=30,
    )
    submitted = (time.perf_counter() - started) * 1000
    queued = 0.0
    events = stub.WatchCampaign(
        campaign_service_pb2.WatchCampaignRequest(
            campaign_id=response.campaign.id, include_deliveries=True
        ),
        timeout=30,
    )
    try:
        for event in events:
            if event.WhichOneof("event") != "delivery":
                continue
            now = (time.perf_counter() - started) * 1000
            if event.delivery.status == campaign_pb2.DELIVERY_STATUS_QUEUED and not queued:
                queued = now
            if event.delivery.status in SETTLED:
                # A watch that starts late sees SENT first: QUEUED is then unknown.
                return submitted, queued or submitted, now
    finally:
        events.cancel()
    raise RuntimeError(f"the watch stream of campaign {response.campaign.id} ended early")


def measure(campaigns: int, extra_env: dict[str, str] | None = None) -> LatencyResult:
    env = {**UNTHROTTLED_ENV, **NULL_PROVIDERS_ENV, **(extra_env or {})}
    with (
        tempfile.TemporaryDirectory(prefix="brandcast-latency-") as tmp,
        throwaway_vhost() as broker_url,
        throwaway_postgres() as database_url,
    ):
        stack = start_local_stack(
            Path(tmp) / "stack", broker_url=broker_url, database_url=database_url, extra_env=env
        )
        pids = {
            name: process.popen.pid
            for name, process in stack.stack.processes.items()
            if process.popen is not None
        }
        try:
            with grpc.insecure_channel(stack.grpc_address) as channel:
                stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
                for i in range(3):  # warm-up: workers consuming, connections open
                    one_campaign(stub, i)
                with RssSampler({**pids, **server_pids()}, interval=1.0) as sampler:
                    phases = [one_campaign(stub, i) for i in range(campaigns)]
        finally:
            stack.stop()
    cpu = {
        name: seconds * 1000 / campaigns
        for name, seconds in sampler.cpu_seconds.items()
        if seconds * 1000 / campaigns >= 0.05
    }
    return LatencyResult([p[2] for p in phases], extra_env or {}, phases, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    args = parser.parse_args()
    result = measure(args.campaigns)
    print(
        f"{len(result.samples_ms)} campaigns: p50 {result.p50:.1f} ms, "
        f"p99 {result.percentile(99):.1f} ms, max {max(result.samples_ms):.1f} ms"
    )
    submit, queued, settled = result.phase_medians()
    print(
        f"median phases: SubmitCampaign {submit:.1f} ms, then QUEUED seen after "
        f"{queued:.1f} ms, then SENT seen after {settled:.1f} ms"
    )
    print("CPU per campaign: " + result.cpu_summary())


if __name__ == "__main__":
    main()
