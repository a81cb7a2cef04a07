"""How a dispatch batch is written into a broker message, and read back.

A batch travels as its protobuf bytes, the whole body of a Celery protocol v2
task message: content type ``application/x-protobuf``, AMQP ``type``
``brandcast.v1.DispatchBatch``, and Celery's task name and id in the headers.
Celery knows the body through a kombu serializer registered for that content
type (:func:`register_task_serializer`): it reads a body as the task's one
argument, the batch's bytes, and writes a task whose one argument is a batch
(a retry) as that batch's bytes.

Releases before this one sent the bytes base64-encoded inside a JSON task body
(``[["<base64>"], {}, {...}]``, ``application/json``). Workers still read that
(:func:`batch_from_task_arg` takes either argument) while ``BUS_ACCEPT_JSON``
is on, so a rolling upgrade loses nothing already queued.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from kombu import serialization

from brandcast.shared import email_layouts, topology
from brandcast.v1 import bus_pb2

#: kombu's name for the serializer (Celery's ``task_serializer``).
TASK_SERIALIZER: Final = "brandcast-protobuf"
#: The content type of the format before this one, read only for messages still queued.
LEGACY_JSON_CONTENT_TYPE: Final = "application/json"

# Celery's protocol v2 body is (args, kwargs, embed); a batch task has no workflow.
_NO_WORKFLOW: Final[Mapping[str, None]] = {
    "callbacks": None,
    "errbacks": None,
    "chain": None,
    "chord": None,
}


def register_task_serializer() -> None:
    """Teach kombu (and so Celery) the protobuf task body; idempotent.

    Registered for the content type, so any kombu consumer in the process that
    asks for a protobuf message's ``payload`` gets the Celery tuple. Receipt
    consumers read ``message.body`` and are not affected.
    """
    serialization.register(
        TASK_SERIALIZER,
        encode_task_body,
        decode_task_body,
        content_type=topology.PROTOBUF_CONTENT_TYPE,
        content_encoding="binary",
    )


def encode_task_body(body: Sequence[Any]) -> bytes:
    """A Celery task body whose one argument is a batch (or its bytes), as bytes.

    Anything else (keyword arguments, callbacks, several arguments) cannot be
    written in this format and raises ``ValueError`` (kombu's ``EncodeError``).
    """
    args, kwargs, embed = body
    if len(args) != 1 or kwargs or any(embed.values()):
        raise ValueError("a protobuf task body carries exactly one dispatch batch")
    (batch,) = args
    if isinstance(batch, bus_pb2.DispatchBatch):
        return batch.SerializeToString()
    if isinstance(batch, bytes):
        return batch
    raise ValueError(f"a protobuf task body carries a DispatchBatch, not {type(batch).__name__}")


def decode_task_body(data: bytes) -> tuple[list[bytes], dict[str, Any], dict[str, Any]]:
    """The Celery task body of a protobuf message: the bytes as the one argument.

    Never raises: Celery acknowledges (drops) a message whose body fails to
    decode, whereas a batch that fails to parse in the task is rejected to the
    dead-letter queue, where it can be looked at.
    """
    return [bytes(data)], {}, dict(_NO_WORKFLOW)


def batch_from_task_arg(payload: bytes | str) -> bus_pb2.DispatchBatch:
    """The batch a task received: protobuf bytes, or the legacy base64 text.

    Raises ``ValueError`` on anything that is not a dispatch batch.
    """
    try:
        raw = (
            base64.b64decode(payload.encode("ascii"), validate=True)
            if isinstance(payload, str)
            else payload
        )
        return bus_pb2.DispatchBatch.FromString(raw)
    except Exception as exc:  # binascii.Error, DecodeError, UnicodeEncodeError, TypeError
        raise ValueError(f"not a dispatch batch: {exc}") from exc


def batch_from_message(body: bytes | str, content_type: str | None) -> bus_pb2.DispatchBatch:
    """The batch in a message read from a dispatch or dead-letter queue, in either
    format, its e-mails whole (``email_layouts.expand``).

    For tools and tests that read those queues without Celery; ``ValueError``
    when it is not a dispatch batch.
    """
    if content_type == topology.PROTOBUF_CONTENT_TYPE:
        batch = batch_from_task_arg(body.encode() if isinstance(body, str) else body)
    elif content_type == LEGACY_JSON_CONTENT_TYPE:
        try:
            (payload,) = json.loads(body)[0]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ValueError(f"not a task message: {exc}") from exc
        batch = batch_from_task_arg(payload)
    else:
        raise ValueError(f"not a dispatch batch: content type {content_type!r}")
    email_layouts.expand(batch)
    return batch
