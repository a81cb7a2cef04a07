"""Dispatch batches as protobuf task bodies, through kombu's registry as Celery uses it."""

from __future__ import annotations

import base64
import json
import pickle

import pytest
from kombu.exceptions import ContentDisallowed, EncodeError
from kombu.serialization import dumps, loads

from brandcast.shared import bus_codec, topology
from brandcast.v1 import bus_pb2, campaign_pb2

ACCEPT = {topology.PROTOBUF_CONTENT_TYPE, bus_codec.LEGACY_JSON_CONTENT_TYPE}
NO_WORKFLOW = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@pytest.fixture(autouse=True)
def _registered() -> None:
    bus_codec.register_task_serializer()


def _batch() -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[bus_pb2.DispatchItem(delivery_id="d1", address="+14155550100")],
    )


def test_a_task_body_is_the_batch_bytes_and_reads_back_as_its_one_argument() -> None:
    batch = _batch()

    content_type, encoding, body = dumps(
        ([batch.SerializeToString()], {}, NO_WORKFLOW), serializer=bus_codec.TASK_SERIALIZER
    )

    assert (content_type, encoding) == (topology.PROTOBUF_CONTENT_TYPE, "binary")
    assert body == batch.SerializeToString()
    args, kwargs, embed = loads(body, content_type, encoding, accept=ACCEPT)
    assert kwargs == {}
    assert not any(embed.values())
    assert bus_codec.batch_from_task_arg(args[0]) == batch


def test_a_batch_object_as_the_argument_is_written_as_its_bytes() -> None:
    _, _, body = dumps(([_batch()], {}, NO_WORKFLOW), serializer=bus_codec.TASK_SERIALIZER)

    assert body == _batch().SerializeToString()


@pytest.mark.parametrize(
    "task_body",
    [
        ([b"a", b"b"], {}, NO_WORKFLOW),
        ([b"a"], {"urgent": True}, NO_WORKFLOW),
        ([b"a"], {}, {**NO_WORKFLOW, "callbacks": [{"task": "x"}]}),
        (["text"], {}, NO_WORKFLOW),
    ],
    ids=["two-args", "kwargs", "callbacks", "text"],
)
def test_what_the_format_cannot_carry_is_refused_not_dropped(task_body: object) -> None:
    with pytest.raises(EncodeError):
        dumps(task_body, serializer=bus_codec.TASK_SERIALIZER)


def test_decoding_a_body_never_fails_so_celery_never_drops_it() -> None:
    # Celery acks a body that fails to decode; a batch that fails to parse in the
    # task is rejected to the dead-letter queue instead.
    args, _, _ = loads(b"\x07 garbage", topology.PROTOBUF_CONTENT_TYPE, "binary", accept=ACCEPT)

    with pytest.raises(ValueError, match="not a dispatch batch"):
        bus_codec.batch_from_task_arg(args[0])


def test_the_legacy_base64_argument_still_reads() -> None:
    legacy = base64.b64encode(_batch().SerializeToString()).decode("ascii")

    assert bus_codec.batch_from_task_arg(legacy) == _batch()
    with pytest.raises(ValueError, match="not a dispatch batch"):
        bus_codec.batch_from_task_arg("%%%not-base64")


def test_a_queued_message_reads_in_either_format() -> None:
    batch = _batch()
    legacy = json.dumps([[base64.b64encode(batch.SerializeToString()).decode()], {}, NO_WORKFLOW])

    assert (
        bus_codec.batch_from_message(batch.SerializeToString(), "application/x-protobuf") == batch
    )
    assert bus_codec.batch_from_message(legacy, "application/json") == batch
    with pytest.raises(ValueError, match="content type"):
        bus_codec.batch_from_message(batch.SerializeToString(), "application/octet-stream")
    with pytest.raises(ValueError, match="not a task message"):
        bus_codec.batch_from_message("{}", "application/json")


def test_workers_accept_list_keeps_pickle_out() -> None:
    with pytest.raises(ContentDisallowed):
        loads(pickle.dumps(([], {}, {})), "application/x-python-serialize", "binary", accept=ACCEPT)
