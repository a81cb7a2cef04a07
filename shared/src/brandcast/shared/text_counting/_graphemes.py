"""Grapheme clusters by the current Unicode rules (the `regex` module's \\X).

The `grapheme` library stopped at Unicode 13: it splits Devanagari conjuncts (Unicode 15.1,
rule GB9c) and so counts Bluesky posts too high and lets a cut fall inside a cluster.
"""

from __future__ import annotations

import regex

_CLUSTER = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    return _CLUSTER.findall(text)


def grapheme_length(text: str) -> int:
    if text.isascii() and "\r\n" not in text:
        return len(text)  # every ASCII character but CR LF is a cluster of its own
    return len(_CLUSTER.findall(text))


def grapheme_boundaries(text: str) -> list[int]:
    """Every offset (in code points) where a cluster ends, the end of `text` included."""
    return [match.end() for match in _CLUSTER.finditer(text)]
