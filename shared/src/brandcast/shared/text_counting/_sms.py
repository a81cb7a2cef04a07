"""SMS encoding and segments the way Twilio's segment calculator (and carriers) count them.

GSM-7 when every character is in GSM 03.38's basic or extension table (an extension
character is ESC + char: two septets); otherwise UCS-2, counted in UTF-16 code units.
One segment is 140 octets (1,120 bits); a multipart message spends 6 octets of each
segment on the concatenation header, leaving 153 septets or 67 units. A character is
never split across segments, and neither is a grapheme cluster: a ZWJ emoji sequence, a
keycap, a flag or a letter with its combining marks moves to the next segment whole.
Our clusters are the current Unicode ones, never finer than the calculator's, plus a
cluster ending in a ZWJ stays with the next one; so our count is never below Twilio's.
"""

from __future__ import annotations

from dataclasses import dataclass

from brandcast.shared.text_counting._graphemes import graphemes
from brandcast.v1 import variant_pb2

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

SEGMENT_BITS = 1120
HEADER_BITS = 48
GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
# Twilio refuses a message body over 1,600 characters.
MAX_BODY_CHARACTERS = 1600
MAX_SEGMENTS = 10


@dataclass(frozen=True)
class SmsCount:
    encoding: variant_pb2.SmsEncoding.ValueType
    # Septets (GSM-7) or UTF-16 code units (UCS-2).
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    return GSM7_ALL.issuperset(text)


def non_gsm7_characters(text: str) -> list[str]:
    """The characters that make `text` UCS-2, each once, in order of appearance."""
    return list(dict.fromkeys(ch for ch in text if ch not in GSM7_ALL))


def count_sms(text: str) -> SmsCount:
    """Encoding, length in units and number of segments of `text`."""
    if is_gsm7(text):
        doubles = sum(text.count(ch) for ch in GSM7_EXTENSION)
        units = len(text) + doubles
        if units <= GSM7_SINGLE:
            segments = 1
        elif not doubles:
            segments = -(-units // GSM7_MULTI)
        else:
            segments = _pack([2 if ch in GSM7_EXTENSION else 1 for ch in text], 7)
        return SmsCount(variant_pb2.SMS_ENCODING_GSM7, units, segments)
    units = len(text.encode("utf-16-le")) // 2
    if units <= UCS2_SINGLE:
        segments = 1
    else:
        segments = _pack([len(c.encode("utf-16-le")) // 2 for c in _atoms(text)], 16)
    return SmsCount(variant_pb2.SMS_ENCODING_UCS2, units, segments)


def _atoms(text: str) -> list[str]:
    """Grapheme clusters, a cluster that ends in a ZWJ glued to the next one."""
    atoms: list[str] = []
    for cluster in graphemes(text):
        if atoms and atoms[-1].endswith("\u200d"):
            atoms[-1] += cluster
        else:
            atoms.append(cluster)
    return atoms


def _pack(sizes: list[int], bits_per_unit: int) -> int:
    """Segments as the calculator fills them: whole atoms, a header once there are two."""
    total = sum(sizes) * bits_per_unit
    if total <= SEGMENT_BITS:
        return 1
    capacity = SEGMENT_BITS - HEADER_BITS
    segments, used = 1, 0
    for size in sizes:
        bits = size * bits_per_unit
        # An atom that does not fit starts the next segment, as in the calculator (even
        # one larger than a whole segment, which then overflows it).
        if used + bits > capacity:
            segments += 1
            used = 0
        used += bits
    return segments
