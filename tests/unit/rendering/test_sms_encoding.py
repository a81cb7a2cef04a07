"""GSM-7 / UCS-2 detection and segment counting as carriers do it."""

import pytest

from brandcast.orchestrator.rendering._sms_encoding import replace_lookalikes
from brandcast.shared.text_counting import count_sms, is_gsm7
from brandcast.v1 import variant_pb2

GSM7 = variant_pb2.SMS_ENCODING_GSM7
UCS2 = variant_pb2.SMS_ENCODING_UCS2


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_segment_boundaries(length: int, segments: int) -> None:
    count = count_sms("a" * length)
    assert (count.encoding, count.units, count.segments) == (GSM7, length, segments)


def test_extension_characters_cost_two_septets() -> None:
    count = count_sms("€" * 80)
    assert (count.encoding, count.units, count.segments) == (GSM7, 160, 1)
    assert count_sms("€" * 80 + "a").segments == 2
    for ch in "[]{}~\\^|\f":
        assert count_sms(ch).units == 2


def test_escape_pair_is_not_split_across_segments() -> None:
    # 152 septets then an escape pair: the pair does not fit in segment one (153), so it
    # moves whole to segment two; 152 + 2 + 152 = 306 septets still takes three segments.
    text = "a" * 152 + "€" + "a" * 152
    count = count_sms(text)
    assert count.units == 306
    assert count.segments == 3
    assert count_sms("a" * 151 + "€" + "a" * 153).segments == 2


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_segment_boundaries(length: int, segments: int) -> None:
    count = count_sms("ж" * length)
    assert (count.encoding, count.segments) == (UCS2, segments)


def test_one_emoji_makes_a_long_text_ucs2_and_costs_two_units() -> None:
    text = "a" * 150 + "😀"
    count = count_sms(text)
    assert count.encoding == UCS2
    assert count.units == 152
    assert count.segments == 3  # 67 + 67 + 18


def test_surrogate_pair_is_not_split_across_segments() -> None:
    # 66 units then an emoji (2 units): segment one holds 66, the pair starts segment two.
    assert count_sms("a" * 66 + "😀" + "a" * 66).segments == 3
    assert count_sms("a" * 65 + "😀" + "a" * 67).segments == 2


def test_gsm7_greek_capitals_are_gsm7_but_lookalike_greek_is_not() -> None:
    assert is_gsm7("ΔΦΓΛΩΠΨΣΘΞ")
    assert count_sms("ΔΦΓΛΩΠΨΣΘΞ").units == 10
    assert not is_gsm7("ΑΒΓ")  # Greek capital alpha and beta look Latin but are not GSM-7
    assert replace_lookalikes("ΑΒΓ") == "ABΓ"


def test_lookalikes_become_gsm7() -> None:
    text = "“Smart” quotes – dashes — and\u00a0spaces… it’s"
    replaced = replace_lookalikes(text)
    assert replaced == '"Smart" quotes - dashes - and spaces... it\'s'
    assert is_gsm7(replaced)
    assert not is_gsm7(text)


def test_accented_latin_outside_the_table_is_ucs2() -> None:
    assert is_gsm7("éèùìòÇÄÖÑÜäöñüàß")
    assert not is_gsm7("ç")  # only the capital Ç is in the basic table
    assert not is_gsm7("á")
