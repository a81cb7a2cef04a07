"""No request makes the gRPC API answer INTERNAL (issue #19 item 7).

Hypothesis builds random messages of every request type from their
descriptors (hostile strings, out-of-range numbers and enum values, forged
page tokens and cursors, ids of a real campaign) and sends them over a real
channel to every method of every service. An INTERNAL or UNKNOWN answer means
an input reached code that did not expect it: a bug, whatever the input.

The normal suite runs ``FUZZ_EXAMPLES`` (default 25) examples per method; a
larger run: ``BRANDCAST_FUZZ_EXAMPLES=2000 uv run pytest tests/security/test_security_grpc_fuzz.py``
(see tests/security/README.md for the figures).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.v1 import campaign_service_pb2
from tests.faults.rig import InProcessApi, in_process_api, sms_spec

TOKEN = "fuzz-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
FUZZ_EXAMPLES = int(os.environ.get("BRANDCAST_FUZZ_EXAMPLES", "25"))
BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}

METHODS: list[MethodDescriptor] = [
    method
    for service in campaign_service_pb2.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


def _token(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=5), inner),
    max_leaves=6,
)
#: Strings that once reached code unprepared for them, and their relatives.
SHARP_STRINGS = [
    "",
    "²",
    "99999999999999999999999.x",
    "-1.x",
    "1.",
    "a" * 300,
    "Europe/Paris\x00",
    "../../etc/passwd",
    "http://[::1",
    "https://[",
    "mailto:a@b\r\nBcc: c@d",
    "\x00",
    "%s%n{0}",
    "{{ 7*7 }}",
    "=",
    "====",
    "!!!",
]
# Lone surrogates cannot be sent at all (protobuf refuses them client-side).
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
hostile_strings = st.one_of(
    st.sampled_from(SHARP_STRINGS),
    any_text,
    st.builds(_token, st.lists(json_values, max_size=3)),
    st.builds(lambda n: "x" * n, st.integers(min_value=0, max_value=3000)),
)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(field: FieldDescriptor, campaign_ids: list[str]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if field.name.endswith("campaign_id") and campaign_ids:
            return st.one_of(st.sampled_from(campaign_ids), hostile_strings)
        return hostile_strings
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=40)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    low, high = _INT_RANGES[kind]
    edges = st.sampled_from([low, high, 0, -1 if low < 0 else 1, 2 * 10**9, 999_999_999])
    small = st.integers(min_value=max(low, -5), max_value=min(high, 600))
    return st.one_of(edges.filter(lambda v: low <= v <= high), small)


def _type_of(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None
    return field.message_type


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and _type_of(field).GetOptions().map_entry


def messages(
    descriptor: Descriptor, campaign_ids: list[str], depth: int = 0
) -> st.SearchStrategy[Message]:
    """Random instances of ``descriptor``: each field set or not, nested to depth 4."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 4:
        return st.just(cls())

    parts: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_map(field):
                key = _scalar(_type_of(field).fields_by_name["key"], campaign_ids)
                value_field = _type_of(field).fields_by_name["value"]
                value: st.SearchStrategy[Any] = (
                    messages(_type_of(value_field), campaign_ids, depth + 1)
                    if value_field.type == FieldDescriptor.TYPE_MESSAGE
                    else _scalar(value_field, campaign_ids)
                )
                item: st.SearchStrategy[Any] = st.dictionaries(key, value, max_size=2)
            else:
                one = messages(_type_of(field), campaign_ids, depth + 1)
                item = st.lists(one, max_size=2) if field.is_repeated else one
        else:
            one = _scalar(field, campaign_ids)
            item = st.lists(one, max_size=2) if field.is_repeated else one
        parts[field.name] = st.one_of(st.none(), item)

    def build(values: dict[str, Any]) -> Message:
        out = cls()
        for name, value in values.items():
            if value is None:
                continue
            field = descriptor.fields_by_name[name]
            target = getattr(out, name)
            if _is_map(field):
                for key, entry in value.items():
                    if isinstance(entry, Message):
                        target[key].CopyFrom(entry)
                    else:
                        target[key] = entry
            elif field.is_repeated:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    for entry in value:
                        target.add().CopyFrom(entry)
                else:
                    target.extend(value)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                target.CopyFrom(value)
            else:
                setattr(out, name, value)
        return out

    return st.fixed_dictionaries(parts).map(build)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessApi]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "api.db"
    with in_process_api(
        f"sqlite:///{path}", api_tokens=TOKEN, max_watches_per_client=1000
    ) as served:
        yield served


@pytest.fixture(scope="module")
def campaign_ids(api: InProcessApi) -> list[str]:
    spec = sms_spec(3)
    spec.schedule.send_at.GetCurrentTime()
    spec.schedule.send_at.seconds += 3600
    request = campaign_service_pb2.SubmitCampaignRequest(spec=spec)
    return [api.campaigns.SubmitCampaign(request, metadata=AUTH, timeout=10).campaign.id]


def call(api: InProcessApi, method: MethodDescriptor, requests: list[Message]) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    response_class = message_factory.GetMessageClass(method.output_type)
    options: dict[str, Any] = {
        "request_serializer": lambda m: m.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    channel = api.channel
    try:
        if method.client_streaming:
            channel.stream_unary(path, **options)(iter(requests), metadata=AUTH, timeout=10)
        elif method.server_streaming:
            stream = channel.unary_stream(path, **options)(requests[0], metadata=AUTH, timeout=2)
            for n, _ in enumerate(stream):
                if n >= 3:
                    stream.cancel()
                    break
        else:
            channel.unary_unary(path, **options)(requests[0], metadata=AUTH, timeout=10)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        if code == grpc.StatusCode.CANCELLED:
            return grpc.StatusCode.OK  # our own cancel of a long stream
        if code in BROKEN:
            raise AssertionError(f"{method.name} answered {code.name}: {error.details()}") from None
        return code
    return grpc.StatusCode.OK


FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_no_request_answers_internal(
    api: InProcessApi, campaign_ids: list[str], method: MethodDescriptor
) -> None:
    request_type = descriptor_pool.Default().FindMessageTypeByName(method.input_type.full_name)
    one = messages(request_type, campaign_ids)
    many = st.lists(one, min_size=1, max_size=3) if method.client_streaming else st.tuples(one)

    @FUZZ
    @given(requests=many)
    def fuzz(requests: list[Message]) -> None:
        call(api, method, list(requests))

    fuzz()
    # The server is still up and answers a plain call.
    assert api.campaigns.ListCampaigns(
        campaign_service_pb2.ListCampaignsRequest(), metadata=AUTH, timeout=10
    ).campaigns
