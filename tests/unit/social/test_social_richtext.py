"""Facets found in text carry UTF-8 byte offsets, not string indices."""

from __future__ import annotations

from brandcast.social.richtext import byte_offset, detect_facets, facet_records
from brandcast.v1 import variant_pb2

Facet = variant_pb2.Facet


def test_offsets_count_bytes_of_emoji_and_non_latin_characters() -> None:
    text = "Привет 👋🏽 #распродажа https://acme.example/ru"
    facets = detect_facets(text)
    encoded = text.encode("utf-8")
    # "Привет " is 13 bytes and "👋🏽" (wave + skin tone) 8 bytes.
    assert [(f.kind, f.byte_start, f.byte_end, f.value) for f in facets] == [
        (Facet.KIND_TAG, 22, 43, "распродажа"),
        (Facet.KIND_LINK, 44, 67, "https://acme.example/ru"),
    ]
    assert encoded[22:43].decode() == "#распродажа"
    assert encoded[44:67].decode() == "https://acme.example/ru"


def test_trailing_punctuation_is_not_part_of_a_link_or_tag() -> None:
    facets = detect_facets("See https://acme.example/sale. #Sale!")
    assert [f.value for f in facets] == ["https://acme.example/sale", "Sale"]


def test_numbers_and_url_fragments_are_not_tags() -> None:
    facets = detect_facets("Order #123 at https://acme.example/#top now")
    assert [(f.kind, f.value) for f in facets] == [(Facet.KIND_LINK, "https://acme.example/#top")]


def test_a_link_keeps_a_closing_parenthesis_that_has_its_opening_one() -> None:
    # atproto RichText includes the ")": the old detection left the facet one byte short.
    text = "Our roast: https://en.wikipedia.org/wiki/Coffee_(drink) (and more)"
    [link] = detect_facets(text)
    assert link.value == "https://en.wikipedia.org/wiki/Coffee_(drink)"
    assert text.encode()[link.byte_start : link.byte_end].decode() == link.value
    [bare] = detect_facets("(see https://acme.example/sale)")
    assert bare.value == "https://acme.example/sale"


def test_byte_offset_of_a_string_index() -> None:
    assert byte_offset("日本語", 2) == 6
    assert byte_offset("abc", 3) == 3


def test_records_use_the_atproto_facet_shape() -> None:
    records = facet_records(
        [
            Facet(kind=Facet.KIND_MENTION, byte_start=0, byte_end=5, value="did:plc:abc"),
            Facet(kind=Facet.KIND_TAG, byte_start=6, byte_end=10, value="tag"),
        ]
    )
    assert records == [
        {
            "index": {"byteStart": 0, "byteEnd": 5},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:abc"}],
        },
        {
            "index": {"byteStart": 6, "byteEnd": 10},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "tag"}],
        },
    ]
