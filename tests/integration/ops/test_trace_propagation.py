"""One trace from the gRPC call to the provider call and back to the store.

In one process but through real parts: the orchestrator's gRPC server, store
and dispatcher, RabbitMQ (a throwaway vhost), the email adapter's Celery task
(called directly with the message taken off its queue) delivering to the SMTP
sink, and the orchestrator's receipt collector. Spans go to an in-memory
exporter through ``brandcast.shared.telemetry``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import json_format
from kombu import Connection
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from brandcast.email.bootstrap import create_worker
from brandcast.email.sandbox.smtp_sink import start_sink
from brandcast.email.settings import EmailSettings
from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.shared import telemetry, topology
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

pytestmark = [pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM = f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    assert telemetry.configure_tracing("brandcast-test", exporter=spans)
    yield spans
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()  # later tests' spans are no longer kept in memory


def one_email_campaign() -> campaign_pb2.CampaignSpec:
    spec = json_format.ParseDict(
        yaml.safe_load((ROOT / "examples" / "spring-launch.yaml").read_text()),
        campaign_pb2.CampaignSpec(),
    )
    first = campaign_pb2.Recipient()
    first.CopyFrom(spec.audience[0])
    first.ClearField("phone")
    del spec.audience[:]
    spec.audience.append(first)
    spec.channels.sms.enabled = False
    spec.channels.social.enabled = False
    return spec


def wait_for_span(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    deadline = time.monotonic() + 30
    while True:
        found = [s for s in exporter.get_finished_spans() if s.name == name]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {name!r} span"
        time.sleep(0.05)


def test_one_trace_from_grpc_through_the_bus_to_the_provider_and_back(
    exporter: InMemorySpanExporter, broker_url: str, tmp_path: Path
) -> None:
    exporter.clear()
    sink, smtp_port = start_sink(tmp_path / "mail", 0)
    settings = OrchestratorSettings(
        database_url=f"sqlite:///{tmp_path / 'brandcast.db'}",
        broker_url=broker_url,
        grpc_address="127.0.0.1:0",
        dispatch_poll_interval=0.1,
        quiet_hours_enforced=False,
    )
    orchestrator = bootstrap(settings)
    server, port = create_server(settings, orchestrator)
    server.start()
    orchestrator.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as connection:
            campaign_service_pb2_grpc.CampaignServiceStub(connection).SubmitCampaign(
                campaign_service_pb2.SubmitCampaignRequest(spec=one_email_campaign()),
                metadata=(("traceparent", UPSTREAM),),
                timeout=30,
            )

        # The email adapter takes the batch off its queue, as its worker would.
        worker = create_worker(
            EmailSettings(broker_url=broker_url, email_smtp_port=smtp_port, email_redis_url="")
        )
        task = worker.tasks[topology.task_name("email")]
        with (
            Connection(broker_url) as broker,
            broker.SimpleQueue(topology.dispatch_queue("email")) as queue,
        ):
            message = queue.get(timeout=30)
            # As Celery would: the body is the batch's protobuf bytes, the task's argument.
            assert message.content_type == topology.PROTOBUF_CONTENT_TYPE
            task(message.body)
            message.ack()
        applied = wait_for_span(exporter, "apply receipts")
    finally:
        server.stop(0)
        orchestrator.stop(5)
        sink.stop()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    spans["apply receipts"] = applied
    chain = ["SubmitCampaign", "dispatch batch", "deliver batch", "provider call"]
    assert set(chain) <= set(spans), sorted(spans)
    for name in [*chain, "apply receipts"]:
        context = spans[name].get_span_context()
        assert context is not None
        assert f"{context.trace_id:032x}" == UPSTREAM_TRACE, name
    # Each step is a child of the one before, across the process boundaries.
    submit = spans["SubmitCampaign"]
    assert submit.parent is not None
    assert f"{submit.parent.span_id:016x}" == UPSTREAM.split("-")[2]
    for parent, child in [
        *itertools.pairwise(chain),
        ("deliver batch", "apply receipts"),
    ]:
        parent_context = spans[parent].get_span_context()
        child_parent = spans[child].parent
        assert parent_context is not None
        assert child_parent is not None
        assert child_parent.span_id == parent_context.span_id, (parent, child)
    assert spans["provider call"].attributes is not None
    assert spans["provider call"].attributes["provider"] == "smtp"
    assert list((tmp_path / "mail").rglob("*.eml")), "the email reached the SMTP sink"
