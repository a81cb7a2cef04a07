"""Scenarios 14 and 15 (gRPC part): bad input gets the right status, callers
without a valid token get UNAUTHENTICATED, and the server stays up throughout."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from brandcast.v1 import campaign_pb2, campaign_service_pb2
from tests.faults.rig import InProcessApi, in_process_api, sms_spec

TOKEN = "security-suite-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
MAX_MESSAGE = 256 * 1024
INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
SUBMIT = "/brandcast.v1.CampaignService/SubmitCampaign"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(
        f"sqlite:///{tmp_path / 'api.db'}", api_tokens=TOKEN, max_message_bytes=MAX_MESSAGE
    ) as served:
        yield served


def submit_raw(
    api: InProcessApi, body: bytes, metadata: tuple[tuple[str, str], ...] = AUTH
) -> grpc.StatusCode:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = api.channel.unary_unary(SUBMIT)
    try:
        call(body, metadata=metadata, timeout=20)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def request(spec: campaign_pb2.CampaignSpec, key: str = "") -> bytes:
    return campaign_service_pb2.SubmitCampaignRequest(
        spec=spec, idempotency_key=key or uuid.uuid4().hex
    ).SerializeToString()


def test_bad_requests_get_the_right_status(api: InProcessApi) -> None:
    empty = sms_spec(1)
    del empty.audience[:]
    huge_body = sms_spec(1)
    huge_body.core_message.body = "x" * 100_000
    no_channel = sms_spec(1)
    no_channel.channels.sms.enabled = False
    bad_enum = sms_spec(1)
    bad_enum.brand_kit.social_accounts.add(id="a", network=99, handle="@a")
    bad_enum.channels.social.enabled = True
    oversized = sms_spec(1)
    oversized.core_message.body = "x" * (MAX_MESSAGE + 1)

    cases: list[tuple[str, bytes, grpc.StatusCode, tuple[tuple[str, str], ...]]] = [
        ("oversized request", request(oversized), grpc.StatusCode.RESOURCE_EXHAUSTED, AUTH),
        ("unknown enum value", request(bad_enum), INVALID, AUTH),
        ("empty campaign", request(empty), INVALID, AUTH),
        ("no channel enabled", request(no_channel), INVALID, AUTH),
        ("100k-character body", request(huge_body), INVALID, AUTH),
        ("no token", request(sms_spec(1)), UNAUTH, ()),
        ("wrong token", request(sms_spec(1)), UNAUTH, (("authorization", "Bearer nope"),)),
        ("not a bearer", request(sms_spec(1)), UNAUTH, (("authorization", f"Basic {TOKEN}"),)),
        ("token in another header", request(sms_spec(1)), UNAUTH, (("x-api-key", TOKEN),)),
    ]
    wrong = []
    for name, body, expected, metadata in cases:
        got = submit_raw(api, body, metadata)
        if got != expected:
            wrong.append((name, expected, got))
    # The server is still up and a valid, authenticated request goes through.
    assert submit_raw(api, request(sms_spec(2), key="valid")) == grpc.StatusCode.OK
    print(
        f"\nscenario=14,15 cases={len(cases)} right_status={len(cases) - len(wrong)} server_up=True"
    )
    assert wrong == [], "\n".join(map(str, wrong))
    assert api.campaign_count() == 1


def test_every_method_refuses_calls_without_a_valid_token(api: InProcessApi) -> None:
    calls: dict[str, Callable[[tuple[tuple[str, str], ...]], object]] = {
        "GetCampaign": lambda md: api.campaigns.GetCampaign(
            campaign_service_pb2.GetCampaignRequest(campaign_id="x"), metadata=md, timeout=10
        ),
        "ListCampaigns": lambda md: api.campaigns.ListCampaigns(
            campaign_service_pb2.ListCampaignsRequest(), metadata=md, timeout=10
        ),
        "CancelCampaign": lambda md: api.campaigns.CancelCampaign(
            campaign_service_pb2.CancelCampaignRequest(campaign_id="x"), metadata=md, timeout=10
        ),
        "ListSuppressions": lambda md: api.suppressions.ListSuppressions(
            campaign_service_pb2.ListSuppressionsRequest(), metadata=md, timeout=10
        ),
        "RemoveSuppression": lambda md: api.suppressions.RemoveSuppression(
            campaign_service_pb2.RemoveSuppressionRequest(address="a@example.com"),
            metadata=md,
            timeout=10,
        ),
        "WatchCampaign": lambda md: list(
            api.campaigns.WatchCampaign(
                campaign_service_pb2.WatchCampaignRequest(campaign_id="x"), metadata=md, timeout=10
            )
        ),
    }
    refused = 0
    for name, call in calls.items():
        for metadata in [(), (("authorization", "Bearer wrong"),)]:
            with pytest.raises(grpc.RpcError) as info:
                call(metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            refused += 1
    print(f"\nscenario=15 grpc_calls_without_valid_token={refused} refused={refused}")


def test_undecodable_requests_are_invalid_argument(api: InProcessApi) -> None:
    # Field 1 (spec) holding a string field 1 (name) with bytes that are not UTF-8.
    invalid_utf8 = b"\x0a\x04\x0a\x02\xc3\x28"
    codes = [submit_raw(api, body) for body in (invalid_utf8, b"\xff\xff\xff\xff")]
    # The server survives either way.
    assert submit_raw(api, request(sms_spec(1))) == grpc.StatusCode.OK
    print(f"\nscenario=14 undecodable_requests={[c.name for c in codes]}")
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 2
