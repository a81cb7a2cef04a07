"""Email variants: a branded, responsive HTML body with CSS inlined, and its text twin.

The layout is rendered and CSS-inlined once per locale with slots left in it for what is
personal (preheader, unsubscribe link, and the marketer's content when their template reads
recipient data); a recipient's render only fills those slots, in one pass, so a recipient's
value can never be mistaken for another slot.
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import css_inline
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from brandcast.orchestrator.rendering._contrast import label_on, readable_on
from brandcast.orchestrator.rendering._errors import RenderError
from brandcast.orchestrator.rendering._html_links import (
    LAYOUT_CACHE,
    rewrite_layout_links,
    rewrite_links,
    safe_url,
)
from brandcast.orchestrator.rendering._links import Utm
from brandcast.orchestrator.rendering._locale import LocalizedContent, unsubscribe_label
from brandcast.orchestrator.rendering._sandbox import CompiledTemplate, escape_html
from brandcast.v1 import campaign_pb2

DEFAULT_PRIMARY_COLOR = "#1a56db"
DEFAULT_SECONDARY_COLOR = "#111827"
PREHEADER_LENGTH = 100

_FOOTER_LINK_STYLE = "color: #6b7280;text-decoration: underline;"
# The background of the content and of the footer: what text colours are checked against.
CONTENT_BACKGROUND = "#ffffff"
# A marker that no marketer or recipient can type: drawn anew by every process.
_SLOT = f"bcslot{secrets.token_hex(12)}"
_SLOT_NAMES = ("content", "preheader", "unsubscribe")
_SLOT_PATTERN = re.compile(rf"{_SLOT}-({'|'.join(_SLOT_NAMES)})\b")

# Our own layouts (trusted, so not sandboxed); user data in them is escaped by autoescape.
_HTML_LAYOUT_ENV = Environment(
    autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_TEXT_LAYOUT_ENV = Environment(
    autoescape=False,  # noqa: S701 - plain text, never shown as HTML
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _resource(name: str) -> str:
    return files("brandcast.orchestrator.rendering").joinpath("templates", name).read_text("utf-8")


_LAYOUT_CSS = _resource("email.css")
# A marketer's personal HTML is inlined on its own, outside the layout's content cell, so
# the rules scoped to that cell (".content h1") apply to the fragment's top level instead.
_FRAGMENT_CSS = _LAYOUT_CSS.replace(".content ", "")
_HTML_LAYOUT = _HTML_LAYOUT_ENV.from_string(_resource("email.html.j2"))
_TEXT_LAYOUT = _TEXT_LAYOUT_ENV.from_string(_resource("email.txt.j2"))
_TEXT_CONTENT = _TEXT_LAYOUT_ENV.from_string(_resource("email_content.txt.j2"))
# Remote stylesheets are never fetched: a template must not make the renderer call out.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@functools.lru_cache(maxsize=LAYOUT_CACHE)
def _inlined(layout: str) -> str:
    """The layout with its CSS inlined: a pure function of the layout, which repeats
    for the campaigns that send the same message again."""
    return _INLINER.inline(layout)


def slot(name: str) -> str:
    return f"{_SLOT}-{name}"


def split_slots(document: str) -> tuple[str, ...]:
    """`document` cut at its slots: even items are text, odd items are slot names."""
    return tuple(_SLOT_PATTERN.split(document))


def fill_slots(parts: tuple[str, ...], values: Mapping[str, str]) -> str:
    """Joins split_slots() parts with each slot's value (an unknown slot stays as it was)."""
    return "".join(
        part if index % 2 == 0 else values.get(part, slot(part)) for index, part in enumerate(parts)
    )


def default_preheader(body: str) -> str:
    flat = " ".join(body.split())
    if len(flat) <= PREHEADER_LENGTH:
        return flat
    cut = flat[:PREHEADER_LENGTH].rsplit(" ", 1)[0] or flat[:PREHEADER_LENGTH]
    return cut.rstrip(",;:.-") + "…"


def one_line(value: str) -> str:
    """Header values on one line: a newline in a subject would be a header injection."""
    return " ".join(value.split())


@dataclass(frozen=True)
class EmailTemplates:
    subject: CompiledTemplate | None
    preheader: CompiledTemplate | None
    html: CompiledTemplate | None
    text: CompiledTemplate | None


@dataclass(frozen=True)
class LocaleEmail:
    """What is the same for every recipient of one locale."""

    html: tuple[str, ...]
    text: tuple[str, ...]
    subject: str | None
    preheader: str | None


@dataclass(frozen=True)
class PersonalEmail:
    """What is one recipient's own: the subject and preheader, and the values of
    the layout's slots (``split_slots`` names), HTML already escaped."""

    subject: str
    preheader: str
    html: dict[str, str]
    text: dict[str, str]


