"""Bluesky rich text: facets with UTF-8 byte offsets.

The renderer normally sends facets with the variant; when it sends none, links
and hashtags are found here, by the shared ``bluesky_facets`` (the official
atproto ``RichText`` rules: a link keeps a closing parenthesis that has its
opening one, as in ``.../Coffee_(drink)``), so that they are clickable on Bluesky.
Offsets are UTF-8 byte positions, not Python string indices: an emoji is four
bytes, a CJK character three.
"""

from __future__ import annotations

from typing import Any

from brandcast.shared.text_counting import bluesky_facet_messages
from brandcast.v1 import variant_pb2

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


#: Link and hashtag facets of a text, in order of appearance.
detect_facets = bluesky_facet_messages


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
