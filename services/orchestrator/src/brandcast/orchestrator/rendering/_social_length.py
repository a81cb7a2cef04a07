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

Which rule a network uses and its limit are named in the shared channel table
(``brandcast.shared.channels``); this module implements the rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import TypeAlias

import grapheme

from brandcast.orchestrator.rendering._links import URL_IN_TEXT
from brandcast.shared import channels
from brandcast.v1 import campaign_pb2, variant_pb2

Network: TypeAlias = campaign_pb2.SocialNetwork.ValueType

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
    """The network's short name; raises ``channels.UnknownNetworkError`` for an unknown one."""
    return channels.network(network).name


def post_limit(account: campaign_pb2.SocialAccount) -> int:
    known = channels.network(account.network)
    if known.account_may_override_limit and account.max_characters:
        return account.max_characters
    return known.max_length


def post_length(network: Network, text: str) -> int:
    rule = channels.network(network).counting
    counter = _COUNTERS.get(rule)
    if counter is None:
        raise ValueError(f"no implementation of the counting rule {rule!r}")
    return counter(text)


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


#: Counting rule name (as the channel table names it) -> its implementation.
_COUNTERS: dict[str, Callable[[str], int]] = {
    channels.COUNT_TWITTER_WEIGHTED: x_weighted_length,
    channels.COUNT_GRAPHEMES: lambda text: int(grapheme.length(text)),
    channels.COUNT_CODE_POINTS: len,
    channels.COUNT_CODE_POINTS_SHORT_URLS: _length_with_short_urls,
}
