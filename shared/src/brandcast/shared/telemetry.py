"""OpenTelemetry trace context from the gRPC call to the provider call and back.

One trace follows a campaign across processes: the orchestrator's
``SubmitCampaign`` span stores its W3C ``traceparent`` with the campaign, each
``dispatch batch`` span puts its own in ``DispatchBatch.trace_context``, the
adapter's ``deliver batch`` and ``provider call`` spans continue it, and
receipts carry the adapter's context back to ``apply receipts``.

Tracing is an optional extra (``brandcast-shared[tracing]``). Spans are
recorded and exported over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set (standard ``OTEL_*`` variables apply); otherwise, or without the extra,
every helper here still passes an incoming ``traceparent`` through unchanged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

#: The W3C Trace Context keys a carrier holds.
TRACE_KEYS: Final = ("traceparent", "tracestate")
AVAILABLE: Final = importlib.util.find_spec("opentelemetry") is not None

AttributeValue = str | int | float | bool

#: Whether :func:`configure_tracing` turned span recording on in this process.
_recording = False


def recording() -> bool:
    """Whether spans are recorded here; without it :func:`span` only passes context on."""
    return _recording


def configure_tracing(service: str, *, exporter: SpanExporter | None = None) -> bool:
    """Record spans of this process and export them; returns whether tracing is on.

    Without ``exporter`` spans go to ``OTEL_EXPORTER_OTLP_ENDPOINT`` in batches
    (nothing happens when it is unset); tests pass an in-memory exporter, which
    gets every span as soon as it ends. Call once per process, before forking.
    """
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if exporter is None and not endpoint:
        return False
    if not AVAILABLE:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but brandcast-shared[tracing] is not "
            "installed: no spans are exported"
        )
        return False
    from opentelemetry import trace  # noqa: PLC0415 - optional dependency
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        SimpleSpanProcessor,
    )

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    processor: SpanProcessor
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        processor = BatchSpanProcessor(OTLPSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    global _recording  # noqa: PLW0603 - one switch per process, set once at start
    _recording = True
    log.info("exporting traces as %s", service, extra={"service": service})
    return True


def carrier_of(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Only the trace keys of ``metadata`` (gRPC metadata, a proto map, ...)."""
    return {key: value for key, value in (metadata or {}).items() if key in TRACE_KEYS}


@contextmanager
def span(
    name: str,
    parent: Mapping[str, str] | None = None,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    links: Sequence[Mapping[str, str]] = (),
) -> Iterator[dict[str, str]]:
    """Run the block in span ``name``, a child of the ``parent`` carrier.

    Yields the carrier to send downstream: this span's ``traceparent`` when
    spans are recorded, the parent's otherwise (so context is never lost).
    ``links`` point to other traces this work continues (a receipt batch
    mixes campaigns). An exception escaping the block marks the span failed.
    """
    inherited = carrier_of(parent)
    if not _recording:
        # Nothing would be recorded: a no-op span would hand on the parent's context.
        yield inherited
        return
    from opentelemetry import trace  # noqa: PLC0415 - optional dependency
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
        TraceContextTextMapPropagator,
    )

    propagator = TraceContextTextMapPropagator()
    span_links = []
    for carrier in links:
        linked = trace.get_current_span(propagator.extract(carrier_of(carrier))).get_span_context()
        if linked.is_valid:
            span_links.append(trace.Link(linked))
    tracer = trace.get_tracer("brandcast")
    with tracer.start_as_current_span(
        name,
        context=propagator.extract(inherited),
        attributes=dict(attributes or {}),
        links=span_links,
    ):
        downstream: dict[str, str] = {}
        propagator.inject(downstream)
        yield downstream or inherited


def annotate(key: str, value: AttributeValue) -> None:
    """Set an attribute on the current span (learnt during the block, e.g. the provider)."""
    if _recording:
        from opentelemetry import trace  # noqa: PLC0415 - optional dependency

        trace.get_current_span().set_attribute(key, value)


__all__ = ["TRACE_KEYS", "annotate", "carrier_of", "configure_tracing", "recording", "span"]
