"""The inputs an outside prober found answering INTERNAL with a traceback
(issue #19 item 7) and those of items 3 and 8: each is INVALID_ARGUMENT naming
the field, or is cleaned, and the server stays up. The whole class is fuzzed
in ``test_security_grpc_fuzz.py``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status
from sqlalchemy import select

from brandcast.orchestrator.store.schema import recipients
from brandcast.orchestrator.text_limits import DEFAULT_TEXT_BYTES, MAX_SPEC_BYTES
from brandcast.v1 import campaign_pb2, campaign_service_pb2
from tests.faults.rig import InProcessApi, in_process_api, sms_spec

API = campaign_service_pb2
TOKEN = "invalid-inputs-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    with in_process_api(f"sqlite:///{tmp_path / 'api.db'}", api_tokens=TOKEN) as served:
        yield served


def email_spec() -> campaign_pb2.CampaignSpec:
    spec = sms_spec(2)
    spec.channels.email.enabled = True
    spec.brand_kit.email_sender.name = "Acme"
    spec.brand_kit.email_sender.address = "news@acme.example.com"
    spec.brand_kit.postal_address = "1 Market St, San Francisco"
    for i, recipient in enumerate(spec.audience):
        recipient.email = f"r{i}@example.com"
    return spec


def violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None
    out: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        out.update({v.field: v.description for v in bad_request.field_violations})
    return out


def refused(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return violations(caught.value)


def submit(api: InProcessApi, spec: campaign_pb2.CampaignSpec) -> object:
    return api.campaigns.SubmitCampaign(
        API.SubmitCampaignRequest(spec=spec), metadata=AUTH, timeout=10
    )


def forged(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


SPEC_CASES: list[tuple[str, Callable[[campaign_pb2.CampaignSpec], None], str]] = [
    (
        "300-character brand time zone",
        lambda s: setattr(s.brand_kit, "default_timezone", "A" * 300),
        "spec.brand_kit.default_timezone",
    ),
    (
        "300-character recipient time zone",
        lambda s: setattr(s.audience[0], "timezone", "Europe/" + "x" * 293),
        "spec.audience[0].timezone",
    ),
    (
        "send_at.nanos -1",
        lambda s: setattr(s.schedule.send_at, "nanos", -1),
        "spec.schedule.send_at.nanos",
    ),
    (
        "send_at.nanos 2e9",
        lambda s: setattr(s.schedule.send_at, "nanos", 2 * 10**9),
        "spec.schedule.send_at.nanos",
    ),
    (
        "unclosed IPv6 bracket",
        lambda s: setattr(s.core_message, "cta_url", "https://[::1/spring"),
        "spec.core_message.cta_url",
    ),
    (
        "1 MiB headline",
        lambda s: setattr(s.core_message, "headline", "H" * (1024 * 1024)),
        "spec.core_message.headline",
    ),
    (
        "oversized label",
        lambda s: s.labels.__setitem__("team", "x" * (DEFAULT_TEXT_BYTES + 1)),
        "spec.labels['team']",
    ),
    (
        "CR/LF in the sender name",
        lambda s: setattr(s.brand_kit.email_sender, "name", "Acme\r\nBcc: all@example.com"),
        "spec.brand_kit.email_sender.name",
    ),
    (
        "CR/LF in the unsubscribe mailto",
        lambda s: setattr(s.channels.email, "unsubscribe_mailto", "mailto:u@acme.example\nX: y"),
        "spec.channels.email.unsubscribe_mailto",
    ),
    (
        "NUL in the body",
        lambda s: setattr(s.core_message, "body", "a\x00b"),
        "spec.core_message.body",
    ),
    (
        "NUL in the SMS template",
        lambda s: setattr(s.channels.sms, "template", "{{ message.body }}\x00"),
        "spec.channels.sms.template",
    ),
    (
        "300-byte recipient name",
        lambda s: setattr(s.audience[0], "name", "é" * 150),
        "spec.audience[0].name",
    ),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c[1], c[2]) for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES]
)
def test_bad_spec_is_invalid_argument_naming_the_field(
    api: InProcessApi, change: Callable[[campaign_pb2.CampaignSpec], None], field: str
) -> None:
    spec = email_spec()
    change(spec)
    assert field in refused(lambda: submit(api, spec))
    if field.startswith("spec.audience"):
        return  # a preview renders its samples as given: the audience is checked at submit
    preview = API.PreviewCampaignRequest(spec=spec)
    assert field in refused(
        lambda: api.campaigns.PreviewCampaign(preview, metadata=AUTH, timeout=10)
    )


def test_a_spec_over_its_total_size_is_refused(api: InProcessApi) -> None:
    spec = email_spec()
    for n in range(40):
        spec.core_message.translations[f"x-{n}"].body = "b" * 30_000
    assert refused(lambda: submit(api, spec))["spec"].endswith(f"at most {MAX_SPEC_BYTES}")


def test_control_characters_in_recipient_texts_are_cleaned(api: InProcessApi) -> None:
    spec = email_spec()
    spec.audience[0].name = "Ann\r\nBcc: all@example.com\x00"
    spec.audience[0].attributes["tier"] = "gold\x00"
    spec.audience[0].segment = "vip\x00"
    campaign_id = submit(api, spec).campaign.id  # type: ignore[attr-defined]
    query = select(recipients.c.data).where(
        recipients.c.campaign_id == campaign_id,
        recipients.c.recipient_id == spec.audience[0].id,
    )
    with api.orchestrator.store.engine.connect() as conn:
        stored = campaign_pb2.Recipient.FromString(conn.execute(query).scalar_one())
    assert stored.name == "Ann Bcc: all@example.com"
    assert stored.attributes["tier"] == "gold"
    assert stored.segment == "vip"


LIST_CALLS: list[tuple[str, Callable[[InProcessApi, str, str], object]]] = [
    (
        "ListCampaigns",
        lambda api, _, token: api.campaigns.ListCampaigns(
            API.ListCampaignsRequest(page_token=token), metadata=AUTH, timeout=10
        ),
    ),
    (
        "ListDeliveries",
        lambda api, campaign_id, token: api.campaigns.ListDeliveries(
            API.ListDeliveriesRequest(campaign_id=campaign_id, page_token=token),
            metadata=AUTH,
            timeout=10,
        ),
    ),
    (
        "ListSuppressions",
        lambda api, _, token: api.suppressions.ListSuppressions(
            API.ListSuppressionsRequest(page_token=token), metadata=AUTH, timeout=10
        ),
    ),
]
FORGED_TOKENS = [
    "not base64 at all ²",
    forged([]),
    forged([1]),
    forged([1, 2]),
    forged(["a", "b"]),
    forged([[1], {"a": 1}]),
    forged([2**80, "x"]),
    forged([True, "x"]),
    forged([1.5, "x"]),
    forged(None),
    forged([1, "x" * 5000]),
]


@pytest.mark.parametrize("token", FORGED_TOKENS)
@pytest.mark.parametrize("call", [c[1] for c in LIST_CALLS], ids=[c[0] for c in LIST_CALLS])
def test_forged_page_tokens_are_invalid_argument(
    api: InProcessApi, call: Callable[[InProcessApi, str, str], object], token: str
) -> None:
    campaign_id = submit(api, email_spec()).campaign.id  # type: ignore[attr-defined]
    refusal = refused(lambda: call(api, campaign_id, token))
    assert refusal == {"page_token": "not a page token of this API"}


@pytest.mark.parametrize("cursor", ["²", "99999999999999999999999.x", "-1.x", "1." + "x" * 500])
def test_bad_resume_cursors_are_invalid_argument(api: InProcessApi, cursor: str) -> None:
    campaign_id = submit(api, email_spec()).campaign.id  # type: ignore[attr-defined]
    request = API.WatchCampaignRequest(campaign_id=campaign_id, resume_cursor=cursor)
    assert refused(
        lambda: list(api.campaigns.WatchCampaign(request, metadata=AUTH, timeout=10))
    ) == {"resume_cursor": "not a cursor of this API"}
