"""Bluesky post length and facets, as the official atproto RichText computes them.

Length is in grapheme clusters (limit 300). Facets index UTF-8 bytes. Links are found
with or without a scheme (a bare "acme.shop" becomes https://acme.shop when its top-level
domain is in the IANA list, iana_tlds.txt); one trailing . , ; : ! ? and an unbalanced ")"
are left out. Tags start after a space or the start of the text, take anything up to a
space, must hold a character that is neither a digit nor punctuation, lose trailing
punctuation, and are 64 graphemes at most. Cashtags ($ and 1-5 letters or digits) become
upper-case tags. Mentions are not produced here: they need the handle resolved to a DID.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import regex

from brandcast.shared.text_counting._graphemes import grapheme_length
from brandcast.shared.text_counting._x_urls import _tlds

BLUESKY_LIMIT = 300
MAX_TAG_GRAPHEMES = 64

# JavaScript's \s, which differs from Python's (no \x1c-\x1f or \x85; \ufeff included).
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ZERO_WIDTH = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_URL = regex.compile(
    f"(^|[{_JS_SPACE}]|\\()((https?://[^{_JS_SPACE}]+)|"
    f"((?P<domain>[a-z][a-z0-9]*(\\.[a-z0-9]+)+)[^{_JS_SPACE}]*))",
    regex.IGNORECASE | regex.MULTILINE | regex.VERSION0,
)
_TAG = regex.compile(
    f"(^|[{_JS_SPACE}])[#＃]((?!\ufe0f)[^{_JS_SPACE}{_ZERO_WIDTH}]*"
    f"[^0-9{_JS_SPACE}\\p{{P}}{_ZERO_WIDTH}]+[^{_JS_SPACE}{_ZERO_WIDTH}]*)?",
    regex.VERSION0,
)
_CASHTAG = regex.compile(
    f"(^|[{_JS_SPACE}]|\\()\\$([A-Za-z][A-Za-z0-9]{{0,4}})(?=[{_JS_SPACE}]|$|[.,;:!?)\"'\u2019])",
    regex.VERSION0,
)
# What JavaScript's String.prototype.trim removes.
_JS_TRIM = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(code) for code in range(0x2000, 0x200B)
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")


class Facet(NamedTuple):
    kind: str  # "link" or "tag"
    byte_start: int
    byte_end: int
    value: str


def bluesky_length(text: str) -> int:
    return grapheme_length(text)


@cache
def _iana_tlds() -> frozenset[str]:
    return frozenset(_tlds("iana_tlds.txt"))


def _valid_domain(domain: str) -> bool:
    # Case-sensitive like the reference: "ACME.SHOP" is not linked.
    return domain.rpartition(".")[2] in _iana_tlds()


def bluesky_facets(text: str) -> list[Facet]:
    """Link and tag facets of `text`, in order of their start."""

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    facets: list[Facet] = []
    for match in _URL.finditer(text):
        uri = match.group(2)
        start = match.start(2)
        end = match.end(2)
        if not uri.startswith("http"):
            domain = match.group("domain")
            if not domain or not _valid_domain(domain):
                continue
            uri = f"https://{uri}"
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        facets.append(Facet("link", byte_offset(start), byte_offset(end), uri))
    for match in _TAG.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip(_JS_TRIM))
        if not tag or grapheme_length(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start() + len(match.group(1))
        facets.append(Facet("tag", byte_offset(start), byte_offset(start + 1 + len(tag)), tag))
    for match in _CASHTAG.finditer(text):
        ticker = match.group(2).upper()
        start = match.start() + len(match.group(1))
        facets.append(
            Facet("tag", byte_offset(start), byte_offset(start + 1 + len(ticker)), "$" + ticker)
        )
    facets.sort(key=lambda facet: facet.byte_start)
    return facets
