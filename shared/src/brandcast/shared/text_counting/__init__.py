"""Text measured the way the networks and carriers measure it, checked against their own code.

- `x_weighted_length`: X's weighted length (twitter-text 3): URLs found as X finds them
  (with or without a scheme, X's TLD list) weigh 23, emoji sequences 2, CJK 2, Latin 1.
  `XLengthCounter` gives the same length, faster for many cuts of one long text.
- `count_sms`: GSM-7 or UCS-2, units and segments as Twilio's segment calculator counts
  them (a grapheme cluster is never split across segments).
- `grapheme_length` / `graphemes`: current Unicode grapheme clusters (Bluesky's length,
  Mastodon's, and the only safe places to cut text).
- `bluesky_facets`: link and tag facets (UTF-8 byte offsets) as atproto RichText detects them.

tests/unit/shared/test_text_counting_references.py compares them with twitter-text,
sms-segments-calculator and @atproto/api on generated texts: ours may count higher than
the reference, never lower.
"""

from brandcast.shared.text_counting._bluesky import (
    BLUESKY_LIMIT,
    Facet,
    bluesky_facets,
    bluesky_length,
)
from brandcast.shared.text_counting._facet_messages import bluesky_facet_messages
from brandcast.shared.text_counting._graphemes import (
    grapheme_boundaries,
    grapheme_length,
    graphemes,
)
from brandcast.shared.text_counting._sms import (
    GSM7_ALL,
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_BODY_CHARACTERS,
    MAX_SEGMENTS,
    SmsCount,
    count_sms,
    is_gsm7,
    non_gsm7_characters,
)
from brandcast.shared.text_counting._x import (
    X_LIMIT,
    X_URL_LENGTH,
    XLengthCounter,
    x_weighted_length,
)
from brandcast.shared.text_counting._x_urls import FoundUrl, x_urls

__all__ = [
    "BLUESKY_LIMIT",
    "GSM7_ALL",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "MAX_BODY_CHARACTERS",
    "MAX_SEGMENTS",
    "X_LIMIT",
    "X_URL_LENGTH",
    "Facet",
    "FoundUrl",
    "SmsCount",
    "XLengthCounter",
    "bluesky_facet_messages",
    "bluesky_facets",
    "bluesky_length",
    "count_sms",
    "grapheme_boundaries",
    "grapheme_length",
    "graphemes",
    "is_gsm7",
    "non_gsm7_characters",
    "x_urls",
    "x_weighted_length",
]
