"""CampaignRenderer: validates a campaign once and renders variants per recipient or account.

Construction does everything that is the same for every recipient: it checks the spec,
compiles the templates, renders each locale's email layout (CSS inlined) and every social
post. Per recipient, only templates that read `recipient` (or the unsubscribe link) run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from email_validator import EmailNotValidError, validate_email

from brandcast.orchestrator.rendering._email import (
    EmailLayout,
    EmailTemplates,
    LocaleEmail,
    PersonalEmail,
    fill_slots,
)
from brandcast.orchestrator.rendering._errors import FieldViolation, Rendered, RenderError
from brandcast.orchestrator.rendering._links import Utm, encode_urls_in_text, url_problem
from brandcast.orchestrator.rendering._locale import (
    ContentResolver,
    LocalizedContent,
    opt_out_text,
)
from brandcast.orchestrator.rendering._sandbox import CompiledTemplate, Scope, compile_template
from brandcast.orchestrator.rendering._sms import SmsFitter
from brandcast.orchestrator.rendering._social import build_variant, fit_post
from brandcast.orchestrator.rendering._social_length import network_name
from brandcast.shared.text_counting import MAX_SEGMENTS
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_HASHTAG = re.compile(r"^\w*[^\W\d_]\w*$")
_COMMON_NAMES = frozenset({"brand", "campaign", "message"})
_EMAIL_NAMES = _COMMON_NAMES | {"recipient", "unsubscribe_url"}
_SMS_NAMES = _COMMON_NAMES | {"recipient", "link", "opt_out"}
_SOCIAL_NAMES = _COMMON_NAMES | {"account", "link", "hashtags"}
# The unsubscribe link of a preview: the real one carries a signed per-delivery token.
PREVIEW_UNSUBSCRIBE_BASE = "https://unsubscribe.invalid"
PREVIEW_UNSUBSCRIBE_TOKEN = "preview"  # noqa: S105 - a stand-in, not a secret
# Hard cap on what a per-locale cache may hold; a stream of odd locale tags cannot grow it.
_LOCALE_CACHE_SIZE = 256


@dataclass(frozen=True)
class LaidOutEmail:
    """One recipient's e-mail before its bodies are put together: the variant
    without ``html`` and ``text``, its locale's layout and the slots' values."""

    variant: variant_pb2.EmailVariant
    layout: LocaleEmail
    slots: PersonalEmail


class CampaignRenderer:
    def __init__(self, spec: campaign_pb2.CampaignSpec, *, campaign_id: str = "") -> None:
        """Compiles the (sandboxed) templates and renders what is the same for every
        recipient once per locale (layout, brand, core text). Raises RenderError listing
        every problem (template syntax errors with template name + line, invalid URLs,
        missing required content for an enabled channel, ...)."""
        self._spec = spec
        self._campaign_id = campaign_id
        self._violations: list[FieldViolation] = []
        kit, core, channels = spec.brand_kit, spec.core_message, spec.channels
        self._resolver = ContentResolver(core, kit.default_locale)
        self._brand = Scope(
            "brand",
            {
                "name": kit.name,
                "primary_color": kit.primary_color,
                "secondary_color": kit.secondary_color,
                "logo_url": kit.logo_url,
                "legal_footer": kit.legal_footer,
                "postal_address": kit.postal_address,
                "sms_sender": kit.sms_sender,
                "default_hashtags": list(kit.default_hashtags),
            },
        )
        self._campaign = Scope("campaign", {"id": campaign_id, "name": spec.name})
        self._base_contexts: dict[tuple[str, Utm], dict[str, Any]] = {}
        self._check_common()
        self._email_templates = self._compile_email() if channels.email.enabled else None
        self._email_personal = self._email_templates is not None and any(
            t is not None and t.is_personal
            for t in (
                self._email_templates.subject,
                self._email_templates.preheader,
                self._email_templates.html,
                self._email_templates.text,
            )
        )
        self._sms_template = (
            self._compile("channels.sms.template", channels.sms.template, False, _SMS_NAMES)
            if channels.sms.enabled
            else None
        )
        self._social_template = (
            self._compile(
                "channels.social.template", channels.social.template, False, _SOCIAL_NAMES
            )
            if channels.social.enabled
            else None
        )
        self._email_utm = self._utm("email", "email")
        self._sms_utm = self._utm("sms", "sms")
        self._sms_link = self._sms_utm.apply(self._cta_url)
        self._sms = SmsFitter(
            budget=channels.sms.segment_budget or 1,
            replace=not channels.sms.keep_lookalikes,
            template_field="channels.sms.template",
        )
        if channels.email.enabled:
            self._check_email()
        if channels.sms.enabled:
            self._check_sms()
        self._accounts: list[campaign_pb2.SocialAccount] = []
        if channels.social.enabled:
            self._accounts = self._check_social()
        self._raise_if_invalid()

        self._email_layout: EmailLayout | None = None
        self._email_shared: dict[str, LocaleEmail] = {}
        #: Per locale, the SMS when the template does not read the recipient.
        self._sms_shared: dict[str, Rendered[variant_pb2.SmsVariant]] = {}
        self._posts: dict[str, Rendered[variant_pb2.SocialVariant]] = {}
        if self._email_templates is not None:
            self._email_layout = EmailLayout(
                spec, self._email_templates, self._email_utm, self._cta_url
            )
            for content in self._resolver.all():
                self._collect(partial(self._shared_email, content))
        for account in self._accounts:
            self._collect(partial(self._cache_post, account))
        self._raise_if_invalid()

    # -- public interface ----------------------------------------------------------------

    def email(
        self, recipient: campaign_pb2.Recipient, *, unsubscribe_url: str = ""
    ) -> Rendered[variant_pb2.EmailVariant]:
        laid_out = self.email_laid_out(recipient, unsubscribe_url=unsubscribe_url)
        variant = laid_out.variant
        variant.html = fill_slots(laid_out.layout.html, laid_out.slots.html)
        variant.text = fill_slots(laid_out.layout.text, laid_out.slots.text)
        return Rendered(variant, [])

    def email_laid_out(
        self, recipient: campaign_pb2.Recipient, *, unsubscribe_url: str = ""
    ) -> LaidOutEmail:
        """The recipient's e-mail as its locale's layout (shared by every recipient
        of that locale, the same object each time) and the values of its slots; the
        variant has everything but the HTML and text bodies."""
        if self._email_layout is None:
            raise RenderError.single("channels.email.enabled", "the email channel is disabled")
        settings = self._spec.channels.email
        sender = self._spec.brand_kit.email_sender
        content = self._resolver.for_locale(recipient.locale)
        shared = self._shared_email(content)
        # Recipient data is only gathered when a template reads it.
        context = self._context(
            content, self._email_utm, recipient=recipient if self._email_personal else None
        )
        unsubscribe = unsubscribe_url or settings.unsubscribe_url
        context["unsubscribe_url"] = unsubscribe
        slots = self._email_layout.personal_slots(
            shared, content, context, unsubscribe, settings.unsubscribe_mailto
        )
        variant = variant_pb2.EmailVariant(
            subject=slots.subject,
            preheader=slots.preheader,
            from_name=sender.name or self._spec.brand_kit.name,
            from_address=sender.address,
            reply_to=sender.reply_to,
            list_unsubscribe_url=unsubscribe,
            list_unsubscribe_mailto=settings.unsubscribe_mailto,
            to_name=recipient.name,
        )
        return LaidOutEmail(variant, shared, slots)

    def sms(self, recipient: campaign_pb2.Recipient) -> Rendered[variant_pb2.SmsVariant]:
        if not self._spec.channels.sms.enabled:
            raise RenderError.single("channels.sms.enabled", "the SMS channel is disabled")
        content = self._resolver.for_locale(recipient.locale)
        if self._sms_template is not None and self._sms_template.is_personal:
            return self._render_sms(content, recipient)
        # The same text for every recipient of the locale: fitted (segments
        # counted, look-alikes replaced) once.
        shared = self._sms_shared.get(content.locale)
        if shared is None:
            shared = self._render_sms(content, recipient)
            if len(self._sms_shared) < _LOCALE_CACHE_SIZE:
                self._sms_shared[content.locale] = shared
        variant = variant_pb2.SmsVariant()
        variant.CopyFrom(shared.variant)  # callers may change what they get
        return Rendered(variant, list(shared.warnings))

    def _render_sms(
        self, content: LocalizedContent, recipient: campaign_pb2.Recipient
    ) -> Rendered[variant_pb2.SmsVariant]:
        link = self._sms_link
        opt_out = opt_out_text(content.locale, self._spec.channels.sms.opt_out_text)
        if self._sms_template is not None:
            context = self._context(content, self._sms_utm, recipient=recipient)
            context["link"] = link
            context["opt_out"] = opt_out
            text = self._sms_template.render(context)
            body_start = 0
        else:
            text, body_start = self._default_sms_text(content)
        fitted = self._sms.fit(encode_urls_in_text(text), link, opt_out, body_start=body_start)
        variant = variant_pb2.SmsVariant(
            text=fitted.text,
            encoding=fitted.encoding,
            segments=fitted.segments,
            sender=self._spec.brand_kit.sms_sender,
        )
        return Rendered(variant, list(fitted.warnings))

    def social(self, account: campaign_pb2.SocialAccount) -> Rendered[variant_pb2.SocialVariant]:
        post = self._posts.get(account.id)
        if post is None or post.variant.network != account.network:
            post = self._render_post(account)
        variant = variant_pb2.SocialVariant()
        variant.CopyFrom(post.variant)  # callers may mutate what they get
        return Rendered(variant, list(post.warnings))

    def social_accounts(self) -> list[campaign_pb2.SocialAccount]:
        """The brand kit accounts the campaign posts to (channels.social.account_ids filter;
        empty = all)."""
        wanted = set(self._spec.channels.social.account_ids)
        return [a for a in self._spec.brand_kit.social_accounts if not wanted or a.id in wanted]

    def preview(
        self, recipients: Sequence[campaign_pb2.Recipient]
    ) -> list[campaign_service_pb2.PreviewVariant]:
        """Variants for each enabled channel for these recipients (+ one per social account)."""
        channels = self._spec.channels
        out: list[campaign_service_pb2.PreviewVariant] = []
        for recipient in recipients:
            if channels.email.enabled:
                email = self.email(recipient, unsubscribe_url=self._preview_unsubscribe_url())
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

    def _preview_unsubscribe_url(self) -> str:
        """Where a sent email's one-click unsubscribe link would be, with a stand-in token:
        the preview shows the email exactly as sent, footer link included."""
        base = self._spec.channels.email.unsubscribe_url or PREVIEW_UNSUBSCRIBE_BASE
        return f"{base.rstrip('/')}/{PREVIEW_UNSUBSCRIBE_TOKEN}"

    # -- rendering -----------------------------------------------------------------------

    def _context(
        self,
        content: LocalizedContent,
        utm: Utm,
        *,
        recipient: campaign_pb2.Recipient | None = None,
    ) -> dict[str, Any]:
        """Template variables; what is shared per locale and channel is built once."""
        key = (content.locale, utm)
        base = self._base_contexts.get(key)
        if base is None:
            core = self._spec.core_message
            base = {
                "brand": self._brand,
                "campaign": self._campaign,
                "message": Scope(
                    "message",
                    {
                        "headline": content.headline,
                        "body": content.body,
                        "cta_text": content.cta_text,
                        "cta_url": utm.apply(self._cta_url),
                        "image_url": core.image_url,
                        "hashtags": list(core.hashtags),
                        "locale": content.locale,
                    },
                ),
            }
            if len(self._base_contexts) < _LOCALE_CACHE_SIZE:
                self._base_contexts[key] = base
        context = dict(base)
        if recipient is not None:
            context["recipient"] = Scope(
                "recipient",
                {
                    "id": recipient.id,
                    "name": recipient.name,
                    "email": recipient.email,
                    "locale": recipient.locale,
                    "timezone": recipient.timezone,
                    "segment": recipient.segment,
                    "attributes": Scope("recipient.attributes", dict(recipient.attributes)),
                },
            )
        return context

    def _shared_email(self, content: LocalizedContent) -> LocaleEmail:
        shared = self._email_shared.get(content.locale)
        if shared is None:
            assert self._email_layout is not None
            shared = self._email_layout.shared(content, self._context(content, self._email_utm))
            if len(self._email_shared) < _LOCALE_CACHE_SIZE:
                self._email_shared[content.locale] = shared
        return shared

    def _cache_post(self, account: campaign_pb2.SocialAccount) -> None:
        self._posts[account.id] = self._render_post(account)

    def _default_sms_text(self, content: LocalizedContent) -> tuple[str, int]:
        """The text, and where its body starts (0 when there is no body to lose)."""
        headline = content.headline.strip()
        if headline and headline[-1] not in ".!?:":
            headline += "."
        prefix = f"{self._spec.brand_kit.name}: " if self._spec.brand_kit.name else ""
        opening = f"{prefix}{headline}".strip()
        body = content.body.strip()
        if not body:
            return opening, 0
        return f"{opening} {body}".strip(), len(opening) + 1 if opening else 0

    def _render_post(
        self, account: campaign_pb2.SocialAccount
    ) -> Rendered[variant_pb2.SocialVariant]:
        core, kit = self._spec.core_message, self._spec.brand_kit
        content = self._resolver.for_locale(account.language)
        utm = self._utm(network_name(account.network), "social")
        link = utm.apply(self._cta_url)
        hashtags = _dedupe([*core.hashtags, *kit.default_hashtags])
        field = "channels.social.template"
        if self._social_template is not None:
            context = self._context(content, utm)
            context["account"] = Scope(
                "account",
                {
                    "id": account.id,
                    "handle": account.handle,
                    "network": network_name(account.network),
                },
            )
            context["link"] = link
            context["hashtags"] = hashtags
            text = self._social_template.render(context)
        else:
            parts = [content.headline, content.body, link]
            if account.network == campaign_pb2.SOCIAL_NETWORK_LINKEDIN:
                parts.append(kit.legal_footer)
            text = "\n\n".join(p.strip() for p in parts if p.strip())
            field = "core_message.body"
        text = encode_urls_in_text(text)
        kept = [link]
        if account.network == campaign_pb2.SOCIAL_NETWORK_LINKEDIN:
            kept.append(kit.legal_footer.strip())
        text, warnings = fit_post(account, text, hashtags, field=field, kept=kept)
        variant = build_variant(
            account,
            text,
            language=account.language or content.locale,
            visibility=self._spec.channels.social.visibility,
            link=link,
            title=content.headline,
            description=content.body,
            image_url=core.image_url,
        )
        return Rendered(variant, warnings)

    # -- validation ----------------------------------------------------------------------

    def _violation(self, field: str, description: str) -> None:
        self._violations.append(FieldViolation(field, description))

    def _collect(self, step: Callable[[], object]) -> None:
        try:
            step()
        except RenderError as exc:
            self._violations.extend(exc.violations)

    def _raise_if_invalid(self) -> None:
        if self._violations:
            # The same problem found twice (e.g. once per locale) is reported once.
            raise RenderError(list(dict.fromkeys(self._violations)))

    def _compile(
        self, field: str, source: str, html: bool, names: frozenset[str]
    ) -> CompiledTemplate | None:
        if not source:
            return None
        try:
            return compile_template(field, source, html=html, allowed_names=names)
        except RenderError as exc:
            self._violations.extend(exc.violations)
            return None

    def _compile_email(self) -> EmailTemplates:
        t = self._spec.channels.email.templates
        prefix = "channels.email.templates"
        return EmailTemplates(
            subject=self._compile(f"{prefix}.subject", t.subject, False, _EMAIL_NAMES),
            preheader=self._compile(f"{prefix}.preheader", t.preheader, False, _EMAIL_NAMES),
            html=self._compile(f"{prefix}.html", t.html, True, _EMAIL_NAMES),
            text=self._compile(f"{prefix}.text", t.text, False, _EMAIL_NAMES),
        )

    def _utm(self, source: str, medium: str) -> Utm:
        return Utm.for_channel(self._spec.tracking, self._spec.name, source=source, medium=medium)

    def _check_common(self) -> None:
        spec, kit, core = self._spec, self._spec.brand_kit, self._spec.core_message
        channels = spec.channels
        if not (channels.email.enabled or channels.sms.enabled or channels.social.enabled):
            self._violation("channels", "no channel is enabled")
        # The link every channel carries; a bad one is a violation, and while the other
        # problems are collected the renderer goes on without it instead of failing on it.
        self._cta_url = core.cta_url
        for field, url, https_only in (
            ("core_message.cta_url", core.cta_url, False),
            ("core_message.image_url", core.image_url, False),
            ("brand_kit.logo_url", kit.logo_url, True),
        ):
            problem = url and url_problem(url, https_only=https_only)
            if problem:
                self._violation(field, problem)
                if field == "core_message.cta_url":
                    self._cta_url = ""
        if core.cta_text and not core.cta_url:
            self._violation("core_message.cta_url", "required when cta_text is set")
        for field, color in (
            ("brand_kit.primary_color", kit.primary_color),
            ("brand_kit.secondary_color", kit.secondary_color),
        ):
            if color and not _COLOR.match(color):
                self._violation(field, f"'{color}' is not a hex color like #0a7d5a")
        for tag in core.translations:
            if not _LOCALE_TAG.match(tag):
                self._violation(
                    f"core_message.translations[{tag}]", f"'{tag}' is not a BCP 47 locale"
                )
        if kit.default_locale and not _LOCALE_TAG.match(kit.default_locale):
            self._violation(
                "brand_kit.default_locale", f"'{kit.default_locale}' is not a BCP 47 locale"
            )

    def _check_email(self) -> None:
        kit, core = self._spec.brand_kit, self._spec.core_message
        settings = self._spec.channels.email
        sender = kit.email_sender
        for field, address in (
            ("brand_kit.email_sender.address", sender.address),
            ("brand_kit.email_sender.reply_to", sender.reply_to),
        ):
            if field.endswith("address") and not address:
                self._violation(field, "required when the email channel is enabled")
            elif address:
                try:
                    validate_email(address, check_deliverability=False)
                except EmailNotValidError as exc:
                    self._violation(field, f"'{address}' is not a valid email address: {exc}")
        if not kit.postal_address.strip():
            self._violation(
                "brand_kit.postal_address", "commercial email must show a postal address"
            )
        if not (settings.templates.subject or settings.subject or core.headline):
            self._violation(
                "channels.email.subject", "set a subject, a subject template or a headline"
            )
        if not (settings.templates.html or core.headline or core.body):
            self._violation("core_message.body", "email needs a headline, a body or a template")
        if settings.unsubscribe_url:
            problem = url_problem(settings.unsubscribe_url)
            if problem:
                self._violation("channels.email.unsubscribe_url", problem)
        mailto = settings.unsubscribe_mailto
        if mailto and (not mailto.startswith("mailto:") or "@" not in mailto):
            self._violation("channels.email.unsubscribe_mailto", f"'{mailto}' is not a mailto: URL")

    def _check_sms(self) -> None:
        settings, core = self._spec.channels.sms, self._spec.core_message
        if settings.segment_budget > MAX_SEGMENTS:
            self._violation(
                "channels.sms.segment_budget",
                f"{settings.segment_budget} is over the maximum of {MAX_SEGMENTS} segments "
                "(carriers and Twilio refuse longer messages)",
            )
            return
        if not (settings.template or core.headline or core.body):
            self._violation("core_message.body", "SMS needs a headline, a body or a template")
        link = self._sms_utm.apply(self._cta_url)
        for content in self._resolver.all():
            problem = self._sms.minimum_problem(
                link, opt_out_text(content.locale, settings.opt_out_text)
            )
            if problem:
                self._violation("channels.sms.segment_budget", problem)

    def _check_social(self) -> list[campaign_pb2.SocialAccount]:
        kit, core = self._spec.brand_kit, self._spec.core_message
        settings = self._spec.channels.social
        known = {a.id for a in kit.social_accounts}
        for index, account_id in enumerate(settings.account_ids):
            if account_id not in known:
                self._violation(
                    f"channels.social.account_ids[{index}]",
                    f"'{account_id}' is not an account of the brand kit",
                )
        accounts = self.social_accounts()
        if not accounts:
            self._violation("brand_kit.social_accounts", "social is enabled but has no account")
        for index, account in enumerate(kit.social_accounts):
            if account in accounts and account.network not in (
                campaign_pb2.SOCIAL_NETWORK_MASTODON,
                campaign_pb2.SOCIAL_NETWORK_BLUESKY,
                campaign_pb2.SOCIAL_NETWORK_X,
                campaign_pb2.SOCIAL_NETWORK_LINKEDIN,
            ):
                self._violation(
                    f"brand_kit.social_accounts[{index}].network", "a network is required"
                )
        if len(known) != len(kit.social_accounts):
            self._violation("brand_kit.social_accounts", "account ids must be unique")
        for field, tags in (
            ("core_message.hashtags", core.hashtags),
            ("brand_kit.default_hashtags", kit.default_hashtags),
        ):
            for index, tag in enumerate(tags):
                if not _HASHTAG.match(tag.removeprefix("#")):
                    self._violation(
                        f"{field}[{index}]",
                        f"'{tag}' is not a hashtag (letters, digits and _, not only digits)",
                    )
        if not (settings.template or core.headline or core.body):
            self._violation("core_message.body", "posts need a headline, a body or a template")
        return accounts


def _dedupe(tags: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for tag in tags:
        clean = tag.removeprefix("#").strip()
        if clean and clean.lower() not in seen:
            seen[clean.lower()] = clean
    return list(seen.values())
