"""The compose form turned into a ``CampaignSpec``, with errors keyed by form field.

The same parser serves the live preview (which renders whatever is valid so far)
and the final submit (which refuses any error).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.datastructures import FormData

from brandcast.v1 import campaign_pb2

MAX_SEGMENT_BUDGET = 10
_TRANSLATION_KEY = re.compile(r"^translations-(\d+)-(locale|headline|body|cta_text)$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_HASHTAG = re.compile(r"^\w+$")


@dataclass
class ComposeResult:
    spec: campaign_pb2.CampaignSpec
    #: Form field name -> what is wrong with it.
    errors: dict[str, str] = field(default_factory=dict)
    kit_id: str = ""


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _checked(form: FormData, name: str) -> bool:
    return _text(form, name) in ("on", "true", "1", "yes")


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_hashtags(value: str) -> list[str]:
    return [tag.lstrip("#") for tag in re.split(r"[\s,]+", value) if tag.lstrip("#")]


def _translations(form: FormData, errors: dict[str, str]) -> dict[str, campaign_pb2.MessageContent]:
    rows: dict[int, dict[str, str]] = {}
    for key in form:
        match = _TRANSLATION_KEY.match(key)
        if match:
            rows.setdefault(int(match[1]), {})[match[2]] = _text(form, key)
    translations: dict[str, campaign_pb2.MessageContent] = {}
    for index in sorted(rows):
        row = rows[index]
        locale = row.get("locale", "")
        texts = (row.get("headline", ""), row.get("body", ""), row.get("cta_text", ""))
        if not locale and not any(texts):
            continue  # an untouched empty row
        name = f"translations-{index}-locale"
        if not _LOCALE.match(locale):
            errors[name] = "a BCP 47 locale such as fr or pt-BR"
        elif locale in translations:
            errors[name] = f"{locale} is translated twice"
        else:
            translations[locale] = campaign_pb2.MessageContent(
                headline=texts[0], body=texts[1], cta_text=texts[2]
            )
    return translations


def _schedule(form: FormData, errors: dict[str, str], now: datetime) -> campaign_pb2.Schedule:
    schedule = campaign_pb2.Schedule()
    send_at = _text(form, "send_at")
    if not send_at:
        return schedule
    zone_name = _text(form, "send_at_timezone") or "UTC"
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["send_at_timezone"] = f"{zone_name!r} is not an IANA time zone"
        return schedule
    try:
        local = datetime.fromisoformat(send_at)
    except ValueError:
        errors["send_at"] = "a date and time such as 2030-01-31T09:00"
        return schedule
    moment = local.replace(tzinfo=zone) if local.tzinfo is None else local
    if moment <= now:
        errors["send_at"] = "must be in the future (leave empty to send now)"
        return schedule
    schedule.send_at.FromDatetime(moment.astimezone(UTC))
    return schedule


def _core_message(form: FormData, errors: dict[str, str]) -> campaign_pb2.CoreMessage:
    core = campaign_pb2.CoreMessage(
        headline=_text(form, "headline"),
        body=_text(form, "body"),
        cta_text=_text(form, "cta_text"),
        cta_url=_text(form, "cta_url"),
        image_url=_text(form, "image_url"),
    )
    if not core.headline:
        errors["headline"] = "required"
    if not core.body:
        errors["body"] = "required"
    if core.cta_url and not _is_http_url(core.cta_url):
        errors["cta_url"] = "an absolute http(s) URL such as https://acme.example/offer"
    if core.image_url and not _is_http_url(core.image_url):
        errors["image_url"] = "an absolute http(s) URL"
    if core.cta_text and not core.cta_url:
        errors["cta_url"] = "the call to action needs a link"
    hashtags = parse_hashtags(_text(form, "hashtags"))
    bad_tags = [t for t in hashtags if not _HASHTAG.match(t)]
    if bad_tags:
        errors["hashtags"] = f"letters, digits and _ only: {', '.join(bad_tags)}"
    core.hashtags.extend(t for t in hashtags if _HASHTAG.match(t))
    for locale, content in _translations(form, errors).items():
        core.translations[locale].CopyFrom(content)
    return core


def _channels(
    form: FormData, kit: campaign_pb2.BrandKit | None, errors: dict[str, str]
) -> campaign_pb2.ChannelSettings:
    channels = campaign_pb2.ChannelSettings()
    channels.email.enabled = _checked(form, "email_enabled")
    channels.email.subject = _text(form, "email_subject")
    channels.email.preheader = _text(form, "email_preheader")

    channels.sms.enabled = _checked(form, "sms_enabled")
    channels.sms.keep_lookalikes = _checked(form, "sms_keep_lookalikes")
    budget = _text(form, "sms_segment_budget") or "1"
    if budget.isdigit() and 1 <= int(budget) <= MAX_SEGMENT_BUDGET:
        channels.sms.segment_budget = int(budget)
    else:
        errors["sms_segment_budget"] = f"a whole number from 1 to {MAX_SEGMENT_BUDGET}"

    channels.social.enabled = _checked(form, "social_enabled")
    account_ids = [a for a in form.getlist("social_accounts") if isinstance(a, str) and a]
    known = {account.id for account in kit.social_accounts} if kit else set()
    unknown = [a for a in account_ids if a not in known]
    if unknown:
        errors["social_accounts"] = f"not accounts of this brand kit: {', '.join(unknown)}"
    channels.social.account_ids.extend(a for a in account_ids if a in known)
    if channels.social.enabled and not channels.social.account_ids:
        errors["social_accounts"] = "choose at least one account to post to"

    if not (channels.email.enabled or channels.sms.enabled or channels.social.enabled):
        errors["channels"] = "turn on at least one channel"
    return channels


def parse_compose_form(
    form: FormData,
    kits: dict[str, campaign_pb2.BrandKit],
    *,
    now: datetime | None = None,
) -> ComposeResult:
    """Build the spec (without audience) from the compose form; collect every error."""
    errors: dict[str, str] = {}
    spec = campaign_pb2.CampaignSpec(name=_text(form, "name"))
    if not spec.name:
        errors["name"] = "give the campaign a name"
    kit_id = _text(form, "brand_kit")
    kit = kits.get(kit_id)
    if kit is None:
        errors["brand_kit"] = "choose one of the configured brand kits"
    else:
        spec.brand_kit.CopyFrom(kit)
    spec.core_message.CopyFrom(_core_message(form, errors))
    spec.channels.CopyFrom(_channels(form, kit, errors))
    spec.schedule.CopyFrom(_schedule(form, errors, now or datetime.now(UTC)))
    return ComposeResult(spec=spec, errors=errors, kit_id=kit_id)


def compose_values(
    spec: campaign_pb2.CampaignSpec, kits: dict[str, campaign_pb2.BrandKit]
) -> dict[str, object]:
    """The compose form's values for ``spec``: what "Duplicate" opens (the
    audience is chosen again; the schedule starts empty)."""
    core, channels = spec.core_message, spec.channels
    values: dict[str, object] = {
        "name": f"{spec.name} (copy)"[:200],
        "brand_kit": next((k for k, kit in kits.items() if kit.name == spec.brand_kit.name), ""),
        "headline": core.headline,
        "body": core.body,
        "cta_text": core.cta_text,
        "cta_url": core.cta_url,
        "image_url": core.image_url,
        "hashtags": " ".join(f"#{t}" for t in core.hashtags),
        "email_subject": channels.email.subject,
        "email_preheader": channels.email.preheader,
        "sms_segment_budget": str(channels.sms.segment_budget or 1),
        "social_accounts": list(channels.social.account_ids),
    }
    for name, on in (
        ("email_enabled", channels.email.enabled),
        ("sms_enabled", channels.sms.enabled),
        ("social_enabled", channels.social.enabled),
        ("sms_keep_lookalikes", channels.sms.keep_lookalikes),
    ):
        if on:
            values[name] = "on"
    for index, (locale, content) in enumerate(sorted(core.translations.items())):
        values[f"translations-{index}-locale"] = locale
        values[f"translations-{index}-headline"] = content.headline
        values[f"translations-{index}-body"] = content.body
        values[f"translations-{index}-cta_text"] = content.cta_text
    return values
