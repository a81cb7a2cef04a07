"""X's weighted length (twitter-text 3): what X checks against its limit of 280.

The text is NFC-normalised. Every URL X finds (see _x_urls) weighs 23; an emoji sequence
X recognises weighs 2; any other code point weighs 1 in X's light ranges (Latin, Greek,
Cyrillic, Hebrew, Arabic, ..., and some punctuation) and 2 elsewhere (CJK, emoji, astral).
X recognises the emoji of its Twemoji parser, which stops at Emoji 11.0: a newer sequence,
a ZWJ chain that is not a standard sequence, or an emoji followed by a combining mark
counts code point by code point. We group only fully-qualified sequences of Emoji 11.0 or
older, a subset of what X groups, so that our count is never below X's.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import emoji
import regex

from brandcast.shared.text_counting._x_urls import SPACES, x_urls

X_LIMIT = 280
X_URL_LENGTH = 23
_SCALE = 100
_HEAVY = 200
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_TWEMOJI_EMOJI_VERSION = 11.0
_FULLY_QUALIFIED = emoji.STATUS["fully_qualified"]
# Emoji 11.0 or older, yet not in X's list (found by the reference test).
_NOT_GROUPED_BY_X = frozenset({"\U0001f441\ufe0f\u200d\U0001f5e8\ufe0f", "\u267e\ufe0f"})


@cache
def _emoji_sequences() -> regex.Pattern[str]:
    sequences = [
        seq
        for seq, data in emoji.EMOJI_DATA.items()
        if len(seq) > 1
        and data["status"] == _FULLY_QUALIFIED
        and data["E"] <= _TWEMOJI_EMOJI_VERSION
        and seq not in _NOT_GROUPED_BY_X
    ]
    sequences.sort(key=len, reverse=True)
    return regex.compile("|".join(regex.escape(seq) for seq in sequences))


# Counted in C rather than code point by code point in Python: a long run costs little.
_HEAVY_CHARACTER = regex.compile(
    "[^" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in _LIGHT_RANGES) + "]"
)


def _plain_weight(text: str) -> int:
    if text.isascii():
        return len(text) * _SCALE
    weight = 0
    position = 0
    for match in _emoji_sequences().finditer(text):
        weight += _code_point_weight(text[position : match.start()]) + _HEAVY
        position = match.end()
    return weight + _code_point_weight(text[position:])


def _code_point_weight(text: str) -> int:
    heavy = len(_HEAVY_CHARACTER.findall(text))
    return (len(text) - heavy) * _SCALE + heavy * _HEAVY


def x_weighted_length(text: str) -> int:
    """The length X counts for `text` (its limit is X_LIMIT)."""
    return _weight(unicodedata.normalize("NFC", text)) // _SCALE


def _weight(text: str) -> int:
    """The scaled weight of NFC `text`."""
    weight = 0
    position = 0
    for url in x_urls(text):
        weight += _plain_weight(text[position : url.start]) + X_URL_LENGTH * _SCALE
        position = url.end
    return weight + _plain_weight(text[position:])


# The weight is a sum over the runs of non-space characters, each with the spaces before
# it: no URL X finds spans a space (x_urls searches each run alone, reading only the
# character before it, a space or the start), no emoji sequence holds one, and NFC
# composes nothing with a space. XLengthCounter relies on this.
_SPACES_THEN_RUN = regex.compile(f"[{SPACES}]*[^{SPACES}]*")


class XLengthCounter:
    """`x_weighted_length` for many texts that share most of their words, such as the cuts
    tried while shortening one post: each distinct run of non-space characters is measured
    once, so a probe of a long text costs a split and look-ups instead of a URL search
    (for "a.com, " * 8000, ~16 ms instead of ~100 ms). Keep one for one text's cuts only:
    it remembers every run it has measured."""

    def __init__(self) -> None:
        self._weights: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        weights = self._weights
        total = 0
        for part in _SPACES_THEN_RUN.findall(unicodedata.normalize("NFC", text)):
            weight = weights.get(part)
            if weight is None:
                weight = weights[part] = _weight(part)
            total += weight
        return total // _SCALE
