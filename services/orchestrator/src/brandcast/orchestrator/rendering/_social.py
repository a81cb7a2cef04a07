"""Social posts: one per brand account, within the network's own length rules."""

from __future__ import annotations

from collections.abc import Sequence

from brandcast.orchestrator.rendering._errors import RenderError, warning
from brandcast.orchestrator.rendering._fit import Span, fit_text, spans_of
from brandcast.orchestrator.rendering._links import URL_IN_TEXT
from brandcast.orchestrator.rendering._social_length import (
    post_length,
    post_length_of_cuts,
    post_limit,
)
from brandcast.shared.text_counting import bluesky_facet_messages, x_urls
from brandcast.v1 import campaign_pb2, variant_pb2

_ERROR = variant_pb2.RenderWarning.SEVERITY_ERROR
LINK_CARD_DESCRIPTION_LENGTH = 300


def fit_post(
    account: campaign_pb2.SocialAccount,
    text: str,
    hashtags: list[str],
    *,
    field: str,
    kept: Sequence[str] = (),
) -> tuple[str, list[variant_pb2.RenderWarning]]:
    """`text` shortened to the account's limit, then hashtags appended while they fit.

    `kept` (the call-to-action link, a legal footer) survives any shortening; other URLs
    stay whole; the rest is cut at a word or grapheme boundary."""
    limit = post_limit(account)
    length = post_length_of_cuts(account.network)

    def fits(candidate: str) -> bool:
        return length(candidate) <= limit

    warnings: list[variant_pb2.RenderWarning] = []
    text = text.strip()
    if not text:
        warnings.append(
            warning("social.empty", f"the post for '{account.id}' is empty", field, severity=_ERROR)
        )
    lowered = text.lower()
    wanted = [tag for tag in hashtags if f"#{tag.lower()}" not in lowered]
    if not fits(text):
        urls = [Span(m.start(), m.end(), False) for m in URL_IN_TEXT.finditer(text)]
        urls += [Span(u.start, u.end, False) for u in x_urls(text)]
        shortened = fit_text(text, [*spans_of(text, kept, keep=True), *urls], fits, ellipsis="…")
        if shortened is None:
            raise RenderError.single(
                field,
                f"the link and footer alone are longer than {limit}, the limit of '{account.id}'",
            )
        if shortened.cut == 0 or shortened.dropped_urls:
            warnings.append(
                warning(
                    "social.body_dropped",
                    f"the post for '{account.id}' did not fit {limit}: "
                    + ("its text was dropped" if shortened.cut == 0 else "links were dropped"),
                    field,
                    severity=_ERROR,
                )
            )
        else:
            warnings.append(
                warning(
                    "social.truncated",
                    f"shortened from {length(text)} to {limit} for '{account.id}'",
                    field,
                )
            )
        text = shortened.text
    added: list[str] = []
    for tag in wanted:
        candidate = " ".join(f"#{t}" for t in [*added, tag])
        if fits(f"{text}\n\n{candidate}"):
            added.append(tag)
    if len(added) < len(wanted):
        dropped = [f"#{t}" for t in wanted if t not in added]
        warnings.append(
            warning(
                "social.hashtags_dropped",
                f"{' '.join(dropped)} did not fit on '{account.id}'",
                field,
            )
        )
    if added:
        text = f"{text}\n\n{' '.join(f'#{t}' for t in added)}"
    return text, warnings


def build_variant(
    account: campaign_pb2.SocialAccount,
    text: str,
    *,
    language: str,
    visibility: str,
    link: str,
    title: str,
    description: str,
    image_url: str,
) -> variant_pb2.SocialVariant:
    variant = variant_pb2.SocialVariant(
        network=account.network,
        account_id=account.id,
        text=text,
        length=post_length(account.network, text),
        limit=post_limit(account),
        language=language,
    )
    if account.network == campaign_pb2.SOCIAL_NETWORK_MASTODON:
        variant.visibility = visibility or "public"
    if account.network == campaign_pb2.SOCIAL_NETWORK_BLUESKY:
        variant.facets.extend(bluesky_facet_messages(text))
        if link:
            variant.link_card.CopyFrom(
                variant_pb2.LinkCard(
                    url=link,
                    title=title,
                    description=_clip(description, LINK_CARD_DESCRIPTION_LENGTH),
                    image_url=image_url,
                )
            )
    return variant


def _clip(text: str, length: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    return flat[: length - 1].rsplit(" ", 1)[0] + "…"
