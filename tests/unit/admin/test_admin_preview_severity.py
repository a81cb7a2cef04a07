"""Render warnings of severity ERROR reach the compose page marked as errors."""

from brandcast.admin.presenters import preview_payload
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2


def test_a_dropped_body_is_shown_as_an_error() -> None:
    response = campaign_service_pb2.PreviewCampaignResponse()
    variant = response.variants.add(channel=campaign_pb2.CHANNEL_SMS, recipient_id="r1")
    variant.sms.text = "Acme: Sale... https://acme.example/x Reply STOP to opt out"
    variant.warnings.add(
        code="sms.body_dropped",
        message="nothing of the body is left",
        field="channels.sms.template",
        severity=variant_pb2.RenderWarning.SEVERITY_ERROR,
    )
    variant.warnings.add(code="sms.truncated", message="shortened", field="f")
    payload = preview_payload(response, campaign_pb2.CampaignSpec())
    sms = payload["sms"]
    assert isinstance(sms, list)
    assert [(w["code"], w["severity"]) for w in sms[0]["warnings"]] == [
        ("sms.body_dropped", "error"),
        ("sms.truncated", "warning"),
    ]
