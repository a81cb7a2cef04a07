"""Bluesky facets as the contract's ``Facet`` messages.

The renderer attaches them to a variant and the social adapter detects them when a variant
carries none; both need the same conversion, so it lives beside the detection.
"""

from __future__ import annotations

from brandcast.shared.text_counting._bluesky import bluesky_facets
from brandcast.v1 import variant_pb2

_KINDS = {"link": variant_pb2.Facet.KIND_LINK, "tag": variant_pb2.Facet.KIND_TAG}


def bluesky_facet_messages(text: str) -> list[variant_pb2.Facet]:
    """Link and tag facets of ``text`` (UTF-8 byte offsets), in order of appearance."""
    return [
        variant_pb2.Facet(
            kind=_KINDS[facet.kind],
            byte_start=facet.byte_start,
            byte_end=facet.byte_end,
            value=facet.value,
        )
        for facet in bluesky_facets(text)
    ]