class EmailLayout:
    """Renders one locale's shared parts and fills in one recipient's personal parts."""

    def __init__(
        self,
        spec: campaign_pb2.CampaignSpec,
        templates: EmailTemplates,
        utm: Utm,
        cta_url: str,
    ) -> None:
        self._spec = spec
        self._templates = templates
        self._utm = utm
        # The layout carries the link as the marketer wrote it: the link pass tracks
        # it, so the layout (and its cached parse) is the same for every campaign
        # sending this message, whatever the campaign's name in the UTM.
        self._cta_url = cta_url
        self._tracked_cta_url = utm.apply(cta_url) if cta_url else ""

    def shared(self, content: LocalizedContent, context: Mapping[str, Any]) -> LocaleEmail:
        kit = self._spec.brand_kit
        t = self._templates
        subject = None if t.subject and t.subject.is_personal else self._subject(context)
        preheader = None if t.preheader and t.preheader.is_personal else self._preheader(context)
        if t.html is None:
            content_slot: Markup | None = None
        elif t.html.is_personal:
            content_slot = Markup(slot("content"))  # noqa: S704 - a fixed identifier
        else:
            content_slot = Markup(t.html.render(context))  # noqa: S704 - sandboxed, autoescaped
        primary = kit.primary_color or DEFAULT_PRIMARY_COLOR
        secondary = kit.secondary_color or DEFAULT_SECONDARY_COLOR
        layout = _HTML_LAYOUT.render(
            lang=content.locale,
            title=subject or content.headline,
            css=Markup(_LAYOUT_CSS),  # noqa: S704 - our own stylesheet
            primary_color=primary,
            # The secondary colour, else the primary, else the primary darkened to read.
            headline_color=readable_on(CONTENT_BACKGROUND, (secondary, primary), primary),
            cta_label_color=label_on(primary),
            brand_name=kit.name,
            footer_brand_name=_footer_brand_name(kit.name, kit.postal_address),
            logo_url=kit.logo_url,
            image_url=self._spec.core_message.image_url,
            headline=content.headline,
            paragraphs=_paragraphs(content.body),
            cta_url=self._cta_url,
            cta_text=content.cta_text or content.headline,
            content_slot=content_slot,
            legal_footer=kit.legal_footer,
            postal_address=kit.postal_address,
            preheader_slot=Markup(slot("preheader")),  # noqa: S704 - a fixed identifier
            unsubscribe_slot=Markup(slot("unsubscribe")),  # noqa: S704 - a fixed identifier
        )
        inlined = rewrite_layout_links(_inlined(layout), self._utm)
        if t.text is None:
            text_content: str = self._utm.apply_in_text(
                _TEXT_CONTENT.render(
                    headline=content.headline,
                    body=content.body,
                    cta_text=content.cta_text,
                    cta_url=self._tracked_cta_url,
                )
            )
        elif t.text.is_personal:
            text_content = slot("content")
        else:
            text_content = self._utm.apply_in_text(t.text.render(context))
        text = _TEXT_LAYOUT.render(
            content_slot=text_content.strip(),
            legal_footer=kit.legal_footer,
            brand_name=_footer_brand_name(kit.name, kit.postal_address),
            postal_address=kit.postal_address,
            unsubscribe_slot=slot("unsubscribe"),
        )
        return LocaleEmail(
            html=split_slots(inlined),
            text=split_slots(text.strip() + "\n"),
            subject=subject,
            preheader=preheader,
        )

    def personal_slots(
        self,
        shared: LocaleEmail,
        content: LocalizedContent,
        context: Mapping[str, Any],
        unsubscribe_url: str,
        unsubscribe_mailto: str,
    ) -> PersonalEmail:
        """One recipient's subject, preheader and the values of the layout's slots."""
        subject = shared.subject if shared.subject is not None else self._subject(context)
        preheader = shared.preheader if shared.preheader is not None else self._preheader(context)
        link = unsubscribe_url or unsubscribe_mailto
        label = unsubscribe_label(content.locale)
        html_values = {
            "preheader": escape_html(preheader),
            "unsubscribe": _unsubscribe_anchor(link, label) if link else "",
        }
        text_values = {"unsubscribe": f"{label}: {link}" if link else ""}
        t = self._templates
        if t.html is not None and t.html.is_personal:
            fragment = css_inline.inline_fragment(
                t.html.render(context), _FRAGMENT_CSS, load_remote_stylesheets=False
            )
            html_values["content"] = rewrite_links(fragment, self._utm)
        if t.text is not None and t.text.is_personal:
            text_values["content"] = self._utm.apply_in_text(t.text.render(context)).strip()
        return PersonalEmail(subject, preheader, html_values, text_values)

    def _subject(self, context: Mapping[str, Any]) -> str:
        template = self._templates.subject
        settings = self._spec.channels.email
        if template is not None:
            subject = one_line(template.render(context))
            field = template.field
        else:
            message: Mapping[str, Any] = context["message"]
            subject = one_line(settings.subject or str(message["headline"]))
            field = "channels.email.subject"
        if not subject:
            raise RenderError.single(field, "the subject is empty")
        return subject

    def _preheader(self, context: Mapping[str, Any]) -> str:
        template = self._templates.preheader
        if template is not None:
            return one_line(template.render(context))
        message: Mapping[str, Any] = context["message"]
        return one_line(self._spec.channels.email.preheader) or default_preheader(
            str(message["body"])
        )


def _unsubscribe_anchor(link: str, label: str) -> str:
    # Filled in after CSS inlining, so it carries the footer link style itself.
    href = safe_url("href", link, tag="a", utm=None)
    if href is None:
        return escape_html(label)
    return (
        f'<a href="{html.escape(href, quote=True)}" style="{_FOOTER_LINK_STYLE}">'
        f"{escape_html(label)}</a>"
    )


def _footer_brand_name(name: str, postal_address: str) -> str:
    """The brand's name before its address, unless the address already starts with it."""
    if name and name.strip().lower() in postal_address.lower():
        return ""
    return name


def _paragraphs(body: str) -> list[list[str]]:
    blocks = re.split(r"\n\s*\n", body.strip())
    return [block.splitlines() for block in blocks if block.strip()]
