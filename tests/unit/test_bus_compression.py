"""zstd bodies as kombu compresses and decompresses them (``BUS_COMPRESSION``)."""

from __future__ import annotations

import logging

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st
from kombu import compression

from brandcast.shared import bus_compression
from brandcast.v1 import bus_pb2


def _email_batch(items: int) -> bus_pb2.DispatchBatch:
    html = "<table><tr><td style='color:#123456'>Spring is here, {name}</td></tr></table>" * 40
    batch = bus_pb2.DispatchBatch(batch_id="b1", campaign_id="c1")
    for i in range(items):
        item = batch.items.add(delivery_id=f"d-{i}", address=f"person{i}@example.com")
        item.email.subject = "Spring launch"
        item.email.html = html.replace("{name}", f"Person {i}")
    return batch


def test_kombu_reads_back_what_it_compressed_through_the_registered_codec() -> None:
    body = _email_batch(50).SerializeToString()
    header = bus_compression.header_value("zstd")

    packed, content_type = compression.compress(body, header)
    unpacked = compression.decompress(packed, content_type)

    assert content_type == bus_compression.ZSTD_CONTENT_TYPE == header
    assert unpacked == body
    assert len(packed) * 20 < len(body), "a batch of one template's e-mails shrinks"
    assert zstandard.frame_content_size(packed) == len(body), "the frame says its size"


def test_none_sends_bodies_as_they_are() -> None:
    assert bus_compression.header_value("none") is None


@given(st.binary(max_size=4096))
def test_any_body_round_trips(body: bytes) -> None:
    assert bus_compression.decompress(bus_compression.compress(body)) == body


def test_a_frame_without_its_size_is_read_too() -> None:
    body = _email_batch(3).SerializeToString()
    # As a streaming writer (another zstd library, another producer) writes it.
    packed = zstandard.ZstdCompressor(write_content_size=False).compress(body)
    assert zstandard.frame_content_size(packed) == -1

    assert bus_compression.decompress(packed) == body


@pytest.mark.parametrize(
    "body",
    [b"\x08\x01 plain protobuf, not zstd", b"", b"\x28\xb5\x2f\xfd truncated frame"],
    ids=["not-zstd", "empty", "truncated"],
)
def test_a_body_that_does_not_decompress_is_handed_over_as_it_came(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """kombu would otherwise record an error, and Celery acknowledge (drop) the
    message; as it came, the task fails to parse it and parks it."""
    with caplog.at_level(logging.ERROR, logger="brandcast.shared.bus_compression"):
        assert bus_compression.decompress(body) == body
    assert "does not decompress" in caplog.text


def test_registering_twice_keeps_one_codec() -> None:
    bus_compression.register()
    bus_compression.register()

    assert compression.get_decoder("zstd") is bus_compression.decompress
    assert compression.get_encoder("zstd") == (
        bus_compression.compress,
        bus_compression.ZSTD_CONTENT_TYPE,
    )
