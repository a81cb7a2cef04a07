"""Bluesky rich text: facets with UTF-8 byte offsets.

The renderer normally sends facets with the variant; when it sends none, links
and hashtags are found here so that they are still clickable on Bluesky.
Offsets are UTF-8 byte positions, not Python string indices: an emoji is four
bytes, a CJK character three.
"""

from __future__ import annotations

import re
from typing import Any

from brandcast.v1 import variant_pb2

_LINK = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’]")
# A tag follows whitespace or the start, and is not only digits (as on Bluesky).
_TAG = re.compile(r"(?:^|(?<=\s))[#＃](\w*[^\W\d]\w*)")

FEATURE_TYPES = {
    variant_pb2.Facet.KIND_LINK: "app.bsky.richtext.facet#link",
    variant_pb2.Facet.KIND_TAG: "app.bsky.richtext.facet#tag",
    variant_pb2.Facet.KIND_MENTION: "app.bsky.richtext.facet#mention",
}
_FEATURE_VALUE = {
    variant_pb2.Facet.KIND_LINK: "uri",
    variant_pb2.Facet.KIND_TAG: "tag",
    variant_pb2.Facet.KIND_MENTION: "did",
}


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte position of string index ``index``."""
    return len(text[:index].encode("utf-8"))


def detect_facets(text: str) -> list[variant_pb2.Facet]:
    """Link and hashtag facets of ``text``, in order of appearance."""
    facets: list[tuple[int, variant_pb2.Facet]] = []
    for match in _LINK.finditer(text):
        facets.append(
            (
                match.start(),
                variant_pb2.Facet(
                    kind=variant_pb2.Facet.KIND_LINK,
                    byte_start=byte_offset(text, match.start()),
                    byte_end=byte_offset(text, match.end()),
                    value=match.group(0),
                ),
            )
        )
    links = [(f.byte_start, f.byte_end) for _, f in facets]
    for match in _TAG.finditer(text):
        start, end = byte_offset(text, match.start()), byte_offset(text, match.end())
        if any(s <= start < e for s, e in links):  # a '#fragment' inside a URL
            continue
        facets.append(
            (
                match.start(),
                variant_pb2.Facet(
                    kind=variant_pb2.Facet.KIND_TAG,
                    byte_start=start,
                    byte_end=end,
                    value=match.group(1),
                ),
            )
        )
    return [facet for _, facet in sorted(facets, key=lambda pair: pair[0])]


def facet_records(facets: list[variant_pb2.Facet]) -> list[dict[str, Any]]:
    """``app.bsky.richtext.facet`` objects for a post record."""
    records: list[dict[str, Any]] = []
    for facet in facets:
        if facet.kind not in FEATURE_TYPES:
            raise ValueError(f"facet kind {facet.kind} is not a link, tag or mention")
        records.append(
            {
                "index": {"byteStart": facet.byte_start, "byteEnd": facet.byte_end},
                "features": [
                    {"$type": FEATURE_TYPES[facet.kind], _FEATURE_VALUE[facet.kind]: facet.value}
                ],
            }
        )
    return records
