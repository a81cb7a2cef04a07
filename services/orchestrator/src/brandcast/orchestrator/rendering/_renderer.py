"""CampaignRenderer: validates a campaign once and renders variants per recipient or account."""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import urlsplit

from brandcast.orchestrator.rendering._errors import FieldViolation, Rendered, RenderError
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2


class CampaignRenderer:
    def __init__(self, spec: campaign_pb2.CampaignSpec, *, campaign_id: str = "") -> None:
        self._spec = spec
        self._campaign_id = campaign_id
        violations: list[FieldViolation] = []
        core = spec.core_message
        if core.cta_url:
            parts = urlsplit(core.cta_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                violations.append(
                    FieldViolation("core_message.cta_url", "must be an absolute http(s) URL")
                )
        if not (core.headline or core.body):
            violations.append(FieldViolation("core_message.body", "headline or body is required"))
        if violations:
            raise RenderError(violations)

    def email(
        self, recipient: campaign_pb2.Recipient, *, unsubscribe_url: str = ""
    ) -> Rendered[variant_pb2.EmailVariant]:
        core = self._spec.core_message
        kit = self._spec.brand_kit
        settings = self._spec.channels.email
        unsubscribe = unsubscribe_url or settings.unsubscribe_url
        body = f"<h1>{html.escape(core.headline)}</h1><p>{html.escape(core.body)}</p>"
        if core.cta_url:
            body += f'<a href="{html.escape(core.cta_url)}">{html.escape(core.cta_text)}</a>'
        variant = variant_pb2.EmailVariant(
            subject=settings.subject or core.headline,
            preheader=settings.preheader or core.body[:100],
            html=f"<!DOCTYPE html><html><body>{body}</body></html>",
            text="\n\n".join(p for p in (core.headline, core.body, core.cta_url) if p),
            from_name=kit.email_sender.name or kit.name,
            from_address=kit.email_sender.address,
            reply_to=kit.email_sender.reply_to,
            list_unsubscribe_url=unsubscribe,
            list_unsubscribe_mailto=settings.unsubscribe_mailto,
            to_name=recipient.name,
        )
        return Rendered(variant, [])

    def sms(self, recipient: campaign_pb2.Recipient) -> Rendered[variant_pb2.SmsVariant]:
        core = self._spec.core_message
        text = " ".join(p for p in (core.headline, core.cta_url, "Reply STOP to opt out") if p)
        variant = variant_pb2.SmsVariant(
            text=text,
            encoding=variant_pb2.SMS_ENCODING_GSM7,
            segments=1,
            sender=self._spec.brand_kit.sms_sender,
        )
        return Rendered(variant, [])

    def social(self, account: campaign_pb2.SocialAccount) -> Rendered[variant_pb2.SocialVariant]:
        core = self._spec.core_message
        text = "\n\n".join(p for p in (core.headline, core.cta_url) if p)
        variant = variant_pb2.SocialVariant(
            network=account.network,
            account_id=account.id,
            text=text,
            length=len(text),
            limit=280,
        )
        return Rendered(variant, [])

    def social_accounts(self) -> list[campaign_pb2.SocialAccount]:
        wanted = set(self._spec.channels.social.account_ids)
        return [a for a in self._spec.brand_kit.social_accounts if not wanted or a.id in wanted]

    def preview(
        self, recipients: Sequence[campaign_pb2.Recipient]
    ) -> list[campaign_service_pb2.PreviewVariant]:
        channels = self._spec.channels
        out: list[campaign_service_pb2.PreviewVariant] = []
        for recipient in recipients:
            if channels.email.enabled:
                email = self.email(recipient)
                out.append(
                    campaign_service_pb2.PreviewVariant(
                        channel=campaign_pb2.CHANNEL_EMAIL,
                        recipient_id=recipient.id,
                        email=email.variant,
                        warnings=email.warnings,
                    )
                )
            if channels.sms.enabled:
                sms = self.sms(recipient)
                out.append(
                    campaign_service_pb2.PreviewVariant(
                        channel=campaign_pb2.CHANNEL_SMS,
                        recipient_id=recipient.id,
                        sms=sms.variant,
                        warnings=sms.warnings,
                    )
                )
        if channels.social.enabled:
            for account in self.social_accounts():
                post = self.social(account)
                out.append(
                    campaign_service_pb2.PreviewVariant(
                        channel=campaign_pb2.CHANNEL_SOCIAL,
                        recipient_id=account.id,
                        social=post.variant,
                        warnings=post.warnings,
                    )
                )
        return out
