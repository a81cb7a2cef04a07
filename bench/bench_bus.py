"""Dispatch batches on the bus: CPU to encode and decode one, and its size, old vs new.

    uv run python bench/bench_bus.py [--items 500] [--rounds 7]

Batches of really rendered e-mails and SMS (bench_render's campaign). "Old" is the
format before protobuf bodies: the batch's bytes base64-encoded in a Celery JSON
body. "New" is the protobuf bytes themselves (``brandcast.shared.bus_codec``),
and the same bytes zstd-compressed as ``BUS_COMPRESSION=zstd`` sends them (and
at zstd's default level, for comparison). "Shared layouts" is the batch as
``BUS_SHARED_EMAIL_LAYOUTS=true`` builds it: each e-mail layout once, each e-mail
its slots' values (``brandcast.shared.email_layouts``).

- build: what the dispatcher does per batch before publishing it: render each
  recipient's variant and put it in the batch;
- encode: what the publisher does to a batch to get the message body;
- decode: what the worker does with the body: kombu decompresses it once, then
  reads it through its registry as Celery calls it, twice (Celery decodes a task
  body once to build the request and again where the task runs), then the
  task's parse of the batch, and each e-mail's bodies read as the email adapter
  reads them (laid-out ones put together from their layout).

Timed as CPU time of this process (``time.process_time``), median of the rounds.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import zstandard
from bench_render import _recipients, _spec
from kombu.serialization import loads

from brandcast.orchestrator.laid_out_emails import BatchLayouts
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.shared import bus_codec, bus_compression, email_layouts, topology
from brandcast.v1 import bus_pb2, campaign_pb2

_ACCEPT = {topology.PROTOBUF_CONTENT_TYPE, bus_codec.LEGACY_JSON_CONTENT_TYPE}
_NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    content_encoding: str
    encode: Callable[[bus_pb2.DispatchBatch], bytes]
    #: kombu decompresses the body once, when the message arrives.
    compressed: bool = False
    #: E-mails as layouts and slots (BUS_SHARED_EMAIL_LAYOUTS).
    laid_out: bool = False


def _old_body(batch: bus_pb2.DispatchBatch) -> bytes:
    # As BusPublisher wrote it before, and kombu then encoded the text as UTF-8.
    payload = base64.b64encode(batch.SerializeToString()).decode("ascii")
    return json.dumps([[payload], {}, _NO_WORKFLOW]).encode("utf-8")


OLD = Format("old: base64 in JSON", "application/json", "utf-8", _old_body)
NEW = Format(
    "new: protobuf", topology.PROTOBUF_CONTENT_TYPE, "binary", lambda b: b.SerializeToString()
)


def _zstd(name: str, compress: Callable[[bytes], bytes], *, laid_out: bool = False) -> Format:
    return Format(
        name,
        topology.PROTOBUF_CONTENT_TYPE,
        "binary",
        lambda b: compress(b.SerializeToString()),
        compressed=True,
        laid_out=laid_out,
    )


#: ``BUS_COMPRESSION=zstd`` (``brandcast.shared.bus_compression``, level 1).
ZSTD = _zstd("protobuf, zstd (level 1)", bus_compression.compress)
#: zstd's default level, for comparison: why the bus uses level 1.
ZSTD_DEFAULT = _zstd("protobuf, zstd (level 3)", zstandard.ZstdCompressor(level=3).compress)
#: As docker-compose.yml deploys it: compressed, and e-mail layouts once per batch.
LAID_OUT = _zstd(
    "protobuf, zstd (level 1), shared layouts", bus_compression.compress, laid_out=True
)


@dataclass(frozen=True)
class Measured:
    channel: str
    items: int
    format: Format
    body_bytes: int
    build_us: float
    encode_us: float
    decode_us: float


def batch(channel: str, items: int, *, laid_out: bool = False) -> bus_pb2.DispatchBatch:
    """A batch as the dispatcher builds it: every item rendered for its recipient."""
    renderer = CampaignRenderer(_spec(personal_templates=True), campaign_id="bench")
    return _build(renderer, _recipients(items), channel, laid_out=laid_out)


def _build(
    renderer: CampaignRenderer,
    recipients: list[campaign_pb2.Recipient],
    channel: str,
    *,
    laid_out: bool,
) -> bus_pb2.DispatchBatch:
    built = bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()),
        campaign_id=str(uuid.uuid4()),
        channel=(campaign_pb2.CHANNEL_EMAIL if channel == "email" else campaign_pb2.CHANNEL_SMS),
        campaign_name="Spring Sale 2026",
        brand_name="Acme Coffee",
        trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    built.created_at.GetCurrentTime()
    layouts = BatchLayouts(built)
    for index, recipient in enumerate(recipients):
        delivery_id = str(uuid.UUID(int=index + 1))  # the same in every build
        item = built.items.add(
            delivery_id=delivery_id,
            idempotency_key=delivery_id,
            recipient_id=recipient.id,
        )
        if channel == "email":
            item.address = f"person{index}@example.com"
            unsubscribe = f"https://acme.example/u/{delivery_id}"
            if laid_out:
                # As Dispatcher._fill_item does with BUS_SHARED_EMAIL_LAYOUTS.
                email = renderer.email_laid_out(recipient, unsubscribe_url=unsubscribe)
                layouts.add(item.laid_out_email, email)
            else:
                item.email.CopyFrom(renderer.email(recipient, unsubscribe_url=unsubscribe).variant)
        else:
            item.address = f"+1415555{index:04d}"
            item.sms.CopyFrom(renderer.sms(recipient).variant)
    return built


def _decode(body: bytes, fmt: Format) -> bus_pb2.DispatchBatch:
    if fmt.compressed:
        body = bus_compression.decompress(body)
    for _ in range(2):
        args, _kwargs, _embed = loads(body, fmt.content_type, fmt.content_encoding, accept=_ACCEPT)
    batch = bus_codec.batch_from_task_arg(args[0])
    for item in batch.items:
        if item.WhichOneof("variant") == "laid_out_email":
            email_layouts.bodies(batch, item.laid_out_email)
        elif item.WhichOneof("variant") == "email":
            item.email.html, item.email.text  # noqa: B018 - read as the adapter reads them
    return batch


def _cpu_us(work: Callable[[], object], repeat: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            work()
        samples.append((time.process_time() - started) / repeat * 1e6)
    return statistics.median(samples)


def measure(items: int = 500, rounds: int = 7, repeat: int = 50) -> list[Measured]:
    bus_codec.register_task_serializer()
    results = []
    renderer = CampaignRenderer(_spec(personal_templates=True), campaign_id="bench")
    recipients = _recipients(items)
    for channel in ("email", "sms"):
        whole = _build(renderer, recipients, channel, laid_out=False)
        formats = (OLD, NEW, ZSTD, ZSTD_DEFAULT) + ((LAID_OUT,) if channel == "email" else ())
        for fmt in formats:
            built = _build(renderer, recipients, channel, laid_out=fmt.laid_out)
            body = fmt.encode(built)
            decoded = _decode(body, fmt)
            email_layouts.expand(decoded)
            # A laid-out batch reads back as the whole one (apart from its fresh time).
            decoded.created_at.CopyFrom(whole.created_at)
            assert decoded.items == whole.items, f"{fmt.name} does not round-trip"

            def build(laid_out: bool = fmt.laid_out) -> object:
                return _build(renderer, recipients, channel, laid_out=laid_out)  # noqa: B023

            results.append(
                Measured(
                    channel=channel,
                    items=items,
                    format=fmt,
                    body_bytes=len(body),
                    build_us=_cpu_us(build, max(1, repeat // 5), rounds),
                    encode_us=_cpu_us(lambda: fmt.encode(built), repeat, rounds),  # noqa: B023
                    decode_us=_cpu_us(lambda: _decode(body, fmt), repeat, rounds),  # noqa: B023
                )
            )
    return results


def table(results: list[Measured]) -> list[str]:
    lines = [
        "| batch | format | body on the wire | build CPU | encode CPU | decode CPU "
        "| per delivery, encode + decode | per delivery, all three |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        both = result.encode_us + result.decode_us
        lines.append(
            f"| {result.items} {result.channel} | {result.format.name} "
            f"| {result.body_bytes:,} B | {result.build_us:,.0f} µs "
            f"| {result.encode_us:,.0f} µs "
            f"| {result.decode_us:,.0f} µs | {both / result.items:.2f} µs "
            f"| {(both + result.build_us) / result.items:.2f} µs |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print("\n".join(table(measure(args.items, args.rounds))))


if __name__ == "__main__":
    main()
