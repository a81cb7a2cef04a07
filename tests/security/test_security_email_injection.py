"""Scenario 12: CR/LF in subjects, names and addresses, ``<script>`` in names and
bodies. The orchestrator refuses or neutralises them; what reaches the real SMTP
sink has no extra header and no extra recipient, and its HTML is escaped."""

from __future__ import annotations

import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path

import grpc
import pytest

from brandcast.email.bootstrap import bootstrap
from brandcast.email.sandbox.smtp_sink import read_index, start_sink
from brandcast.email.settings import EmailSettings
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2
from tests.faults.rig import in_process_api, sms_spec

SCRIPT = "<script>alert(1)</script>"
HEADER = "\r\nBcc: victim@evil.example"


def email_spec(name: str, subject: str, body: str) -> campaign_pb2.CampaignSpec:
    spec = sms_spec(1)
    spec.channels.sms.enabled = False
    spec.channels.email.enabled = True
    spec.brand_kit.email_sender.name = "Acme"
    spec.brand_kit.email_sender.address = "news@acme.example.com"
    spec.brand_kit.postal_address = "1 Market St, San Francisco"
    spec.channels.email.subject = subject
    spec.core_message.body = body
    spec.audience[0].name = name
    spec.audience[0].email = "ada@example.com"
    return spec


def test_crlf_in_addresses_and_sender_is_refused_at_the_api(tmp_path: Path) -> None:
    refused = 0
    with in_process_api(f"sqlite:///{tmp_path / 'api.db'}") as api:
        for field in ("recipient", "sender", "reply_to"):
            spec = email_spec("Ada", "Hello", "Body")
            if field == "recipient":
                spec.audience[0].email = "ada@example.com" + HEADER
            elif field == "sender":
                spec.brand_kit.email_sender.address = "news@acme.example.com\r\n"
            else:
                spec.brand_kit.email_sender.reply_to = "a@b.example" + HEADER
            with pytest.raises(grpc.RpcError) as info:
                api.campaigns.SubmitCampaign(
                    campaign_service_pb2.SubmitCampaignRequest(
                        spec=spec, idempotency_key=uuid.uuid4().hex
                    ),
                    timeout=20,
                )
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            refused += 1
    print(f"\nscenario=12 crlf_addresses_refused={refused}/3")


def send_to_sink(tmp_path: Path, spec: campaign_pb2.CampaignSpec) -> bus_pb2.DeliveryReceipt:
    sink, port = start_sink(tmp_path / "mail")
    try:
        variant = CampaignRenderer(spec, campaign_id="c1").email(spec.audience[0]).variant
        batch = bus_pb2.DispatchBatch(
            batch_id="b1", campaign_id="c1", channel=campaign_pb2.CHANNEL_EMAIL
        )
        batch.items.append(
            bus_pb2.DispatchItem(
                delivery_id="d1",
                idempotency_key="k1",
                address="ada@example.com",
                recipient_id="r0",
                email=variant,
            )
        )
        settings = EmailSettings(email_smtp_host="127.0.0.1", email_smtp_port=port)
        [receipt] = process_batch(batch, bootstrap(settings).deliver, RetryPolicy()).receipts
    finally:
        sink.stop()
    return receipt


def test_crlf_in_subject_and_name_never_reaches_the_wire(tmp_path: Path) -> None:
    spec = email_spec(
        name=f"Eve{HEADER}", subject=f"Spring{HEADER}\r\nX-Injected: yes", body="Hello"
    )
    receipt = send_to_sink(tmp_path, spec)
    arrived = read_index(tmp_path / "mail")
    print(
        f"\nscenario=12 crlf_in_headers status="
        f"{campaign_pb2.DeliveryStatus.Name(receipt.status)} code={receipt.error_code} "
        f"messages_at_sink={len(arrived)}"
    )
    # Refused with a reason (reported, not dropped), and nothing went out.
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_FAILED
    assert receipt.error_code == "invalid_message"
    assert arrived == []


def test_script_in_names_and_bodies_is_escaped_at_the_sink(tmp_path: Path) -> None:
    spec = email_spec(
        name=f"Eve {SCRIPT}",
        subject=f"Spring {SCRIPT}",
        body=f"Hello {SCRIPT} <img src=x onerror=alert(1)>",
    )
    receipt = send_to_sink(tmp_path, spec)
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_SENT, receipt
    [entry] = read_index(tmp_path / "mail")
    raw = (tmp_path / "mail" / entry["file"]).read_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    html = message.get_body(("html",))
    assert html is not None
    html_text = html.get_content().lower()
    headers = [name.lower() for name in message]
    print(
        f"\nscenario=12 script status=SENT rcpt_tos={entry['rcpt_tos']} "
        f"script_tags_in_html={html_text.count('<script')} img_tags={html_text.count('<img src=x')}"
    )
    assert entry["rcpt_tos"] == ["ada@example.com"]
    assert "bcc" not in headers
    assert headers.count("subject") == 1
    assert "<script" not in html_text
    assert "<img src=x" not in html_text
    assert "&lt;script&gt;" in html_text
