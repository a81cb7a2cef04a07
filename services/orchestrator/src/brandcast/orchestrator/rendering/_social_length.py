"""Post length as each network counts it, and Bluesky facets.

- X: twitter-text v3 weighted length. Text is NFC-normalised; each code point weighs 100
  when it is in one of the light ranges below, else 200; every URL weighs 2300 (23 chars,
  t.co); an emoji (a whole grapheme cluster such as a ZWJ family or a flag) weighs 200.
  The limit is 280 after dividing by 100. We implement the published configuration
  ourselves: the `twitter-text-parser` package on PyPI has had no release since 2023.
- Mastodon: characters (code points), every URL counts 23; limit 500 unless the instance
  says otherwise (`SocialAccount.max_characters`).
- Bluesky: grapheme clusters, URLs in full (the facet carries the link); limit 300.
- LinkedIn: characters; limit 3,000.
When unsure we count high: a post measured too long is shortened, one measured too short
is rejected by the network.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TypeAlias

import grapheme

from brandcast.orchestrator.rendering._links import URL_IN_TEXT
from brandcast.v1 import campaign_pb2, variant_pb2

Network: TypeAlias = campaign_pb2.SocialNetwork.ValueType

X_LIMIT = 280
MASTODON_DEFAULT_LIMIT = 500
BLUESKY_LIMIT = 300
LINKEDIN_LIMIT = 3000
URL_LENGTH = 23

_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x2300, 0x23FF),
)
# A hashtag as Bluesky and Mastodon link it: after a start or a space, not only digits.
HASHTAG = re.compile(r"(?:(?<=\s)|^)#(\w*[^\W\d_]\w*)")


def network_name(network: Network) -> str:
    return {
        campaign_pb2.SOCIAL_NETWORK_MASTODON: "mastodon",
        campaign_pb2.SOCIAL_NETWORK_BLUESKY: "bluesky",
        campaign_pb2.SOCIAL_NETWORK_X: "x",
        campaign_pb2.SOCIAL_NETWORK_LINKEDIN: "linkedin",
    }.get(network, "social")


def post_limit(account: campaign_pb2.SocialAccount) -> int:
    network = account.network
    if network == campaign_pb2.SOCIAL_NETWORK_X:
        return X_LIMIT
    if network == campaign_pb2.SOCIAL_NETWORK_BLUESKY:
        return BLUESKY_LIMIT
    if network == campaign_pb2.SOCIAL_NETWORK_LINKEDIN:
        return LINKEDIN_LIMIT
    return account.max_characters or MASTODON_DEFAULT_LIMIT


def post_length(network: Network, text: str) -> int:
    if network == campaign_pb2.SOCIAL_NETWORK_X:
        return x_weighted_length(text)
    if network == campaign_pb2.SOCIAL_NETWORK_BLUESKY:
        return int(grapheme.length(text))
    if network == campaign_pb2.SOCIAL_NETWORK_LINKEDIN:
        return len(text)
    return _length_with_short_urls(text)


def _length_with_short_urls(text: str) -> int:
    urls = URL_IN_TEXT.findall(text)
    return len(text) - sum(len(url) for url in urls) + URL_LENGTH * len(urls)


def x_weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    weight = 0
    position = 0
    for match in URL_IN_TEXT.finditer(text):
        weight += _x_weight_of_text(text[position : match.start()])
        weight += URL_LENGTH * _X_SCALE
        position = match.end()
    weight += _x_weight_of_text(text[position:])
    return weight // _X_SCALE


def _x_weight_of_text(text: str) -> int:
    weight = 0
    for cluster in grapheme.graphemes(text):
        if _is_emoji(cluster):
            weight += _X_DEFAULT_WEIGHT
            continue
        for ch in cluster:
            code = ord(ch)
            light = any(low <= code <= high for low, high in _X_LIGHT_RANGES)
            weight += _X_SCALE if light else _X_DEFAULT_WEIGHT
    return weight


def _is_emoji(cluster: str) -> bool:
    code = ord(cluster[0])
    if 0x1F1E6 <= code <= 0x1F1FF:  # regional indicators: flags
        return True
    if len(cluster) == 1 and code < 0x2300:
        return False  # ©, ®, digits: counted as plain characters
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


def bluesky_facets(text: str) -> list[variant_pb2.Facet]:
    """Link and tag facets with UTF-8 byte offsets (Bluesky indexes bytes, not characters)."""
    facets: list[variant_pb2.Facet] = []

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    for match in URL_IN_TEXT.finditer(text):
        facets.append(
            variant_pb2.Facet(
                kind=variant_pb2.Facet.KIND_LINK,
                byte_start=byte_offset(match.start()),
                byte_end=byte_offset(match.end()),
                value=match.group(0),
            )
        )
    for match in HASHTAG.finditer(text):
        if any(f.byte_start <= byte_offset(match.start()) < f.byte_end for f in facets):
            continue  # a '#fragment' inside a link is not a tag
        facets.append(
            variant_pb2.Facet(
                kind=variant_pb2.Facet.KIND_TAG,
                byte_start=byte_offset(match.start()),
                byte_end=byte_offset(match.end()),
                value=match.group(1),
            )
        )
    facets.sort(key=lambda f: f.byte_start)
    return facets
