"""Post length as each network counts it, and Bluesky facets.

Which rule a network uses and its limit are named in the shared channel table
(``brandcast.shared.channels``); the rules are implemented in
``brandcast.shared.text_counting`` (checked against twitter-text and atproto RichText):

- X: twitter-text 3 weighted length (URLs with or without a scheme weigh 23, emoji
  sequences X knows weigh 2, CJK 2, Latin 1); limit 280.
- Mastodon: characters (code points, never fewer than Mastodon's grapheme clusters),
  every http(s) URL counts 23; limit 500 unless the instance says otherwise.
- Bluesky: grapheme clusters, URLs in full (the facet carries the link); limit 300.
- LinkedIn: characters; limit 3,000.
When unsure we count high: a post measured too long is shortened, one measured too short
is rejected by the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from brandcast.orchestrator.rendering._links import URL_IN_TEXT
from brandcast.shared import channels, text_counting
from brandcast.v1 import campaign_pb2

Network: TypeAlias = campaign_pb2.SocialNetwork.ValueType

URL_LENGTH = 23


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


def post_length_of_cuts(network: Network) -> Callable[[str], int]:
    """`post_length` for the many cuts of one text tried while shortening it: X's rule
    remembers the runs it has measured (see ``XLengthCounter``), the others need nothing."""
    rule = channels.network(network).counting
    if rule == channels.COUNT_TWITTER_WEIGHTED:
        return text_counting.XLengthCounter()
    return lambda text: post_length(network, text)


def _length_with_short_urls(text: str) -> int:
    urls = URL_IN_TEXT.findall(text)
    return len(text) - sum(len(url) for url in urls) + URL_LENGTH * len(urls)


#: Counting rule name (as the channel table names it) -> its implementation.
_COUNTERS: dict[str, Callable[[str], int]] = {
    channels.COUNT_TWITTER_WEIGHTED: text_counting.x_weighted_length,
    channels.COUNT_GRAPHEMES: text_counting.grapheme_length,
    channels.COUNT_CODE_POINTS: len,
    channels.COUNT_CODE_POINTS_SHORT_URLS: _length_with_short_urls,
}
